-- Where each visit came from, kept with the session: the host of its first event's
-- referrer (never the referrer's path or query) and the UTM values of its first page
-- URL (utm_source, utm_medium, utm_campaign, utm_content, utm_term: trimmed,
-- lowercased, at most 100 characters; the collector scrubbed the URL). The campaigns
-- answer groups visits by them. Sessions written before this migration have none
-- until the sessionizer rewrites them (docs/data-model.md).
ALTER TABLE sessions
    ADD COLUMN referrer_host String DEFAULT '',
    ADD COLUMN utm_source String DEFAULT '',
    ADD COLUMN utm_medium String DEFAULT '',
    ADD COLUMN utm_campaign String DEFAULT '',
    ADD COLUMN utm_content String DEFAULT '',
    ADD COLUMN utm_term String DEFAULT '';
