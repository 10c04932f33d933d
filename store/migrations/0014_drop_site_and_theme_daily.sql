-- site_daily and theme_daily: migration 0013's event_counts_daily took their place
-- (and their history). A migration of its own, so that a rerun of 0013 after a crash
-- still finds the tables it copies from.
DROP TABLE IF EXISTS site_daily;

DROP TABLE IF EXISTS theme_daily;
