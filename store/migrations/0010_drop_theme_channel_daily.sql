-- theme_channel_daily (migration 0004) counted events and distinct visitors per site,
-- day, theme, channel and device in a materialized view on every insert. Nothing reads
-- it any more: visits_daily (migration 0008) holds the channel and device mix per theme
-- as visits and visitors, and the raw events keep each event's channel and device. Its
-- view cost about a fifth of ClickHouse's time per insert of events (benchmark 3), so
-- the view and its table are dropped rather than left to go stale.
DROP TABLE IF EXISTS theme_channel_daily_mv;

DROP TABLE IF EXISTS theme_channel_daily;
