-- When ClickHouse received each event: the sessionizer recomputes the sessions of the
-- visitors whose events arrived since its last run.
ALTER TABLE events ADD COLUMN inserted_at DateTime DEFAULT now();

-- Sessions (visits): a visitor's events on one day, split after 30 minutes without an
-- event (configurable). They are derived from the raw events, which are exactly once,
-- and rewritten whenever a visitor's events change: a ReplacingMergeTree keeps the
-- newest version of each session, and sessions that a late event merged away are
-- rewritten with deleted = 1. Read with FINAL and deleted = 0.
-- The parallel arrays give, per theme the session touched, the first touch and the first
-- contact at or after it (0 when none): the early-contact figures.
CREATE TABLE IF NOT EXISTS sessions
(
    site String,
    day Date,
    visitor String,
    session_id String,
    start_ts DateTime,
    end_ts DateTime,
    duration_s UInt32,
    entry_path String,
    entry_theme String,
    channel String,
    device String,
    pageviews UInt32,
    searches UInt32,
    contacts UInt32,
    first_contact_ts UInt32,
    themes Array(String),
    theme_first_ts Array(UInt32),
    theme_contact_ts Array(UInt32),
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, visitor, session_id);
