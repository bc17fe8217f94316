"""`broker status`: which consumer it shows, and the usage error without one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from broker.cli import app


def test_status_without_as_or_router_is_a_usage_error_naming_both(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "--as AGENCY" in result.output and "--router" in result.output
