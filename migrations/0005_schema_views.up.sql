CREATE TABLE schema_views (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    hash        text        NOT NULL,
    applied_at  timestamptz NOT NULL
);

COMMENT ON TABLE schema_views IS
    'Bookkeeping for the reporting views: a hash of the view files last applied, so unchanged views are not replaced on every run.';
COMMENT ON COLUMN schema_views.singleton IS 'Always true: the table holds at most one row.';
COMMENT ON COLUMN schema_views.hash IS 'SHA-256 of the applied view files, names and contents.';
COMMENT ON COLUMN schema_views.applied_at IS 'When the views were last applied.';
