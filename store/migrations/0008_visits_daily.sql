-- Visits per site, day, theme, channel and device, so that the weekly review does not
-- read every session of its period: a quarter of a large municipality is millions of
-- sessions, a quarter of this table a few thousand rows. The sessionizer rewrites the
-- whole (site, day) after each run that touched it, with a newer version; read only the
-- newest version of each (site, day), so rows of cells that no longer exist (a late
-- event merged two visits) are left out:
--   (day, version) IN (SELECT day, max(version) FROM visits_daily WHERE site = … GROUP BY day)
-- theme '' holds every visit; other rows one per theme (and ancestor) the visits touched.
-- contacts: visits with a contact (per theme: at or after its first touch);
-- time_to_contact: seconds from the first touch (theme '': from the start) to it.
CREATE TABLE IF NOT EXISTS visits_daily
(
    site String,
    day Date,
    theme String,
    channel String,
    device String,
    visits UInt64,
    contacts UInt64,
    zero_results UInt64,
    visitors AggregateFunction(uniq, String),
    time_to_contact AggregateFunction(quantilesExactIf(0.5, 0.9), Int64, UInt8),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, theme, channel, device);

-- The sessions written before this migration (version 0: any run of the sessionizer
-- replaces them).
INSERT INTO visits_daily
SELECT site, day, '' AS theme, channel, device, count() AS visits, countIf(contacts > 0) AS contacts,
       sum(arrayCount(r -> r = 0, search_results)) AS zero_results, uniqState(visitor) AS visitors,
       quantilesExactIfState(0.5, 0.9)(toInt64(first_contact_ts) - toInt64(toUInt32(start_ts)), first_contact_ts > 0) AS time_to_contact,
       toUInt64(0) AS version
FROM (SELECT * FROM sessions FINAL) WHERE deleted = 0
GROUP BY site, day, channel, device;

INSERT INTO visits_daily
SELECT site, day, theme, channel, device, count() AS visits, countIf(contact_ts > 0) AS contacts,
       toUInt64(0) AS zero_results, uniqState(visitor) AS visitors,
       quantilesExactIfState(0.5, 0.9)(toInt64(contact_ts) - toInt64(first_ts), contact_ts > 0) AS time_to_contact,
       toUInt64(0) AS version
FROM (SELECT * FROM sessions FINAL)
ARRAY JOIN themes AS theme, theme_first_ts AS first_ts, theme_contact_ts AS contact_ts
WHERE deleted = 0
GROUP BY site, day, theme, channel, device;
