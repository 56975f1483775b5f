"""Offsets that went backwards (a topic recreated or truncated), handled as a source's ``on_offsets_reset`` says:
the same for landing streams and applying Debezium topics."""

from __future__ import annotations

from resources.kafka.messages import OffsetReset, TopicReader


class OffsetsResetError(RuntimeError):
    """Stored offsets lie past the end of the topic and the source's policy is to fail."""


def restart_positions(reader: TopicReader, resets: list[OffsetReset], policy: str, source: str,
                      verb: tuple[str, str]) -> dict[int, int]:
    """``fail``: raise :class:`OffsetsResetError` naming the partitions; ``restart``: seek them to their beginning and
    return their new start offsets (0 for a partition that no longer exists). ``verb``: what the caller does, as
    (infinitive, past participle), e.g. ``("land", "landed")``."""
    if policy != "restart":
        reasons = "; ".join(reset.reason for reset in resets)
        raise OffsetsResetError(f"topic {reader.topic} of source {source}: {reasons}. Nothing was {verb[1]}; set "
                                f"on_offsets_reset: restart to {verb[0]} the topic again from its beginning")
    gone = {reset.partition: 0 for reset in resets if reset.end is None}
    return {**reader.restart([reset.partition for reset in resets if reset.end is not None]), **gone}
