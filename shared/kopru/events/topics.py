"""`kopru topics apply`: the catalog's topics (and one dead-letter topic per consuming
function) created on the broker with their partitions and retention."""

from __future__ import annotations

from kopru.events.catalog import load_catalog


def wanted_topics(catalog=None) -> dict[str, tuple[int, int]]:
    """name -> (partitions, retention.ms)"""
    cat = catalog or load_catalog()
    out = {t.name: (t.partitions, t.retention_ms) for t in cat.topics.values()}
    for fn in cat.consumers():
        out[cat.dead_letter_topic(fn)] = (1, 30 * 24 * 3600 * 1000)
    return out


async def apply(bootstrap: str, replication: int = 1, catalog=None) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    created = []
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(name, p, replication, topic_configs={"retention.ms": str(r)})
               for name, (p, r) in wanted_topics(catalog).items() if name not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            created = [t.name for t in new]
    finally:
        await admin.close()
    return created
