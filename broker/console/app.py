"""The console's web application: routes, templates, the gate around them.

:func:`create_app` builds a Starlette application for one :class:`ConsoleConfig`:
a national unit (``--as AGENCY``; with the hub's pages too when the agency runs the
hub), or an auditor (``--auditor``). Pages are rendered on the server (Jinja2,
autoescaped); the one script, ``static/console.js``, only refreshes the inbox.

Example::

    app = create_app(ConsoleConfig(settings=settings, agency="ES-PN", connect=None))
    # broker console --as ES-PN serves it with uvicorn on 127.0.0.1
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from broker import home
from broker.config import Settings
from broker.console import agency as agency_view
from broker.console import hub as hub_view
from broker.console.actions import AgencyActions
from broker.console.auditor import AuditState, stream_rows, trail_rows
from broker.console.security import COOKIE, AccessGate, GateMiddleware, checked_form, refusal
from broker.errors import ConsoleAccessError, Error
from broker.topics import HUB
from broker.transport import KafkaConnection

__all__ = ["ConsoleConfig", "create_app"]

_HERE = Path(__file__).parent


@dataclass(kw_only=True)
class ConsoleConfig:
    """Who the console is for and how it reaches Kafka (``connect`` None: read-only)."""

    settings: Settings
    agency: str | None = None
    auditor: bool = False
    connect: Callable[[], KafkaConnection] | None = None
    archive: Path | None = None
    follow: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    hub: str = HUB
    token: str | None = None
    extra_hosts: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        """The console's own origin."""
        return f"http://{self.host}:{self.port}"

    @property
    def is_hub(self) -> bool:
        """Whether the agency runs the hub (its index exists): show the hub's pages."""
        return self.agency is not None and home.hub_db(self.settings, self.agency).exists()


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def context(request: Request) -> dict[str, Any]:
        app = request.app
        gate: AccessGate = app.state.gate
        config: ConsoleConfig = app.state.config
        return {
            "csrf": gate.session(request.cookies.get(COOKIE)) or "",
            "config": config,
            "title_of": config.agency or "auditor",
        }

    return Jinja2Templates(env=env, context_processors=[context])


def create_app(config: ConsoleConfig) -> Starlette:
    """The console application for ``config``."""
    if config.agency is None and not config.auditor:
        raise ValueError("a console is for an agency (--as) or an auditor (--auditor)")
    hosts = {f"{config.host}:{config.port}", f"127.0.0.1:{config.port}"}
    hosts |= {f"localhost:{config.port}", *config.extra_hosts}
    gate = AccessGate(hosts=hosts, origin=config.origin, token=config.token)
    templates = _templates()
    actions = (
        AgencyActions(config.settings, agency=config.agency, connect=config.connect, hub=config.hub)
        if config.agency is not None
        else None
    )
    audit = (
        AuditState(config.settings, connect=config.connect, archive=config.archive)
        if config.auditor
        else None
    )

    def page(request: Request, name: str, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context)

    async def login(request: Request) -> Response:
        sid = gate.login(request.query_params.get("token", ""))
        if sid is None:
            return page(request, "login.html", failed="token" in request.query_params)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
        return response

    async def index(request: Request) -> Response:
        return RedirectResponse("/audit" if config.auditor else "/inbox", status_code=303)

    # -- a national unit -------------------------------------------------------------

    def _agency() -> str:
        return _acting()[0]

    def _acting() -> tuple[str, AgencyActions]:
        if config.agency is None or actions is None:
            raise HTTPException(404)
        return config.agency, actions

    async def inbox(request: Request) -> Response:
        agency = _agency()
        flt = agency_view.InboxFilter.of(request.query_params)
        rows = agency_view.inbox_rows(config.settings, agency, flt)
        every = agency_view.inbox_rows(config.settings, agency)
        return page(
            request,
            "inbox.html",
            rows=rows,
            flt=flt,
            total=len(every),
            senders=sorted({r.sender for r in every}),
            api=f"/api/inbox?{urlencode(flt.query())}",
        )

    async def inbox_api(request: Request) -> Response:
        agency = _agency()
        flt = agency_view.InboxFilter.of(request.query_params)
        rows = agency_view.inbox_rows(config.settings, agency, flt)
        return JSONResponse({"rows": [r.to_json_dict() for r in rows]})

    async def dossier(request: Request) -> Response:
        agency = _agency()
        sender, envelope_id = request.path_params["sender"], request.path_params["envelope_id"]
        for row in agency_view.inbox_rows(config.settings, agency):
            if row.sender == sender and row.envelope_id == envelope_id:
                codes = agency_view.handling_view(row.codes)
                return page(request, "dossier.html", row=row, d=row.dossier, codes=codes)
        raise HTTPException(404, "no such dossier in this inbox")

    async def sent(request: Request) -> Response:
        return page(request, "sent.html", items=agency_view.sent_items(config.settings, _agency()))

    async def hits(request: Request) -> Response:
        agency, acting = _acting()
        return page(
            request,
            "hits.html",
            hits=agency_view.hit_notifications(config.settings, agency),
            requests=agency_view.received_requests(config.settings, agency),
            decisions=acting.decisions,
            connected=acting.connected,
            done=request.query_params.get("done"),
        )

    async def grant(request: Request) -> Response:
        form = await checked_form(request)
        _, acting = _acting()
        request_id = request.path_params["request_id"]
        release_to = [str(v) for v in form.getlist("release_to")]
        if not release_to:
            raise HTTPException(400, "tick at least one agency to release to (or deny)")
        await acting.grant(request_id, release_to)
        return RedirectResponse(f"/hits?done={request_id}#req-{request_id}", status_code=303)

    async def deny(request: Request) -> Response:
        await checked_form(request)
        _, acting = _acting()
        request_id = request.path_params["request_id"]
        await acting.grant(request_id, [])
        return RedirectResponse(f"/hits?done={request_id}#req-{request_id}", status_code=303)

    # -- the hub ------------------------------------------------------------------------

    def _hub_path() -> Path:
        if not config.is_hub or config.agency is None:
            raise HTTPException(404, "this agency runs no hub")
        return home.hub_db(config.settings, config.agency)

    async def hub(request: Request) -> Response:
        with hub_view.open_index(_hub_path()) as idx:
            summary = hub_view.hub_summary(idx)
            graphs = hub_view.graph_clusters(idx)
        return page(request, "hub.html", r=summary, graphs=graphs)

    # -- the auditor ----------------------------------------------------------------

    def _audit() -> AuditState:
        if audit is None:
            raise HTTPException(404)
        return audit

    async def audit_page(request: Request) -> Response:
        state = _audit()
        verifier = await state.verifier()
        return page(
            request,
            "audit.html",
            report=verifier.report,
            streams=stream_rows(verifier),
            state=state,
        )

    async def audit_verify(request: Request) -> Response:
        await checked_form(request)
        await _audit().verifier(again=True)
        return RedirectResponse("/audit", status_code=303)

    async def audit_trail(request: Request) -> Response:
        state = _audit()
        dossier_id = request.query_params.get("dossier", "").strip()
        steps = trail_rows(await state.verifier(), dossier_id) if dossier_id else []
        return page(request, "trail.html", dossier=dossier_id, steps=steps, state=state)

    async def audit_trail_json(request: Request) -> Response:
        dossier_id = request.query_params.get("dossier", "").strip()
        steps = trail_rows(await _audit().verifier(), dossier_id)
        return _download(steps, f"trail-{dossier_id[:32]}.json")

    async def audit_proof(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        doc = await _audit().proof(event_id)
        return _download(doc, f"proof-{event_id[:40]}.json")

    async def audit_report(request: Request) -> Response:
        verifier = await _audit().verifier()
        return _download(verifier.report.to_json_dict(), "audit-report.json")

    # -- errors -----------------------------------------------------------------------

    async def on_refusal(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ConsoleAccessError):
            raise exc
        return refusal(exc)

    async def on_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, Error):
            raise exc
        return templates.TemplateResponse(request, "error.html", {"error": exc}, status_code=400)

    async def on_http(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise exc
        return PlainTextResponse(f"{exc.status_code}: {exc.detail}\n", status_code=exc.status_code)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if actions is not None and config.follow:
            await actions.follow()
        try:
            yield
        finally:
            if actions is not None:
                await actions.close()

    routes = [
        Route("/", index),
        Route("/login", login),
        Route("/inbox", inbox),
        Route("/api/inbox", inbox_api),
        Route("/dossier/{sender}/{envelope_id}", dossier),
        Route("/sent", sent),
        Route("/hits", hits),
        Route("/requests/{request_id}/grant", grant, methods=["POST"]),
        Route("/requests/{request_id}/deny", deny, methods=["POST"]),
        Route("/hub", hub),
        Route("/audit", audit_page),
        Route("/audit/verify", audit_verify, methods=["POST"]),
        Route("/audit/trail", audit_trail),
        Route("/audit/trail.json", audit_trail_json),
        Route("/audit/proof/{event_id}", audit_proof),
        Route("/audit/report.json", audit_report),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GateMiddleware, gate=gate)],
        exception_handlers={
            ConsoleAccessError: on_refusal,
            Error: on_error,
            HTTPException: on_http,
        },
        lifespan=lifespan,
    )
    app.state.gate = gate
    app.state.config = config
    return app


def _download(doc: Any, filename: str) -> Response:
    safe = "".join(c for c in filename if c.isalnum() or c in "-._") or "download.json"
    return Response(
        json.dumps(doc, indent=2, default=str) + "\n",
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{safe}"'},
    )
