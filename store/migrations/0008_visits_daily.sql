-- Visits per site, day and theme, by channel, by device and in total, so that the
-- weekly review does not read every session of its period: a quarter of a large
-- municipality is millions of sessions, a quarter of this table a few thousand rows.
-- Each (site, day, theme) has a row per channel (device = '*'), per device
-- (channel = '*') and the total (channel = device = '*'); theme '' holds every visit,
-- the other rows one per theme (and ancestor) the visits touched.
-- visitors is that day's count of distinct visitor keys: keys rotate daily, so the
-- distinct visitors of a period are the sum of its days' (docs/privacy.md), and no
-- query has to merge visitor sets.
-- contacts: visits with a contact (per theme: at or after its first touch);
-- time_to_contact: seconds from the first touch (theme '': from the start) to it.
-- The sessionizer rewrites the whole (site, day) after each run that touched it, with
-- a newer version; read only the newest version of each (site, day), so rows of cells
-- that no longer exist (a late event merged two visits) are left out:
--   (day, version) IN (SELECT day, max(version) FROM visits_daily WHERE site = … GROUP BY day)
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
    visitors UInt64,
    time_to_contact AggregateFunction(quantilesExactIf(0.5, 0.9), Int64, UInt8),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, theme, channel, device);

-- The sessions written before this migration (version 0: any run of the sessionizer
-- replaces them). The sessionizer runs the same statement for the days it touched.
INSERT INTO visits_daily
SELECT site, day, theme, cell.1 AS channel, cell.2 AS device, count() AS visits, countIf(contact_ts > 0) AS contacts,
       sum(zero) AS zero_results, uniq(visitor) AS visitors,
       quantilesExactIfState(0.5, 0.9)(toInt64(contact_ts) - toInt64(first_ts), contact_ts > 0) AS time_to_contact,
       toUInt64(0) AS version
FROM
(
    SELECT site, day, visitor, ch, dev, theme, first_ts, contact_ts, zero
    FROM
    (
        SELECT site, day, visitor, channel AS ch, device AS dev,
               arrayConcat([''], themes) AS all_themes,
               arrayConcat([toUInt32(start_ts)], theme_first_ts) AS all_first,
               arrayConcat([first_contact_ts], theme_contact_ts) AS all_contact,
               arrayConcat([toUInt64(arrayCount(r -> r = 0, search_results))], arrayMap(t -> toUInt64(0), themes)) AS all_zero
        FROM (SELECT * FROM sessions FINAL) WHERE deleted = 0
    )
    ARRAY JOIN all_themes AS theme, all_first AS first_ts, all_contact AS contact_ts, all_zero AS zero
)
ARRAY JOIN [(ch, '*'), ('*', dev), ('*', '*')] AS cell
GROUP BY site, day, theme, channel, device;
