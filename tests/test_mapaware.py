"""The map-aware heuristic (``map-aware-greedy``) and the map's per-mode hazard it reads.

Without a place or a map it must be its map-free twin (``risk-budget-greedy``) decision for
decision; with a map it must read the cells the vehicle is about to cross, and its hazard
must be the shortfall probability the docstrings define.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_drives import IRISH, irish_files

from romanus.config import load_preset
from romanus.coverage import CellStats, build_coverage
from romanus.drives import load_drive
from romanus.policies import POLICIES, MapAwareGreedy, make_policy, policy_descriptions, policy_for
from romanus.sim.simulator import Simulator
from romanus.vehicle.mapaware import (
    SAFE_P,
    UPLINK_SHARE,
    MapHazard,
    needed_uplink_mbps,
    shortfall_probability,
)
from romanus.vehicle.view import drive, next_view

LTE_5G = IRISH / "B_2019.12.16_07.22.43.csv"


def cell(p10: float, p50: float, p90: float, outage: float = 0.0, ho: float = 0.0, seconds: float = 60.0) -> CellStats:
    return CellStats(seconds, 3, p50, p10, p50, p90, outage, ho, {"LTE": 1.0})


def test_needed_rate_is_the_payload_over_the_uplinks_share_of_the_deadline() -> None:
    assert needed_uplink_mbps(0.379008, 300.0) == pytest.approx(0.379008 / (0.3 * UPLINK_SHARE))
    assert needed_uplink_mbps(np.array([1.0, 2.0]), 100.0).tolist() == pytest.approx([20.0, 40.0])
    assert math.isinf(float(needed_uplink_mbps(1.0, 0.0)))


def test_shortfall_probability_passes_through_the_cells_quantiles() -> None:
    c = cell(2.0, 6.0, 10.0, outage=0.04)
    got = shortfall_probability(c, 1.0, np.array([0.0, 0.5, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 50.0]))
    assert got.tolist() == pytest.approx([0.0, 0.02, 0.04, 0.1, 0.3, 0.5, 0.9, 0.95, 1.0, 1.0])
    # an outage share above 0.1 (quantiles that disagree with it) keeps a distribution function
    odd = shortfall_probability(cell(0.5, 6.0, 10.0, outage=0.3), 1.0, np.linspace(0, 25, 101))
    assert np.all(np.diff(odd) >= 0) and odd[0] == 0.0 and odd[-1] == 1.0


def test_map_aware_greedy_is_registered_with_a_budget_and_a_fallback_variant() -> None:
    preset = load_preset("default")
    sim = Simulator(preset, 0)
    entry = POLICIES["map-aware-greedy"]
    assert entry.setting is not None and entry.hedged is not None and not entry.default
    p = make_policy("map-aware-greedy+fallback@0.01", sim.catalogue, preset)
    assert isinstance(p, MapAwareGreedy) and p.budget == 0.01 and p.name == "map-aware-greedy+fallback@0.01"
    names = [n for n, _ in policy_descriptions(sim.catalogue)]
    assert {"map-aware-greedy", "map-aware-greedy@X", "map-aware-greedy+fallback"} <= set(names)
    with pytest.raises(ValueError, match="risk budget"):
        make_policy("map-aware-greedy@0", sim.catalogue, preset)


@pytest.mark.parametrize("variant", ["", "+fallback"])
def test_without_a_place_it_is_its_map_free_twin(variant: str) -> None:
    preset = load_preset("default")  # synthetic world: no place, no map
    runs = []
    for family in ("risk-budget-greedy", "map-aware-greedy"):
        sim = Simulator(preset, 3)
        runs.append(drive(sim, policy_for(sim, f"{family}{variant}@0.01"), 400).columns)
    np.testing.assert_array_equal(runs[0]["mode"], runs[1]["mode"])
    np.testing.assert_array_equal(runs[0]["fallback"], runs[1]["fallback"])


needs_irish = pytest.mark.skipif(not irish_files(), reason=f"irish-5g drives not found at {IRISH}")


def drive_preset(tmp_path: Path | None) -> tuple[object, object]:
    overrides: dict[str, object] = {
        "drive": {"file": str(LTE_5G), "start_s": 100.0},
        "uplink": {"model": "drive", "outage": None},
        "downlink": {"model": "drive", "outage": None},
        "radio": {"accounting": "connected"},
        "deadlines": {"model": "speed"},
    }
    cmap = None
    if tmp_path is not None:
        d = load_drive(LTE_5G)
        cmap = build_coverage([load_drive(p) for p in irish_files() if load_drive(p).day != d.day])
        overrides["coverage_map"] = str(cmap.save(tmp_path / "map.json"))
    return load_preset("default", overrides), cmap


@needs_irish
@pytest.mark.parametrize("variant", ["", "+fallback"])
def test_on_a_drive_without_a_map_it_is_its_twin(variant: str) -> None:
    preset, _ = drive_preset(None)
    runs = []
    for family in ("risk-budget-greedy", "map-aware-greedy"):
        sim = Simulator(preset, 5)  # type: ignore[arg-type]
        runs.append(drive(sim, policy_for(sim, f"{family}{variant}@0.002"), 300).columns)
    np.testing.assert_array_equal(runs[0]["mode"], runs[1]["mode"])
    np.testing.assert_array_equal(runs[0]["fallback"], runs[1]["fallback"])


@needs_irish
def test_the_hazard_reads_the_cells_here_and_one_second_ahead(tmp_path: Path) -> None:
    preset, cmap = drive_preset(tmp_path)
    sim = Simulator(preset, 0)  # type: ignore[arg-type]
    hazard = MapHazard.of_preset(preset, sim.catalogue)  # type: ignore[arg-type]
    assert hazard is not None
    off = sim.catalogue.offload_mask
    payload = hazard._payload
    policy = policy_for(sim, "local-robust")
    checked = worse_seen = safe_seen = 0
    for _ in range(600):
        view = next_view(sim)
        risk = hazard(view)
        assert risk is not None
        assert np.all(risk.p_short[~off] == 0) and np.all(risk.safe[~off])
        assert np.all((risk.p_short >= 0) & (risk.p_short <= 1)) and np.all(risk.p_worse >= 0)
        place = sim.world.place
        assert place is not None
        here = cmap.at(*place.position(view.time_s))  # type: ignore[attr-defined]
        ahead = place.lookahead(view.time_s, cmap, 1.0)[0]  # type: ignore[arg-type]
        if here is not None and ahead is not None:
            rate = needed_uplink_mbps(payload, view.deadline_ms)
            q = []
            for c in (here, ahead):
                p_ho = 1.0 - math.exp(-c.handovers_per_s * view.deadline_ms / 1000.0)
                q.append(1.0 - (1.0 - shortfall_probability(c, cmap.outage_mbps, rate)) * (1.0 - p_ho))  # type: ignore[attr-defined]
            np.testing.assert_allclose(risk.p_short[off], np.maximum(q[0], q[1]))
            np.testing.assert_allclose(risk.p_worse[off], np.maximum(q[1] - q[0], 0.0))
            well_seen = all(c.seconds >= 10 and c.drives >= 2 for c in (here, ahead))
            assert np.all(risk.safe[off] == (well_seen & (np.maximum(q[0], q[1]) <= SAFE_P)))
            checked += 1
            worse_seen += bool(np.any(risk.p_worse > 0))
            safe_seen += bool(np.any(risk.safe[off]))
        sim.step(policy.act(view))
    assert checked > 300 and worse_seen > 0 and safe_seen > 0


@needs_irish
def test_with_a_map_it_decides_differently_only_where_the_map_speaks(tmp_path: Path) -> None:
    preset, _ = drive_preset(tmp_path)
    cols = {}
    for family in ("risk-budget-greedy", "map-aware-greedy"):
        sim = Simulator(preset, 1)  # type: ignore[arg-type]
        cols[family] = drive(sim, policy_for(sim, f"{family}@0.002"), 3000).columns
    a, b = cols["risk-budget-greedy"], cols["map-aware-greedy"]
    differ = (a["mode"] != b["mode"]) | (a["fallback"] != b["fallback"])
    assert 0 < differ.sum() < len(differ) / 2  # the map changes some decisions, not most
