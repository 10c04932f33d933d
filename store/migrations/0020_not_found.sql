-- Pages that said they were not found: a page view titled by Matomo's 404 convention,
-- Plausible's `404` event (the action `not-found`), a `t.js` page view of a page marked
-- `data-luister-not-found`, a native page view with "not_found": true. The not-found
-- answer lists their paths with where the visitors came from: a broken link to a
-- scheme page is a lost resident.
ALTER TABLE events ADD COLUMN not_found UInt8 DEFAULT 0;
