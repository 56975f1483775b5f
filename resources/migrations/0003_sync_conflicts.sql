-- Incompatible schema changes: the table is not loaded while one is open, and its schema_compatible check fails.
CREATE TABLE IF NOT EXISTS aietl_meta.sync_conflicts (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL,
    table_name   text        NOT NULL,
    column_name  text        NOT NULL,
    landed_type  text        NOT NULL,
    source_type  text        NOT NULL,
    detail       text        NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    resolution   text
);
CREATE UNIQUE INDEX IF NOT EXISTS sync_conflicts_one_open
    ON aietl_meta.sync_conflicts (source, table_name, column_name, source_type) WHERE resolved_at IS NULL;
