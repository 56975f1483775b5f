"""Change data capture: Debezium events of PostgreSQL sources (or any producer) applied to replica tables."""
