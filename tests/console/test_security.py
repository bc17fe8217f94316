"""The console's gate, over plain HTTP: no session, a wrong CSRF token, another origin or
another Host are refused for the right reason; every response carries the strict headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from broker.config import Settings
from broker.console import ConsoleConfig, create_app
from broker.console.security import COOKIE, CSP
from broker.errors import ConsoleSessionError, CrossOriginError, CsrfError
from broker.federation import init_federation

ORIGIN = "http://127.0.0.1:8765"
TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console")
    init_federation(Settings(home=path), agencies=["ES-PN", "DE-BKA", "EUROPOL"])
    return path


def _app(home: Path, **kw: object) -> Starlette:
    return create_app(
        ConsoleConfig(settings=Settings(home=home), token=TOKEN, **kw)  # type: ignore[arg-type]
    )


@pytest.fixture
async def agency_app(home: Path) -> Starlette:
    return _app(home, agency="ES-PN")


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, follow_redirects=False
    )


@pytest.fixture
async def signed_in(agency_app: Starlette) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client holding a session cookie, and that session's CSRF token."""
    async with _client(agency_app) as client:
        login = await client.get("/login", params={"token": TOKEN})
        assert login.status_code == 303
        sid = client.cookies[COOKIE]
        yield client, agency_app.state.gate.csrf_of(sid)


def _post_routes(app: Starlette) -> list[str]:
    paths = [r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert paths  # grant, deny (an auditor's app: verify)
    return [p.replace("{request_id}", "0123456789abcdef") for p in paths]


async def test_request_without_the_access_token_is_refused(agency_app: Starlette) -> None:
    async with _client(agency_app) as client:
        for path in ("/inbox", "/api/inbox", "/hits", "/sent"):
            r = await client.get(path)
            assert r.status_code == 401
            assert r.headers["x-refused-reason"] == ConsoleSessionError.reason
        wrong = await client.get("/login", params={"token": "guessed"})
        assert COOKIE not in wrong.cookies and COOKIE not in client.cookies
        assert (await client.get("/inbox")).status_code == 401
        # a forged session cookie is no session either
        client.cookies.set(COOKIE, "forged")
        assert (await client.get("/inbox")).headers["x-refused-reason"] == "console-session"


async def test_login_sets_an_httponly_samesite_strict_cookie(agency_app: Starlette) -> None:
    async with _client(agency_app) as client:
        r = await client.get("/login", params={"token": TOKEN})
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert (await client.get("/inbox")).status_code == 200


async def test_post_with_a_wrong_or_missing_csrf_token_is_refused(
    signed_in: tuple[httpx.AsyncClient, str], agency_app: Starlette
) -> None:
    client, csrf = signed_in
    headers = {"origin": ORIGIN}
    for path in _post_routes(agency_app):
        for data in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}):
            r = await client.post(path, data={**data, "release_to": "DE-BKA"}, headers=headers)
            assert r.status_code == 403, (path, data)
            assert r.headers["x-refused-reason"] == CsrfError.reason


async def test_post_from_another_origin_is_refused(
    signed_in: tuple[httpx.AsyncClient, str], agency_app: Starlette
) -> None:
    client, csrf = signed_in
    for path in _post_routes(agency_app):
        for origin in ({"origin": "http://evil.example"}, {"origin": "null"}, {}):
            r = await client.post(path, data={"csrf": csrf}, headers=origin)
            assert r.status_code == 403, (path, origin)
            assert r.headers["x-refused-reason"] == CrossOriginError.reason


async def test_request_for_another_host_is_refused_dns_rebinding(
    signed_in: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = signed_in
    r = await client.get("/inbox", headers={"host": "rebound.evil.example:8765"})
    assert r.status_code == 403
    assert r.headers["x-refused-reason"] == CrossOriginError.reason


async def test_every_response_forbids_inline_script_and_framing(
    signed_in: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = signed_in
    for path in ("/inbox", "/static/console.js", "/login", "/nowhere"):
        r = await client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    page = (await client.get("/inbox")).text
    assert "<script>" not in page and '<script src="/static/console.js"' in page


async def test_auditor_console_verify_needs_the_csrf_token(home: Path) -> None:
    app = _app(home, auditor=True, archive=home / "no-export")
    async with _client(app) as client:
        await client.get("/login", params={"token": TOKEN})
        r = await client.post("/audit/verify", data={"csrf": "x"}, headers={"origin": ORIGIN})
        assert r.status_code == 403 and r.headers["x-refused-reason"] == "csrf-token"
