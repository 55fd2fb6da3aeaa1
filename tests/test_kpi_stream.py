"""KPIs accumulated as frames resolve equal the KPIs of the kept records (issue 17, item 9)."""

from __future__ import annotations

import pytest

from romanus.config import load_preset
from romanus.policies import make_policy
from romanus.sim.records import KpiAccumulator, kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive


@pytest.mark.parametrize(
    ("preset", "overrides", "policy"),
    [
        ("default", None, "offload-all"),  # the final RRC tail lands on the last frame
        ("default", {"abandon_after_ms": 300.0}, "random"),  # frames resolve out of order
        ("highway_5g", None, "risk-budget-greedy@0.05"),
        ("default_shielded", None, "oracle"),
    ],
)
def test_streamed_kpis_equal_the_kept_records_kpis(preset: str, overrides: dict | None, policy: str) -> None:
    p = load_preset(preset, overrides)
    kept = Simulator(p, 7)
    expected = kpis(drive(kept, make_policy(policy, kept.catalogue, kept.preset, 1), 600))
    streamed = Simulator(p, 7, keep_records=False)
    sink = KpiAccumulator()
    log = drive(streamed, make_policy(policy, streamed.catalogue, streamed.preset, 1), 600, sink=sink)
    assert len(log) == 0  # nothing kept
    got = sink.result(log.idle_mj, log.duration_s)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key


def test_simulate_without_a_frames_csv_keeps_no_records(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from romanus.cli import main

    made: list[Simulator] = []
    original = Simulator.__init__

    def spy(self: Simulator, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Simulator, "__init__", spy)
    assert main(["simulate", "--policy", "offload-all", "--frames", "500", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frames"] == 500 and data["offload_fraction"] == 1.0
    assert made and not made[0].records
