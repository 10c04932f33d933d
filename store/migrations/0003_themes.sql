-- Themes: every event carries the themes the processor attributed to it, each with all
-- its ancestors (`schulden/beslag` brings `schulden`), so counting per theme at any
-- level never counts an event twice.
ALTER TABLE events ADD COLUMN themes Array(String) DEFAULT emptyArrayString();

-- Events and distinct visitors per site, day, theme and event type.
CREATE TABLE IF NOT EXISTS theme_daily
(
    site String,
    day Date,
    theme String,
    type String,
    events UInt64,
    visitors AggregateFunction(uniq, String)
)
ENGINE = SummingMergeTree((events))
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, theme, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS theme_daily_mv TO theme_daily AS
SELECT site, day, theme, type, count() AS events, uniqState(visitor) AS visitors
FROM events
ARRAY JOIN themes AS theme
GROUP BY site, day, theme, type;
