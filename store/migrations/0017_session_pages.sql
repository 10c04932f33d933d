-- The pages of each visit, kept with the session so that they are rewritten with it:
-- every distinct path viewed, in the order of its first view, with the time of that
-- first view; the path of the visit's last page view (where it left the site); and the
-- time of its last contact (0 when none), so that "a contact after the page" is
-- last_contact_ts >= the page's first view. Sessions written before this migration
-- have no pages until the sessionizer rewrites them (docs/data-model.md).
ALTER TABLE sessions
    ADD COLUMN page_paths Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN page_first_ts Array(UInt32) DEFAULT emptyArrayUInt32(),
    ADD COLUMN exit_path String DEFAULT '',
    ADD COLUMN last_contact_ts UInt32 DEFAULT 0;
