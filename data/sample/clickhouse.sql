-- The sample ClickHouse source "analytics": daily sessions per store, in the embedded chdb engine.
CREATE DATABASE IF NOT EXISTS analytics;
DROP TABLE IF EXISTS analytics.daily_sessions;
CREATE TABLE analytics.daily_sessions
(
    day Date,
    store_id UInt32,
    sessions UInt64,
    bounce_rate Float64,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (day, store_id);
INSERT INTO analytics.daily_sessions
SELECT toDate('2026-01-01') + intDiv(number, 8) AS day,
       1 + number % 8 AS store_id,
       100 + cityHash64(number) % 900 AS sessions,
       (cityHash64(number, 1) % 1000) / 1000.0 AS bounce_rate,
       toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalDay(intDiv(number, 8)) AS updated_at
FROM numbers(8 * 300);
