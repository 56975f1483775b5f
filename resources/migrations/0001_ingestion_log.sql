-- One row per load of one table: what was read, written and quarantined, the watermark moved, and how it ended.
CREATE SCHEMA IF NOT EXISTS aietl_meta;

CREATE TABLE IF NOT EXISTS aietl_meta.ingestion_log (
    id               bigserial   PRIMARY KEY,
    run_id           text,
    source           text        NOT NULL,
    table_name       text        NOT NULL,
    mode             text        NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    duration_s       double precision,
    rows_read        bigint,
    rows_written     bigint,
    rows_quarantined bigint,
    watermark_from   text,
    watermark_to     text,
    status           text        NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'success', 'failed', 'blocked')),
    error            text
);
CREATE INDEX IF NOT EXISTS ingestion_log_table_started
    ON aietl_meta.ingestion_log (source, table_name, started_at DESC);
COMMENT ON TABLE aietl_meta.ingestion_log IS
    'Every load of a raw table; status blocked = not loaded because of an open sync conflict.';
