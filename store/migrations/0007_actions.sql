-- The actions register of the analyse → act → measure cycle: what a municipality did
-- (a campaign, a new page, a letter) for which themes, through which channels, when.
-- Rows are versioned: an edit writes a new version, a delete a version with
-- deleted = 1; ReplacingMergeTree keeps the newest. Read with FINAL and deleted = 0.
CREATE TABLE IF NOT EXISTS actions
(
    id String,
    site String,
    themes Array(String),
    channels Array(String),
    start_day Date,
    end_day Date,
    description String,
    cost_eur Nullable(Float64),
    owner String,
    created_at DateTime,
    updated_at DateTime,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, id);
