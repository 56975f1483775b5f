-- Profile history (row counts and column facts per profile, for row-count anomaly and drift checks, and reports)
-- and the result of every data-quality check.

CREATE SCHEMA IF NOT EXISTS aietl_meta;

CREATE TABLE IF NOT EXISTS aietl_meta.profile_history (
    id             bigserial   PRIMARY KEY,
    run_id         text,
    source         text        NOT NULL,
    table_name     text        NOT NULL,
    profiled_at    timestamptz NOT NULL DEFAULT now(),
    row_count      bigint      NOT NULL CHECK (row_count >= 0),
    size_bytes     bigint,
    duplicate_rows bigint,
    sampled        boolean     NOT NULL DEFAULT false,
    columns        jsonb       NOT NULL,
    profile        jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_history_table_profiled
    ON aietl_meta.profile_history (source, table_name, profiled_at DESC);
COMMENT ON TABLE aietl_meta.profile_history IS
    'One row per profile of a raw table; columns = [{name, logical_type, physical_type, semantic_type, null_share, '
    'distinct_count}], profile = the whole TableProfile as JSON.';

CREATE TABLE IF NOT EXISTS aietl_meta.check_results (
    id          bigserial   PRIMARY KEY,
    run_id      text,
    source      text        NOT NULL,
    table_name  text        NOT NULL,
    check_name  text        NOT NULL,
    passed      boolean     NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('ERROR', 'WARN')),
    blocking    boolean     NOT NULL,
    description text        NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    checked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS check_results_table_checked
    ON aietl_meta.check_results (source, table_name, checked_at DESC);

CREATE OR REPLACE VIEW aietl_meta.latest_check_results AS
SELECT DISTINCT ON (source, table_name, check_name)
       source, table_name, check_name, passed, severity, blocking, description, metadata, checked_at
FROM aietl_meta.check_results
ORDER BY source, table_name, check_name, checked_at DESC, id DESC;
