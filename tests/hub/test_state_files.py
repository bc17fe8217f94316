"""F12 on the real broker: after a publish / route / consume / hub round, no state file is
readable by another local user."""

from __future__ import annotations

import stat

from broker import home
from broker.topics import HUB
from tests.hub.live import Fed, dossier


async def test_local_user_cannot_read_any_state_file_after_a_real_round(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        await es.publish_dossier(dossier(1, restricted=True), to=["DE-BKA", HUB])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(2, restricted=False), to=[HUB])
    await fed.route(expect=2)
    await fed.hub(expect=2)
    await fed.route(expect=3)
    assert len(await fed.received("DE-BKA", expect=2)) == 2  # the dossier and a hit
    assert len(await fed.received("ES-PN", expect=2)) == 2  # a hit and a release request

    settings = fed.settings
    must = [home.agency_db(settings, a) for a in ("ES-PN", "DE-BKA", HUB)]
    must += [home.hub_db(settings, HUB), home.audit_journal(settings, "router")]
    must += [home.audit_journal(settings, a) for a in ("ES-PN", "DE-BKA", HUB)]
    assert all(p.exists() for p in must), [str(p) for p in must if not p.exists()]
    files = [p for p in settings.state_dir.rglob("*") if p.is_file()]
    dirs = [settings.state_dir, *(p for p in settings.state_dir.rglob("*") if p.is_dir())]
    assert any(p.name.endswith("-wal") for p in files)
    loose = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert {p: m for p, m in loose.items() if m != oct(0o600)} == {}
    assert {str(d): oct(stat.S_IMODE(d.stat().st_mode)) for d in dirs} == {
        str(d): oct(0o700) for d in dirs
    }
