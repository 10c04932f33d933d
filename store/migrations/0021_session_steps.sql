-- Each visit's path, step by step, kept with the session so that it is rewritten with
-- it: a page (its path), a site search (its term), a click out (the host) or a contact
-- (its action or confirmation page), the same step twice in a row once, at most 200.
-- Beside each step its first top-level theme ('' for none), which groups pages into the
-- themes of a path to contact. Transitions, "after a search" and paths read them.
-- Sessions written before this migration have no steps until the sessionizer rewrites
-- them (docs/pages-and-sources.md).
ALTER TABLE sessions
    ADD COLUMN step_kinds Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN step_values Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN step_themes Array(String) DEFAULT emptyArrayString();
