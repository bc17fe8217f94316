"""``broker audit``: verify, export, prove and trace the tamper-evident audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from broker.acls import AUDITOR
from broker.audit.auditor import (
    export_archive,
    flush_stream,
    replay_and_verify,
    trail_of,
    verify_archive,
)
from broker.audit.events import FEDERATION_STREAM
from broker.audit.findings import AuditReport
from broker.audit.keys import load_audit_keys, load_audit_signer
from broker.audit.proof import build_proof, check_proof
from broker.audit.verify import AuditVerifier
from broker.audit.witness import cosign as cosign_note
from broker.audit.witness import witness_key as witness_key_of
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.config import Settings
from broker.connect import connection_for
from broker.errors import ConfigError
from broker.home import stream_state_dir

__all__ = ["app"]

app = typer.Typer(
    help="The tamper-evident audit log: verify, export, prove one event, trace a dossier.",
    no_args_is_help=True,
)

ArchiveOption = typer.Option(
    None, "--archive", help="Verify an export directory instead of Kafka (no broker needed)."
)
CheckpointOption = typer.Option(
    None,
    "--checkpoint",
    help="A signed checkpoint note known outside the broker (repeatable); default: the notes "
    "the writers keep under <home>/state/*/audit-checkpoint.note.",
)


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("replaying fed.audit"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        yield bar


WitnessOption = typer.Option(
    None, "--witness", help="Agency whose cosignature outside checkpoints need (repeatable)."
)
QuorumOption = typer.Option(
    0, "--quorum", min=0, help="How many --witness cosignatures each outside checkpoint needs."
)


def _load(
    settings: Settings,
    *,
    archive: Path | None,
    checkpoints: list[Path] | None,
    keep_events: bool,
    show_progress: bool,
    witnesses: list[str] | None = None,
    quorum: int = 0,
) -> AuditVerifier:
    try:
        external = [p.read_bytes() for p in checkpoints] if checkpoints else None
    except OSError as exc:
        raise ConfigError("cannot read a --checkpoint file", detail=str(exc)) from exc
    if quorum > len(witnesses or []):
        raise ConfigError("--quorum is larger than the number of --witness agencies")
    if archive is not None:
        return verify_archive(
            settings,
            archive,
            external=external or (),
            keep_events=keep_events,
            witnesses=witnesses or (),
            quorum=quorum,
        )
    with _progress(show_progress) as bar:
        task = bar.add_task("replay", total=None) if bar is not None else None

        def update(done: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=done, total=total)

        return asyncio.run(
            replay_and_verify(
                settings,
                conn=connection_for(settings, AUDITOR),
                external=external,
                progress=update,
                keep_events=keep_events,
                witnesses=witnesses or (),
                quorum=quorum,
            )
        )


def _print_report(report: AuditReport, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json_dict(), indent=2))
        return
    rate = f", {report.events / report.seconds:,.0f} events/s" if report.seconds else ""
    typer.echo(
        f"{report.records} records: {report.events} events, {report.checkpoints} checkpoints, "
        f"{len(report.streams)} streams{rate}"
    )
    for name, info in sorted(report.streams.items()):
        note = f", {info['unanchored']} not yet anchored" if info["unanchored"] else ""
        if not info.get("anchored_against_rollback"):
            note += ", no outside or witnessed checkpoint"
        if not info.get("fresh"):
            note += ", stale (newest signed checkpoint too old or untimed)"
        typer.echo(f"  {name:<12} size {info['size']:>7}  checkpoints {info['checkpoints']}{note}")
    if report.ok:
        weak = report.unanchored
        if weak:
            typer.secho(
                f"audit log OK (not anchored against rollback: {', '.join(weak)})",
                fg=typer.colors.YELLOW,
            )
        else:
            typer.secho("audit log OK", fg=typer.colors.GREEN)
        return
    for finding in report.findings:
        typer.secho(finding.line(), fg=typer.colors.RED)
    typer.secho(f"{len(report.findings)} finding(s): the audit log FAILED", fg=typer.colors.RED)


@app.command()
def verify(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    archive: Path | None = ArchiveOption,
    checkpoint: list[Path] | None = CheckpointOption,
    witness: list[str] | None = WitnessOption,
    quorum: int = QuorumOption,
    home: Path | None = HomeOption,
) -> None:
    """Replay fed.audit from offset 0 (or an export) and check it; exit 1 on any finding."""
    settings = settings_for(home)
    verifier = _load(
        settings,
        archive=archive,
        checkpoints=checkpoint,
        keep_events=False,
        show_progress=not as_json,
        witnesses=witness,
        quorum=quorum,
    )
    _print_report(verifier.report, as_json=as_json)
    if not verifier.report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    directory: Path = typer.Argument(..., help="Empty or new directory for the archive."),
    agency: str = typer.Option(..., "--as", help="Agency whose signing key signs the manifest."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Write Avro container files of the raw events and checkpoints plus a signed manifest."""
    settings = settings_for(home)
    report = asyncio.run(
        export_archive(
            settings,
            directory,
            conn=connection_for(settings, AUDITOR),
            agency=agency,
            passphrase=passphrase_from(passphrase_env),
        )
    )
    typer.echo(
        f"exported {report.events} events and {report.checkpoints} checkpoints to {directory} "
        f"(log {'OK' if report.ok else f'has {len(report.findings)} finding(s)'})"
    )


@app.command()
def proof(
    event: str = typer.Option(..., "--event", help="The audit event id."),
    out: Path | None = typer.Option(None, "--out", help="Write the proof here (default stdout)."),
    archive: Path | None = ArchiveOption,
    home: Path | None = HomeOption,
) -> None:
    """Emit an inclusion proof plus signed checkpoint for one event (nothing else disclosed)."""
    settings = settings_for(home)
    verifier = _load(
        settings, archive=archive, checkpoints=None, keep_events=True, show_progress=False
    )
    text = json.dumps(build_proof(verifier, event_id=event), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"proof written to {out}")


@app.command("check-proof")
def check_proof_cmd(
    file: Path = typer.Argument(..., help="A proof from `broker audit proof`."),
    home: Path | None = HomeOption,
) -> None:
    """Verify a proof with the federation's public keys only; print the proven event."""
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read the proof file", detail=str(exc)) from exc
    event = check_proof(doc, keys=load_audit_keys(settings_for(home)))
    typer.echo(f"proof OK: {event.summary()}")


@app.command()
def trail(
    dossier: str = typer.Option(..., "--dossier", help="Envelope id of the dossier."),
    as_json: bool = typer.Option(False, "--json"),
    archive: Path | None = ArchiveOption,
    home: Path | None = HomeOption,
) -> None:
    """Show one dossier's chain of custody in time order (from a verified replay).

    Events not covered by a signed checkpoint are marked UNVERIFIED (``"verified": false``).
    """
    settings = settings_for(home)
    verifier = _load(
        settings, archive=archive, checkpoints=None, keep_events=True, show_progress=False
    )
    steps = trail_of(verifier, dossier)
    events = [ev for ev, _ in steps]
    verified = {ev.event_id: ok for ev, ok in steps}
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "at": ev.at.isoformat(),
                        "kind": ev.kind.value,
                        "actor": ev.actor,
                        "parties": ev.parties,
                        "outcome": ev.outcome,
                        "reason": ev.reason,
                        "stream": ev.stream,
                        "seq": ev.seq,
                        "event_id": ev.event_id,
                        "verified": verified[ev.event_id],
                    }
                    for ev in events
                ],
                indent=2,
            )
        )
    else:
        for ev in events:
            typer.echo(ev.summary() if verified[ev.event_id] else f"UNVERIFIED {ev.summary()}")
        status = "OK" if verifier.report.ok else f"{len(verifier.report.findings)} finding(s)"
        typer.echo(f"{len(events)} event(s); audit log {status}")
    if not events:
        raise typer.Exit(1)


@app.command()
def cosign(
    note: Path = typer.Argument(
        ..., help="A checkpoint note (e.g. state/<stream>/audit-checkpoint.note)."
    ),
    agency: str = typer.Option(..., "--as", help="The witnessing agency."),
    out: Path | None = typer.Option(None, "--out", help="Write the cosigned note here."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Witness a checkpoint: refuse rollbacks and forks, else add our cosignature."""
    settings = settings_for(home)
    signer = load_audit_signer(settings, stream=agency, passphrase=passphrase_from(passphrase_env))
    if signer is None:
        raise ConfigError("this home does not hold the agency's audit key", detail=agency)
    try:
        text = note.read_bytes()
    except OSError as exc:
        raise ConfigError("cannot read the checkpoint note", detail=str(exc)) from exc
    cosigned = cosign_note(
        text,
        witness=agency,
        signer=signer,
        keys=load_audit_keys(settings),
        seen_dir=stream_state_dir(settings, agency),
    )
    if out is None:
        typer.echo(cosigned.decode(), nl=False)
    else:
        out.write_bytes(cosigned)
        typer.echo(f"cosigned by {agency}: {out}")


@app.command("witness-key")
def witness_key(
    agency: str = typer.Option(..., "--as", help="The witnessing agency."),
    home: Path | None = HomeOption,
) -> None:
    """Print the verifier key of an agency's witness cosignatures (public; from its certificate).

    Derived from the agency's root-certified audit key, so it needs only the
    federation's public files: give it to anyone who checks our cosignatures.
    """
    typer.echo(witness_key_of(load_audit_keys(settings_for(home)), agency))


@app.command()
def flush(
    stream: str = typer.Option(FEDERATION_STREAM, "--stream", help="Whose journal to publish."),
    home: Path | None = HomeOption,
) -> None:
    """Publish audit events journaled while Kafka was unreachable (e.g. federation admin)."""
    settings = settings_for(home)
    pending = asyncio.run(
        flush_stream(settings, stream=stream, conn=connection_for(settings, "admin"))
    )
    typer.echo(f"{stream}: {pending} journaled event(s) published, checkpoint signed")
