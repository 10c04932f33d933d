-- What the collector learned about each event beyond its URL: referrer, page title,
-- device class and browser family, screen width, language, the client's clock, and the
-- fields of site searches and actions. One ALTER, so the columns arrive together; the
-- migration runner treats "column already exists" on ADD COLUMN as already applied.
ALTER TABLE events
    ADD COLUMN client_ts UInt32 DEFAULT 0,
    ADD COLUMN referrer String DEFAULT '',
    ADD COLUMN title String DEFAULT '',
    ADD COLUMN device String DEFAULT 'unknown',
    ADD COLUMN browser String DEFAULT 'other',
    ADD COLUMN screen_width UInt32 DEFAULT 0,
    ADD COLUMN language String DEFAULT '',
    ADD COLUMN search_query String DEFAULT '',
    ADD COLUMN search_results Int64 DEFAULT -1,
    ADD COLUMN search_category String DEFAULT '',
    ADD COLUMN action_name String DEFAULT '',
    ADD COLUMN action_target String DEFAULT '';
