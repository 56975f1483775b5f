"""The Kafka connector (plaintext, SSL, SASL) through kafka-python 3, with bounded micro-batch readers:
``resource.py`` (KafkaResource, kafka-python's reader), ``confluent.py`` (confluent-kafka's reader, ``client:
confluent-kafka``), ``client.py`` (consumer/producer/admin construction), ``messages.py`` (KafkaMessage, MicroBatch,
the TopicReader protocol), ``resets.py`` (offsets that went backwards). Kafka carries bytes and has no query
language, so there is no ``types.py`` or ``sql.py``: messages are typed when parsed (etl_assets/stream)."""

from resources.kafka.messages import KafkaMessage, MicroBatch, OffsetReset, TopicReader
from resources.kafka.resource import KafkaResource

__all__ = ["KafkaMessage", "KafkaResource", "MicroBatch", "OffsetReset", "TopicReader"]
