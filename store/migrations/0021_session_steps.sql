-- Each visit's path, step by step, kept with the session so that it is rewritten with
-- it: a page (its path), a site search (its term), a click out (the host) or a contact
-- (its action or confirmation page), the same step twice in a row once, at most 200.
-- Transitions and "after a search" read them. Sessions written before this migration
-- have no steps until the sessionizer rewrites them (docs/pages-and-sources.md).
ALTER TABLE sessions
    ADD COLUMN step_kinds Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN step_values Array(String) DEFAULT emptyArrayString();
