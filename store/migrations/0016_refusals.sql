-- Issue 26: the collectors' refusals (rate-limited: one record per site, reason and
-- minute, with the number it stands for), so a site builder sees in the API why a
-- snippet's events are refused. Written by the processor's refusals consumer; a
-- replayed record has the same key and is merged away (read with FINAL). Kept 30 days.
CREATE TABLE IF NOT EXISTS refusals
(
    site String,
    ts_ms UInt64,
    reason String,
    message String,
    count UInt64,
    collector String
)
ENGINE = ReplacingMergeTree
ORDER BY (site, ts_ms, collector, reason);
