"""`broker hub report` and `broker hub links` over an index built from real dossiers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from broker.cli import app
from broker.devtools.operation import generate_operation
from broker.hub import HubIndex


def test_report_and_links_on_a_generated_operation(tmp_path: Path) -> None:
    op = generate_operation(seed=7)
    index = HubIndex.open(tmp_path / "state" / "EUROPOL" / "hub.db")
    for i, pub in enumerate(op.dossiers):
        index.add(pub.dossier, agency=pub.agency, envelope_id=f"{i:032x}")
    found = {k for k in index.links() if not k.startswith("pdq:")}
    index.close()
    assert found == set(op.cross_border)  # precision and recall 1.0 on the ground truth

    runner = CliRunner()
    report = runner.invoke(app, ["hub", "report", "--json", "--home", str(tmp_path)])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert data["links"] == len(found) + data["links_by_type"].get("pdq", 0)
    assert data["clusters"] and all(len(c["agencies"]) >= 2 for c in data["clusters"])

    key = next(k for k in op.cross_border if k.startswith("phone:"))
    phone = key.removeprefix("phone:")
    links = runner.invoke(
        app, ["hub", "links", "--selector", phone, "--type", "PHONE_E164", "--home", str(tmp_path)]
    )
    assert links.exit_code == 0, links.output
    assert set(json.loads(links.output)["agencies"]) == op.cross_border[key]
    missing = runner.invoke(app, ["hub", "links", "--selector", "nope", "--home", str(tmp_path)])
    assert missing.exit_code == 1
