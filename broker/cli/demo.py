"""``broker demo``: run the main job end to end on a real local Kafka."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer

from broker.config import Settings
from broker.local import LocalCluster
from broker.local.cluster import read_record
from broker.transport import KafkaConnection

__all__ = ["demo"]


async def _smoke(conn: KafkaConnection) -> float:
    from aiokafka.admin import NewTopic

    topic = f"demo.smoke.{int(time.time())}"
    async with conn.admin() as admin:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    producer = conn.producer()
    await producer.start()
    started = time.perf_counter()
    try:
        await producer.send_and_wait(topic, b"hello from the dossier broker")
    finally:
        await producer.stop()
    consumer = conn.consumer(topic, group_id=None)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    if record.value != b"hello from the dossier broker":
        raise RuntimeError("read back something else than was written")
    return (time.perf_counter() - started) * 1000


def demo(
    home: Path | None = typer.Option(
        None, "--home", envvar="BROKER_HOME", help="Home directory (default: ./state/demo)."
    ),
) -> None:
    """Start a local Kafka if none runs, publish and read back a record, stop what it started."""
    settings = Settings(home=home) if home is not None else Settings(home=Path("state/demo"))
    own = read_record(settings.state_dir) is None
    typer.echo("== starting a real local Kafka (jars from Maven Central, cached)" if own else "")

    async def run() -> None:
        cluster = (
            await LocalCluster.start(state_dir=settings.state_dir, cache_dir=settings.cache_dir)
            if own
            else LocalCluster.attach(state_dir=settings.state_dir)
        )
        try:
            typer.echo(f"   Kafka at {cluster.bootstrap}")
            ms = await _smoke(cluster.connection())
            typer.echo(f"== published and read back one record in {ms:.1f} ms: OK")
        finally:
            if own:
                await cluster.stop()
                typer.echo("== local Kafka stopped")

    asyncio.run(run())
