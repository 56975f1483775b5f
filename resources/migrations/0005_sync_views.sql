-- Per-source sync summary and recent failures, for the UI, reports and `psql`.
CREATE OR REPLACE VIEW aietl_meta.latest_loads AS
SELECT DISTINCT ON (source, table_name) *
FROM aietl_meta.ingestion_log
WHERE status <> 'running'
ORDER BY source, table_name, started_at DESC, id DESC;

CREATE OR REPLACE VIEW aietl_meta.sync_summary AS
SELECT l.source,
       count(DISTINCT l.table_name)                                              AS tables,
       max(l.finished_at) FILTER (WHERE l.status = 'success')                    AS last_success_at,
       max(l.finished_at) FILTER (WHERE l.status = 'failed')                     AS last_failure_at,
       count(*) FILTER (WHERE l.started_at > now() - interval '24 hours')        AS loads_24h,
       coalesce(sum(l.rows_written) FILTER (WHERE l.started_at > now() - interval '24 hours'), 0)::bigint
                                                                                 AS rows_written_24h,
       coalesce(sum(l.rows_quarantined) FILTER (WHERE l.started_at > now() - interval '24 hours'), 0)::bigint
                                                                                 AS rows_quarantined_24h,
       (SELECT count(*) FROM aietl_meta.latest_loads f
         WHERE f.source = l.source AND f.status IN ('failed', 'blocked'))        AS tables_failing,
       (SELECT count(*) FROM aietl_meta.sync_conflicts c
         WHERE c.source = l.source AND c.resolved_at IS NULL)                    AS open_conflicts
FROM aietl_meta.ingestion_log l
GROUP BY l.source;

CREATE OR REPLACE VIEW aietl_meta.recent_failures AS
SELECT id, run_id, source, table_name, mode, started_at, finished_at, status, error
FROM aietl_meta.ingestion_log
WHERE status IN ('failed', 'blocked') AND started_at > now() - interval '7 days'
ORDER BY started_at DESC, id DESC;
