-- The millisecond of each event within its second. The collector spreads events over
-- the partitions (sticky partitioning), so a visitor's page view and the click or
-- search that followed it in the same second may sit in different partitions: the
-- sessionizer orders a visitor's events by (ts, ts_milli) and only then by their Kafka
-- position. Events stored before this migration have 0 and keep the old order.
ALTER TABLE events ADD COLUMN ts_milli UInt16 DEFAULT 0;
