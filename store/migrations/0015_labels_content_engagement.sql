-- Issue 26: an action keeps the name its tracker sent (scrubbed, in its own case)
-- beside the action the site's rules made of it; Matomo content tracking and
-- Plausible's engagement events are kinds of their own (type 'content' and
-- 'engagement'), never page views or actions. One ALTER: the runner takes "column
-- already exists" as applied (18.16 cannot skip existing columns itself).
ALTER TABLE events
    ADD COLUMN action_label String DEFAULT '',
    ADD COLUMN content_name String DEFAULT '',
    ADD COLUMN content_piece String DEFAULT '',
    ADD COLUMN content_target String DEFAULT '',
    ADD COLUMN content_interaction String DEFAULT '',
    ADD COLUMN engaged_ms UInt32 DEFAULT 0,
    ADD COLUMN scroll_depth Int16 DEFAULT -1;
