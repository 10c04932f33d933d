-- Site searches per site, theme, day and normalised term, rewritten by the sessionizer
-- instead of summed by a materialized view. It replaces search_terms_daily (dropped by
-- migration 0012, once this one is recorded), which had two faults:
-- * its visitors were wrong once ClickHouse merged its parts: a SummingMergeTree that
--   is given the columns to sum keeps one row's aggregate state of the others (on
--   18.16), so a term's distinct visitors fell to one insert's, and terms fell under
--   the k threshold;
-- * a search is in a row per theme (with ancestors), so the site's lists had to sum
--   each theme's rows and take the largest theme per day and term.
-- theme '*' holds every search of the site once, '' the searches no theme matched.
-- visitors is the day's count of distinct visitor keys: keys rotate daily, so a
-- period's distinct visitors are the sum of its days' (as in visits_daily), and no
-- visitor sets are merged when the lists are read.
-- Like contact_channels_daily, each run writes a new version of every (site, day) that
-- got events; readers take the newest version of each day.
CREATE TABLE IF NOT EXISTS search_term_counts_daily
(
    site String,
    theme String,
    day Date,
    term String,
    searches UInt64,
    zero_results UInt64,
    visitors UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, theme, day, term);

-- The searches stored before this migration (version 0). The sessionizer runs the same
-- statement for the (site, day)s that got events, as a new version.
INSERT INTO search_term_counts_daily
SELECT site, theme, day, search_term AS term, count() AS searches,
       sum(search_results = 0) AS zero_results, uniq(visitor) AS visitors,
       toUInt64(0) AS version
FROM events
ARRAY JOIN arrayConcat(['*'], if(empty(themes), [''], themes)) AS theme
WHERE type = 'search' AND search_term != ''
  AND (site, day) NOT IN (SELECT site, day FROM search_term_counts_daily)
GROUP BY site, theme, day, term;

-- Days whose raw events retention already dropped keep what search_terms_daily held:
-- its searches per theme, the largest theme's count per term as the site's (what the
-- site's lists showed before), and its visitor counts as they are.
INSERT INTO search_term_counts_daily
SELECT site, theme, day, term, searches, zero_results, visitors, toUInt64(0) AS version
FROM
(
    SELECT site, theme, day, term, sum(searches) AS searches, sum(zero_results) AS zero_results,
           uniqMerge(visitors) AS visitors
    FROM search_terms_daily
    WHERE term != ''
    GROUP BY site, theme, day, term
    UNION ALL
    SELECT site, '*' AS theme, day, term, s AS searches, z AS zero_results, v AS visitors
    FROM
    (
        SELECT site, day, term,
               arrayReduce('max', sumMap([cityHash64(theme)], [searches]).2) AS s,
               arrayReduce('max', sumMap([cityHash64(theme)], [zero_results]).2) AS z,
               uniqMerge(visitors) AS v
        FROM search_terms_daily
        WHERE term != ''
        GROUP BY site, day, term
    )
)
WHERE (site, day) NOT IN (SELECT site, day FROM search_term_counts_daily)
  AND (site, day) NOT IN (SELECT site, day FROM events);
