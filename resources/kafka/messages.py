"""What a micro-batch read returns: the messages and the offsets to resume from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class KafkaMessage(NamedTuple):
    """One record (a tuple: made once per message, so it must be cheap)."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class OffsetReset:
    """A partition whose stored offset lies beyond what the topic now holds: it was recreated or truncated."""

    partition: int
    stored: int
    beginning: int
    end: int | None
    """None: the partition no longer exists."""

    @property
    def reason(self) -> str:
        if self.end is None:
            return f"partition {self.partition} no longer exists (landed up to offset {self.stored})"
        return (f"partition {self.partition} ends at offset {self.end} (first offset {self.beginning}) but offsets "
                f"up to {self.stored} were landed: the topic was recreated or truncated")


@dataclass
class MicroBatch:
    """Messages read from one topic, and where to resume: the next offset of every assigned partition."""

    topic: str
    messages: list[KafkaMessage] = field(default_factory=list)
    start_offsets: dict[int, int] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    end_offsets: dict[int, int] = field(default_factory=dict)
    """As reported by the broker after the read; may under-report (Tansu), so lag from it is a lower bound."""
    drained: bool = False
    """True when the read ended on an empty poll rather than on the message or time limit."""
    drained_at: float | None = None
    """When that empty poll began (``time.monotonic()``): the read's time after it was spent waiting."""

    @property
    def lag(self) -> int:
        """Messages known to wait after this batch, by the broker's end offsets (a lower bound)."""
        return sum(max(0, end - self.next_offsets.get(partition, 0)) for partition, end in self.end_offsets.items())


class TopicReader(Protocol):
    """Micro-batches of one topic from one open consumer, each starting where the previous one ended: kafka-python's
    (``resource.KafkaPythonReader``) or confluent-kafka's (``confluent.ConfluentReader``), as the source's
    ``client`` says."""

    topic: str
    positions: dict[int, int]
    """The next offset to read of every assigned partition."""

    def offset_resets(self) -> list[OffsetReset]: ...
    def restart(self, partitions: list[int]) -> dict[int, int]: ...
    def read(self, max_messages: int, deadline: float, with_end_offsets: bool = True) -> MicroBatch: ...
    def end_offsets(self) -> dict[int, int]: ...
