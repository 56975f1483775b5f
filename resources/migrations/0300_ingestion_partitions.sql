-- The time partition a load landed (NULL for loads of a whole table or by watermark).
ALTER TABLE aietl_meta.ingestion_log ADD COLUMN IF NOT EXISTS partition_key text;
