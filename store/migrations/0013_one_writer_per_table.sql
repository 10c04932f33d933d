-- Exactly once when ClickHouse dies during an insert. Until now the processor's INSERT
-- INTO events also fed three materialized views (kafka_offsets, site_daily,
-- theme_daily), each committed as a part of its own after the events' part: a server
-- killed between two of them left the offset watermark behind (the batch was written
-- again on the retry) or an aggregate short. From here on the processor writes only
-- events. kafka_offsets holds, per partition, an offset that no stored message is
-- above; the processor raises it before it inserts past it and looks up the exact
-- positions below it after an interrupted write. The event counts are rewritten from
-- the raw events by the sessionizer, like the other daily aggregates, into
-- event_counts_daily (store/src/aggregates/event_counts.rs), which this migration
-- also fills (a backfill in code, run after these statements: the days whose raw
-- events retention dropped from site_daily and theme_daily, every other day from the
-- raw events, all as one version, so that a rerun after a crash writes a whole newer
-- one). Stop every processor of an older build before starting this one: an
-- older one writes events without raising the bound.
DROP TABLE IF EXISTS kafka_offsets_mv;

-- The highest offsets of the events stored before this migration: the view may have
-- missed some (ReplacingMergeTree(max_offset) keeps the larger of two).
INSERT INTO kafka_offsets (topic, partition, max_offset)
SELECT kafka_topic, kafka_partition, max(kafka_offset) FROM events
GROUP BY kafka_topic, kafka_partition;

DROP TABLE IF EXISTS site_daily_mv;

DROP TABLE IF EXISTS theme_daily_mv;

-- Events per site, theme ('*' = every event of the site once, '' = no theme matched,
-- else each theme with its ancestors), day and type; each (site, day) rewritten whole
-- with a newer version, readers take the newest version of each day.
CREATE TABLE IF NOT EXISTS event_counts_daily
(
    site String,
    theme String,
    day Date,
    type String,
    events UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, theme, day, type);
