"""The console's gate: one access token, HttpOnly sessions, CSRF tokens, Host/Origin checks.

How a browser gets in, like a notebook server:

1. ``broker console`` prints ``http://127.0.0.1:PORT/login?token=T``; ``T`` is 256 random
   bits, held only in memory. Opening the URL exchanges ``T`` (compared in constant time)
   for a fresh session id in a cookie that is ``HttpOnly`` (no script reads it) and
   ``SameSite=Strict`` (no other site's page sends it), and redirects to ``/``.
2. Every request except ``/login`` and ``/static/*`` needs that session
   (:class:`~broker.errors.ConsoleSessionError`, 401).
3. Every request must name the console itself as ``Host`` (no DNS rebinding), and every
   state-changing request (not GET/HEAD) must carry ``Origin`` equal to the console's own
   (:class:`~broker.errors.CrossOriginError`, 403) and its session's CSRF token, a form field
   ``csrf`` (:func:`checked_form`, :class:`~broker.errors.CsrfError`, 403).
4. Every response carries a strict Content-Security-Policy (scripts and styles from the
   console's own ``/static`` only, nothing inline, no framing), ``X-Frame-Options: DENY``,
   ``nosniff``, ``Referrer-Policy: same-origin`` (``no-referrer`` would make the browser
   send ``Origin: null`` on the console's own POSTs) and ``no-store``.

A refusal answers with the reason code in ``X-Refused-Reason`` and the body.

Example::

    >>> gate = AccessGate(hosts={"127.0.0.1:8765"}, origin="http://127.0.0.1:8765")
    >>> sid = gate.login(gate.token)
    >>> gate.session(sid) == gate.csrf_of(sid)
    True
    >>> gate.login("guess") is None
    True
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import FormData, Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.errors import ConsoleAccessError, ConsoleSessionError, CrossOriginError, CsrfError

__all__ = ["COOKIE", "CSP", "AccessGate", "GateMiddleware", "checked_form", "refusal"]

#: The session cookie's name.
COOKIE = "broker_console"
#: Scripts, styles, images and fetches from the console only; nothing inline, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would send "Origin: null" on our own POSTs
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_OPEN_PATHS = ("/login", "/static/")


class AccessGate:
    """The access token and the sessions it was exchanged for (in memory only)."""

    def __init__(self, *, hosts: Iterable[str], origin: str, token: str | None = None) -> None:
        #: The start-up access token (printed once by ``broker console``).
        self.token = token or secrets.token_urlsafe(32)
        #: ``Host`` values the console answers to (``127.0.0.1:PORT``, ``localhost:PORT``).
        self.hosts = frozenset(hosts)
        #: The console's own origin, e.g. ``http://127.0.0.1:8765``.
        self.origin = origin
        self._sessions: dict[str, str] = {}  # session id -> its CSRF token

    def login(self, token: str) -> str | None:
        """Exchange the access token for a new session id (None if the token is wrong)."""
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return None
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = secrets.token_urlsafe(32)
        return sid

    def session(self, sid: str | None) -> str | None:
        """Return the CSRF token of session ``sid`` (None: no such session)."""
        if not sid:
            return None
        for known, csrf in self._sessions.items():
            if secrets.compare_digest(known.encode(), sid.encode()):
                return csrf
        return None

    def csrf_of(self, sid: str) -> str:
        """The CSRF token of a known session."""
        return self._sessions[sid]

    def check(self, scope: Scope) -> None:
        """Raise the typed refusal for a request that may not pass the gate."""
        headers = Headers(scope=scope)
        if headers.get("host", "") not in self.hosts:
            raise CrossOriginError("request for another host", detail=headers.get("host"))
        method = scope.get("method", "GET")
        if method not in _SAFE_METHODS and headers.get("origin") != self.origin:
            raise CrossOriginError(
                "state-changing request from another origin", detail=headers.get("origin")
            )
        path = str(scope.get("path", ""))
        if path == "/login" or path.startswith("/static/"):
            return
        if self.session(_cookie(headers)) is None:
            raise ConsoleSessionError(
                "no console session: open the URL printed at start-up (with its token)"
            )


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def refusal(exc: ConsoleAccessError) -> Response:
    """The response for a refused request: 401 without a session, else 403; reason in a header."""
    status = 401 if isinstance(exc, ConsoleSessionError) else 403
    return PlainTextResponse(
        f"refused ({exc.reason}): {exc.message}\n",
        status_code=status,
        headers={"x-refused-reason": exc.reason, **SECURITY_HEADERS},
    )


async def checked_form(request: Request) -> FormData:
    """Return the posted form if its ``csrf`` field is this session's token; else CsrfError."""
    gate: AccessGate = request.app.state.gate
    expected = gate.session(request.cookies.get(COOKIE))
    form = await request.form()
    sent = form.get("csrf")
    if expected is None or not isinstance(sent, str) or not sent:
        raise CsrfError("missing CSRF token")
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError("wrong CSRF token")
    return form


class GateMiddleware:
    """ASGI middleware: refuse what the gate refuses, add the security headers to the rest."""

    def __init__(self, app: ASGIApp, *, gate: AccessGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.gate.check(scope)
        except ConsoleAccessError as exc:
            await refusal(exc)(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[Any] = list(message.get("headers", []))
                present = {k.decode().lower() for k, _ in raw}
                raw += [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k not in present
                ]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_headers)
