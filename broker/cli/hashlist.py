"""``broker hashlist``: publish, inspect and withdraw hash lists (signed updates on Kafka)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from pathlib import Path

import typer

from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.config import Settings
from broker.connect import connection_for
from broker.hashlist import (
    ListEntry,
    ListFollower,
    ListState,
    ListUpdate,
    publish_updates,
    read_entries,
    write_entries,
)
from broker.hashlist.update import ListOp, next_version
from broker.topics import TopicLayout
from broker.trust import load_identity, load_trust

app = typer.Typer(
    help="Hash lists: signed updates on a compacted Kafka topic per list.", no_args_is_help=True
)
ListOption = typer.Option(..., "--list", help="The list's name ([a-z0-9-], up to 40).")
AsOption = typer.Option(..., "--as", help="The acting agency (the list owner, to write).")
OwnerOption = typer.Option(None, "--owner", help="The list's owner (default: --as).")


def _replay(settings: Settings, *, agency: str, owner: str, name: str) -> list[ListEntry]:
    """Read the list's topic from the beginning, verifying every update; return its entries."""
    layout = TopicLayout(prefix=settings.topic_prefix)
    topic = layout.hashlist(owner, name)
    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)

    async def main() -> None:
        async with ListFollower(
            conn=connection_for(settings, agency),
            layout=layout,
            state=state,
            trust=load_trust(settings),
            agency=agency,
            only=topic,
        ) as follower:
            await follower.catch_up(idle_s=1.5)

    asyncio.run(main())
    return state.entries(topic=topic)


def _publish(
    settings: Settings, agency: str, passphrase: str | None, updates: list[ListUpdate]
) -> None:
    trust = load_trust(settings)
    identity = load_identity(settings, agency=agency, passphrase=passphrase, trust=trust)
    layout = TopicLayout(prefix=settings.topic_prefix)
    asyncio.run(
        publish_updates(
            connection_for(settings, agency), layout=layout, identity=identity, updates=updates
        )
    )


def _key_id(settings: Settings, agency: str, passphrase: str | None) -> str:
    identity = load_identity(settings, agency=agency, passphrase=passphrase)
    return identity.signing.key_id


@app.command(name="import")
def import_(
    file: Path = typer.Argument(..., help="CSV or JSONL: sha256, md5, pdq, category, series."),
    name: str = ListOption,
    agency: str = AsOption,
    source: str | None = typer.Option(None, "--source", help="Source of rows that name none."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Publish every row of FILE as a signed ADD update of the list (created if needed)."""
    settings = settings_for(home)
    count = publish_file(
        settings,
        agency=agency,
        name=name,
        path=file,
        source=source,
        passphrase=passphrase_from(passphrase_env),
    )
    typer.echo(f"hashlist: {count} entries published to {agency}/{name}")


def publish_file(
    settings: Settings,
    *,
    agency: str,
    name: str,
    path: Path,
    source: str | None = None,
    passphrase: str | None = None,
) -> int:
    """Publish every row of a list file as a signed ADD update; return how many."""
    key_id = _key_id(settings, agency, passphrase)
    version = next_version()
    updates = [
        ListUpdate(
            list=name,
            owner=agency,
            key_id=key_id,
            entry_id=str(row["entry_id"]),
            version=version,
            op="ADD",
            sha256=row["sha256"],
            md5=row["md5"],
            pdq=row["pdq"],
            category=row["category"],
            series=row["series"],
            source=row["source"] or source,
        )
        for row in read_entries(path)
    ]
    _publish(settings, agency, passphrase, updates)
    return len(updates)


def _feedback(op: ListOp, entry_ids: list[str], name: str, agency: str, note: str | None,
              passphrase_env: str | None, home: Path | None) -> None:  # fmt: skip
    settings = settings_for(home)
    passphrase = passphrase_from(passphrase_env)
    current = {e.entry_id: e for e in _replay(settings, agency=agency, owner=agency, name=name)}
    missing = [e for e in entry_ids if e not in current]
    if missing:
        raise typer.BadParameter(f"not on {agency}/{name}: {', '.join(missing)}")
    key_id = _key_id(settings, agency, passphrase)
    updates = []
    for entry_id in entry_ids:
        e = current[entry_id]
        base = ListUpdate(
            list=name, owner=agency, key_id=key_id, entry_id=entry_id, version=e.version,
            op="ADD", sha256=e.sha256, md5=e.md5, pdq=e.pdq, category=e.category,
            series=e.series, source=e.source,
        ) if e.op != "WITHDRAW" else None  # fmt: skip
        if base is None:
            raise typer.BadParameter(f"{entry_id} is withdrawn")
        updates.append(base.then(op, note=note))
    _publish(settings, agency, passphrase, updates)
    typer.echo(f"hashlist: {op.lower()} published for {len(updates)} entries of {agency}/{name}")


NoteOption = typer.Option(None, "--note", help="Why (kept in the update).")


@app.command()
def withdraw(
    entry_ids: list[str] = typer.Argument(..., help="Entry ids (by default the SHA-256)."),
    name: str = ListOption,
    agency: str = AsOption,
    note: str | None = NoteOption,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Withdraw entries: every subscriber stops matching them (their hashes are dropped)."""
    settings = settings_for(home)
    passphrase = passphrase_from(passphrase_env)
    key_id = _key_id(settings, agency, passphrase)
    version = next_version()
    updates = [
        ListUpdate(list=name, owner=agency, key_id=key_id, entry_id=e, version=version,
                   op="WITHDRAW", note=note)
        for e in entry_ids
    ]  # fmt: skip
    _publish(settings, agency, passphrase, updates)
    typer.echo(f"hashlist: {len(updates)} entries withdrawn from {agency}/{name}")


@app.command()
def confirm(
    entry_ids: list[str] = typer.Argument(...),
    name: str = ListOption,
    agency: str = AsOption,
    note: str | None = NoteOption,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Confirm entries after review (lifts a hub quarantine)."""
    _feedback("CONFIRM", entry_ids, name, agency, note, passphrase_env, home)


@app.command()
def dispute(
    entry_ids: list[str] = typer.Argument(...),
    name: str = ListOption,
    agency: str = AsOption,
    note: str | None = NoteOption,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Dispute entries: they stop matching until confirmed."""
    _feedback("DISPUTE", entry_ids, name, agency, note, passphrase_env, home)


@app.command()
def show(
    name: str = ListOption,
    agency: str = AsOption,
    owner: str | None = OwnerOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Replay a list's topic (verifying every update) and summarise it."""
    entries = _replay(settings_for(home), agency=agency, owner=owner or agency, name=name)
    live = [e for e in entries if e.op != "WITHDRAW"]
    data = {
        "list": name,
        "owner": owner or agency,
        "entries": len(entries),
        "by_status": dict(Counter(e.op for e in entries)),
        "by_category": dict(Counter(e.category or "" for e in live)),
        "by_kind": {k: sum(1 for e in live if getattr(e, k)) for k in ("sha256", "md5", "pdq")},
    }
    if as_json:
        typer.echo(json.dumps(data, indent=1, sort_keys=True))
        return
    for k, v in data.items():
        typer.echo(f"{k}: {v}")


@app.command()
def export(
    name: str = ListOption,
    agency: str = AsOption,
    owner: str | None = OwnerOption,
    jsonl: bool = typer.Option(False, "--jsonl", help="JSON Lines instead of CSV."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default stdout)."),
    home: Path | None = HomeOption,
) -> None:
    """Write a list's live entries (replayed from its topic) as CSV or JSON Lines."""
    entries = _replay(settings_for(home), agency=agency, owner=owner or agency, name=name)
    rows = [vars(e) for e in entries if e.op != "WITHDRAW"]
    text = write_entries(rows, jsonl=jsonl)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"hashlist: {len(rows)} entries written to {out}")
