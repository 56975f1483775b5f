"""The Kafka connector (plaintext, SSL, SASL) through kafka-python 3, with a bounded micro-batch reader:
``resource.py`` (KafkaResource), ``client.py`` (consumer/producer/admin construction), ``messages.py``
(KafkaMessage, MicroBatch). Kafka carries bytes and has no query language, so there is no ``types.py`` or
``sql.py``: messages are typed when parsed (etl_assets/stream)."""

from resources.kafka.messages import KafkaMessage, MicroBatch
from resources.kafka.resource import KafkaResource

__all__ = ["KafkaMessage", "KafkaResource", "MicroBatch"]
