CREATE TABLE `encrypted_keys` (
	`key_id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`ciphertext` text NOT NULL,
	`dek_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `encrypted_keys_workspace_idx` ON `encrypted_keys` (`workspace_id`);--> statement-breakpoint
CREATE TABLE `vault_deks` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`wrapped` text NOT NULL,
	`kek_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `vault_deks_workspace_uq` ON `vault_deks` (`workspace_id`);--> statement-breakpoint
CREATE INDEX `vault_deks_kek_idx` ON `vault_deks` (`kek_id`);--> statement-breakpoint
ALTER TABLE `apis` ADD `ip_whitelist` text;--> statement-breakpoint
ALTER TABLE `apis` ADD `delete_protection` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `apis` ADD `leaked_key_action` text DEFAULT 'revoke' NOT NULL;