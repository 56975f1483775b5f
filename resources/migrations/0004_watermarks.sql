-- The cursor high-water mark of each incrementally loaded table, written after the rows it covers have landed.
CREATE TABLE IF NOT EXISTS aietl_meta.watermarks (
    source                 text        NOT NULL,
    table_name             text        NOT NULL,
    cursor_column          text,
    logical_type           text,
    value                  text,
    full_reload_requested  boolean     NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, table_name)
);
COMMENT ON COLUMN aietl_meta.watermarks.full_reload_requested IS
    'Set when a sync conflict is resolved: the next load replaces the table from scratch with the new schema.';
