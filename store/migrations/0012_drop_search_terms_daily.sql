-- search_terms_daily and its view: migration 0011's search_term_counts_daily took their
-- place (and their history). A migration of its own, so that a rerun of 0011 after a
-- crash still finds the table it copies from.
DROP TABLE IF EXISTS search_terms_daily_mv;

DROP TABLE IF EXISTS search_terms_daily;
