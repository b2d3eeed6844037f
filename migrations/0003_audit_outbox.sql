CREATE TABLE `audit_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`json` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_outbox_workspace_idx` ON `audit_outbox` (`workspace_id`);