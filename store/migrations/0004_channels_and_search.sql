-- The channel of each event (search, social, email, campaign, partner, internal,
-- referral, direct) and the normalised search term (lowercase, no diacritics, single
-- spaces) of site searches.
ALTER TABLE events
    ADD COLUMN channel String DEFAULT 'direct',
    ADD COLUMN search_term String DEFAULT '';

-- Events and distinct visitors per site, day, theme, channel and device.
CREATE TABLE IF NOT EXISTS theme_channel_daily
(
    site String,
    day Date,
    theme String,
    channel String,
    device String,
    events UInt64,
    visitors AggregateFunction(uniq, String)
)
ENGINE = SummingMergeTree((events))
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, theme, channel, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS theme_channel_daily_mv TO theme_channel_daily AS
SELECT site, day, theme, channel, device, count() AS events, uniqState(visitor) AS visitors
FROM events
ARRAY JOIN themes AS theme
GROUP BY site, day, theme, channel, device;

-- Site searches per site, day, normalised term and theme; theme '' holds the terms no
-- theme matched (for taxonomy upkeep). Zero-result searches are counted apart.
CREATE TABLE IF NOT EXISTS search_terms_daily
(
    site String,
    day Date,
    term String,
    theme String,
    searches UInt64,
    zero_results UInt64,
    visitors AggregateFunction(uniq, String)
)
ENGINE = SummingMergeTree((searches, zero_results))
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, theme, term);

CREATE MATERIALIZED VIEW IF NOT EXISTS search_terms_daily_mv TO search_terms_daily AS
SELECT site, day, search_term AS term, theme, count() AS searches,
       sum(search_results = 0) AS zero_results, uniqState(visitor) AS visitors
FROM events
ARRAY JOIN if(empty(themes), [''], themes) AS theme
WHERE type = 'search'
GROUP BY site, day, search_term, theme;
