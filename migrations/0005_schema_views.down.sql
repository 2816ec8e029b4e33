DROP TABLE IF EXISTS schema_views;
