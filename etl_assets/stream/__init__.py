"""The stream layer: Kafka topics landed in micro-batches, and windowed aggregates over them."""
