-- Two small aggregates for the weekly review's heaviest reads, both rewritten by the
-- sessionizer with a version after each run, like visits_daily (read only the newest
-- version of each (site, day)).

-- The total rows (channel = device = '*') of visits_daily, ordered by theme: early
-- contact and a theme's trend read one theme's days here instead of every channel and
-- device row of the period (whose time-to-contact states are the bulk of the bytes).
-- The sessionizer copies the rows of each version it writes to visits_daily.
CREATE TABLE IF NOT EXISTS visit_totals_daily
(
    site String,
    theme String,
    day Date,
    visits UInt64,
    contacts UInt64,
    zero_results UInt64,
    visitors UInt64,
    time_to_contact AggregateFunction(quantilesExactIf(0.5, 0.9), Int64, UInt8),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, theme, day)
SETTINGS index_granularity = 256;

-- The newest version of each (site, day) of visits_daily written before this
-- migration (as version 0: any run of the sessionizer replaces it; no alias, which
-- would hide the column version from the WHERE clause). The NOT IN makes a second
-- run, after a crash before this migration was recorded, add nothing.
INSERT INTO visit_totals_daily
SELECT site, theme, day, visits, contacts, zero_results, visitors, time_to_contact, toUInt64(0)
FROM visits_daily
WHERE channel = '*' AND device = '*'
  AND (site, day, version) IN (SELECT site, day, max(version) FROM visits_daily GROUP BY site, day)
  AND (site, day) NOT IN (SELECT site, day FROM visit_totals_daily);

-- Contacts and self-service completions per site, theme ('' = all), day and the
-- channel that handles them, for the channel shift (savings): telephone, counter,
-- letter, or web (every other contact:* kind and every selfservice:* action).
-- visitors is that day's count of distinct visitor keys (keys rotate daily, so a
-- period's distinct visitors are the sum of its days').
CREATE TABLE IF NOT EXISTS contact_channels_daily
(
    site String,
    theme String,
    day Date,
    channel String,
    contacts UInt64,
    visitors UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, theme, day, channel)
SETTINGS index_granularity = 1024;

-- The events stored before this migration (version 0). The sessionizer runs the same
-- statement for the (site, day)s that got events, as a new version.
INSERT INTO contact_channels_daily
SELECT site, theme, day,
       multiIf(action_name IN ('contact:phone', 'contact:call', 'contact:telephone', 'contact:callback'), 'telephone',
               action_name IN ('contact:appointment', 'contact:counter', 'contact:visit', 'contact:balie'), 'counter',
               action_name IN ('contact:letter', 'contact:post'), 'letter',
               'web') AS channel,
       count() AS contacts, uniq(visitor) AS visitors, toUInt64(0) AS version
FROM events
ARRAY JOIN arrayConcat([''], themes) AS theme
WHERE type = 'action' AND (startsWith(action_name, 'contact:') OR startsWith(action_name, 'selfservice:'))
  AND (site, day) NOT IN (SELECT site, day FROM contact_channels_daily)
GROUP BY site, theme, day, channel;
