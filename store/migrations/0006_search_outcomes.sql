-- What happened after each site search in a visit, kept with the session so that it is
-- rewritten with it: the normalised term, its first top-level theme ('' for none), the
-- result count (-1 unknown) and what came next: 'refined' (another search), 'clicked'
-- (a page or action) or 'left' (the visit ended).
ALTER TABLE sessions
    ADD COLUMN search_terms Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN search_themes Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN search_results Array(Int64) DEFAULT emptyArrayInt64(),
    ADD COLUMN search_next Array(String) DEFAULT emptyArrayString();
