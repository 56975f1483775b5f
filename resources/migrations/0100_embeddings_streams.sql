-- Embedding index (which rows are in which Qdrant collection, with what content) and Kafka stream offsets.
-- Idempotent: safe to run again, and also run on a warehouse that is not the metadata database, because stream
-- offsets must commit in the same transaction as the rows they describe.

CREATE SCHEMA IF NOT EXISTS aietl_meta;

CREATE TABLE IF NOT EXISTS aietl_meta.kafka_offsets (
    source       text        NOT NULL,
    topic        text        NOT NULL,
    consumer     text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, topic, consumer, partition)
);
COMMENT ON TABLE aietl_meta.kafka_offsets IS
    'Per reader (consumer: stream = landing, per_minute = the windowed aggregate) and partition, the offset of the '
    'next message to process; written in the same transaction as the rows it covers.';

CREATE TABLE IF NOT EXISTS aietl_meta.embedding_index (
    collection    text        NOT NULL,
    point_id      uuid        NOT NULL,
    pk            jsonb       NOT NULL,
    content_hash  text        NOT NULL,
    embedded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, point_id)
);
COMMENT ON TABLE aietl_meta.embedding_index IS
    'One row per point in a Qdrant collection: the source row''s primary key and the sha256 of the content embedded.';
