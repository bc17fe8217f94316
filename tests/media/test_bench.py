"""The files/s figure `broker bench --large` will report (no timing is asserted)."""

from __future__ import annotations

from broker.media.bench import measure


def test_measure_hashes_every_generated_picture() -> None:
    rate = measure(count=12, size=32, workers=1)
    assert (rate.files, rate.images, rate.size, rate.workers) == (12, 12, 32, 1)
    assert rate.files_per_s > 0 and rate.cpu_s >= 0
    assert set(rate.to_json()) >= {"files_per_s", "cpu_ms_per_file", "wall_s", "cpu_s"}
