"""Creates every topic of the registry with the configured partition count; existing topics are kept."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared import topics


async def ensure_topics(bootstrap_servers: str, partitions: int, timeout: float = 30.0) -> list[str]:
    """Create the missing fieldsync topics; returns the names created. Retries until the broker answers."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t.full_name for t in topics.ALL if t.full_name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # another starter won the race
                    await admin.create_topics(
                        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in missing]
                    )
            return missing
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)  # the broker is still starting: retry within the deadline
        finally:
            await admin.close()


def main() -> None:
    """`python -m infra.kafka.topics`: the compose topic-creation one-shot."""
    from shared.settings import KafkaSettings

    settings = KafkaSettings()
    created = asyncio.run(ensure_topics(settings.bootstrap_servers, settings.topic_partitions, timeout=120))
    print(f"topics created: {', '.join(created) or 'none (all present)'}")


if __name__ == "__main__":
    main()
