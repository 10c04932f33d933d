-- Raw events as the processor writes them: one row per Kafka message, with the topic,
-- partition and offset it came from. Those columns make a replay after a crash
-- detectable (see kafka_offsets below). Partitioned by month so retention can drop
-- whole partitions (ClickHouse 18.16 has no TTL).
CREATE TABLE IF NOT EXISTS events
(
    site String,
    day Date,
    ts DateTime,
    type String,
    visitor String,
    url String,
    path String,
    kafka_topic String,
    kafka_partition UInt32,
    kafka_offset UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, type, kafka_partition, kafka_offset);

-- The highest offset per topic and partition that ClickHouse holds. It is filled by a
-- materialized view inside the same INSERT as the events, so it can never run ahead of
-- or behind the data. The processor reads it when a partition is assigned and skips
-- messages at or below it: a replay after a crash counts nothing twice.
CREATE TABLE IF NOT EXISTS kafka_offsets
(
    topic String,
    partition UInt32,
    max_offset UInt64
)
ENGINE = ReplacingMergeTree(max_offset)
ORDER BY (topic, partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_offsets_mv TO kafka_offsets AS
SELECT kafka_topic AS topic, kafka_partition AS partition, max(kafka_offset) AS max_offset
FROM events
GROUP BY kafka_topic, kafka_partition;

-- Events per site, day and type: the table the reach answer reads.
CREATE TABLE IF NOT EXISTS site_daily
(
    site String,
    day Date,
    type String,
    events UInt64
)
ENGINE = SummingMergeTree((events))
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS site_daily_mv TO site_daily AS
SELECT site, day, type, count() AS events
FROM events
GROUP BY site, day, type;
