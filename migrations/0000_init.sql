CREATE TABLE `apis` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`keyspace_id` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `apis_keyspace_id_uq` ON `apis` (`keyspace_id`);--> statement-breakpoint
CREATE INDEX `apis_workspace_id_idx` ON `apis` (`workspace_id`);--> statement-breakpoint
CREATE TABLE `identities` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`external_id` text NOT NULL,
	`meta` text,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `identities_workspace_external_id_uq` ON `identities` (`workspace_id`,`external_id`);--> statement-breakpoint
CREATE TABLE `keys` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`keyspace_id` text NOT NULL,
	`for_workspace_id` text,
	`hash` text NOT NULL,
	`start` text NOT NULL,
	`byte_length` integer,
	`name` text,
	`meta` text,
	`identity_id` text,
	`expires` integer,
	`enabled` integer DEFAULT true NOT NULL,
	`credits_remaining` integer,
	`refill_amount` integer,
	`refill_day` integer,
	`last_refill_at` integer,
	`revision` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer,
	`deleted_at` integer,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `keys_hash_uq` ON `keys` (`hash`);--> statement-breakpoint
CREATE INDEX `keys_keyspace_id_idx` ON `keys` (`keyspace_id`,`id`);--> statement-breakpoint
CREATE INDEX `keys_identity_id_idx` ON `keys` (`identity_id`);--> statement-breakpoint
CREATE INDEX `keys_workspace_id_idx` ON `keys` (`workspace_id`);--> statement-breakpoint
CREATE TABLE `keys_permissions` (
	`key_id` text NOT NULL,
	`permission_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`key_id`, `permission_id`)
);
--> statement-breakpoint
CREATE INDEX `keys_permissions_permission_idx` ON `keys_permissions` (`permission_id`);--> statement-breakpoint
CREATE TABLE `keys_roles` (
	`key_id` text NOT NULL,
	`role_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`key_id`, `role_id`)
);
--> statement-breakpoint
CREATE INDEX `keys_roles_role_idx` ON `keys_roles` (`role_id`);--> statement-breakpoint
CREATE TABLE `keyspaces` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`default_prefix` text,
	`default_bytes` integer,
	`store_encrypted_keys` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `permissions` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`description` text,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `permissions_workspace_slug_uq` ON `permissions` (`workspace_id`,`slug`);--> statement-breakpoint
CREATE TABLE `ratelimits` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`key_id` text,
	`identity_id` text,
	`name` text NOT NULL,
	`limit` integer NOT NULL,
	`duration` integer NOT NULL,
	`auto_apply` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ratelimits_key_name_uq` ON `ratelimits` (`key_id`,`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `ratelimits_identity_name_uq` ON `ratelimits` (`identity_id`,`name`);--> statement-breakpoint
CREATE TABLE `roles` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `roles_workspace_name_uq` ON `roles` (`workspace_id`,`name`);--> statement-breakpoint
CREATE TABLE `roles_permissions` (
	`role_id` text NOT NULL,
	`permission_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`role_id`, `permission_id`)
);
--> statement-breakpoint
CREATE INDEX `roles_permissions_permission_idx` ON `roles_permissions` (`permission_id`);--> statement-breakpoint
CREATE TABLE `workspaces` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
