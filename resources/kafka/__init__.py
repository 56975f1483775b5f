"""The Kafka connector (plaintext, SSL, SASL) through kafka-python 3, with a bounded micro-batch reader:
``resource.py`` (KafkaResource), ``client.py`` (consumer/producer/admin construction), ``messages.py``
(KafkaMessage, MicroBatch). Kafka carries bytes and has no query language, so there is no ``types.py`` or
``sql.py``: messages are typed when parsed (etl_assets/stream)."""

from resources.kafka.messages import KafkaMessage, MicroBatch, OffsetReset
from resources.kafka.resource import KafkaResource, TopicReader

__all__ = ["KafkaMessage", "KafkaResource", "MicroBatch", "OffsetReset", "TopicReader"]
