CREATE TABLE `ratelimit_namespaces` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ratelimit_namespaces_workspace_name_uq` ON `ratelimit_namespaces` (`workspace_id`,`name`);--> statement-breakpoint
CREATE TABLE `ratelimit_overrides` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`namespace_id` text NOT NULL,
	`identifier` text NOT NULL,
	`limit` integer NOT NULL,
	`duration` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ratelimit_overrides_namespace_identifier_uq` ON `ratelimit_overrides` (`namespace_id`,`identifier`);