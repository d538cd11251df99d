"""The Faust topic objects of the pipeline, and how agents publish dead letters (one at a time or in a batch)."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from core.kafka import TopicNames
from core.settings import Settings
from schemas import DEAD_LETTER_HEADERS, dead_letter, dumps
from streams import metrics
from streams.batching import Message
from streams.publishing import OutRecord


@dataclass(frozen=True)
class StreamTopics:
    raw: faust.TopicT
    enriched: faust.TopicT
    dlq: faust.TopicT
    #: ASCOLTO_MAX_MESSAGE_BYTES: a dead letter keeps only the prefix of an original that fits it.
    max_message_bytes: int

    @classmethod
    def declare(cls, app: faust.App, names: TopicNames, settings: Settings) -> StreamTopics:
        def topic(name: str) -> faust.TopicT:
            return app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                partitions=settings.topic_partitions,
                config={"max.message.bytes": str(settings.max_message_bytes)},
            )

        return cls(topic(names.raw), topic(names.enriched), topic(names.dlq), settings.max_message_bytes)

    async def send_dead_letter(
        self,
        stage: str,
        reason: str,
        *,
        key: bytes | None,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        """Publish a DeadLetter keeping the original key and bytes, and wait for the broker's
        acknowledgement (the caller commits the message's offset right after); counted by stage."""
        record = self.dead_letter_record(
            stage, reason, key=key, value=value, topic=topic, partition=partition, offset=offset
        )
        delivery = await self.dlq.send(key=record.key, value=record.value, headers=record.headers)
        await delivery
        metrics.DEAD_LETTERS.labels(stage.split(":")[0]).inc()

    async def dead_letter_of(self, msg: Message, stage: str, reason: str) -> None:
        """:meth:`send_dead_letter` for a consumed message (what the index sinks call)."""
        await self.send_dead_letter(
            stage, reason, key=msg.key, value=msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset
        )

    def dead_letter_record(
        self,
        stage: str,
        reason: str,
        *,
        key: bytes | None,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
    ) -> OutRecord:
        """The DeadLetter of a message as a record for a batched send (:class:`streams.publishing.BatchPublisher`),
        keeping the original key and bytes. The sender counts it in ``ascolto_dead_letters_total`` once acknowledged.
        """
        letter = dead_letter(
            stage, reason, value, topic=topic, partition=partition, offset=offset, max_bytes=self.max_message_bytes
        )
        return OutRecord(self.dlq.get_topic_name(), key, dumps(letter), list(DEAD_LETTER_HEADERS))
