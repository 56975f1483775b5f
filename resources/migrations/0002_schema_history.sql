-- Versioned snapshots of each source table's schema (as discovered) and of the schema landed in the warehouse.
CREATE TABLE IF NOT EXISTS aietl_meta.schema_history (
    source         text        NOT NULL,
    table_name     text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    source_schema  jsonb       NOT NULL,
    landed_schema  jsonb       NOT NULL,
    diff           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, table_name, version)
);
COMMENT ON COLUMN aietl_meta.schema_history.diff IS
    'Change from the previous version: added, removed, widened, narrowed and conflicting columns.';
