"""The coverage map: built from drives, looked up by place, ahead along a route, saved and loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_drives import irish_files, row, write

from romanus.coverage import build_coverage, load_coverage
from romanus.drives import load_drive


def _line_drive(tmp_path: Path, name: str, dl_kbps: list[int], lon0: float = -8.4, day: int = 0) -> Path:
    """A drive due east along latitude 51.9, one row a second, ~14 m a second, ``day`` days
    after 2020-01-16."""
    rows = [
        row(86400 * day + i, Longitude=f"{lon0 + 0.0002 * i:.6f}", DL_bitrate=str(v)) for i, v in enumerate(dl_kbps)
    ]
    return write(tmp_path, rows, name=name)


def test_cells_hold_the_time_and_capacity_the_drives_saw_there(tmp_path: Path) -> None:
    # 40 s: the first 20 s at 8 Mbit/s downlink, then a hole (0 Mbit/s)
    d = load_drive(_line_drive(tmp_path, "B_2020.01.16_07.00.00.csv", [8000] * 20 + [0] * 20))
    m = build_coverage([d], cell_m=100.0, outage_mbps=1.0)
    total = sum(c.seconds for c in m.cells.values())
    assert total == pytest.approx(d.time_s[-1])  # every sampled second lands in exactly one cell
    first = m.at(float(d.longitude[2]), float(d.latitude[2]))
    last = m.at(float(d.longitude[-1]), float(d.latitude[-1]))
    assert first is not None and last is not None
    assert first.outage_share == 0.0 and first.uplink_mean_mbps > 1.0
    assert last.outage_share == 1.0 and last.uplink_p90_mbps == 0.0
    assert first.mode_shares == {"LTE": 1.0}
    assert m.at(0.0, 0.0) is None  # never driven there


def test_ahead_walks_the_route_at_the_current_speed(tmp_path: Path) -> None:
    d = load_drive(_line_drive(tmp_path, "B_2020.01.16_07.00.00.csv", [8000] * 20 + [0] * 20))
    m = build_coverage([d], cell_m=100.0)
    lon, lat = d.longitude, d.latitude
    still = m.ahead(lon, lat, 5, 0.0, 3.0)
    assert all(c == m.at(float(lon[5]), float(lat[5])) for c in still)  # standing still: here
    fast = m.ahead(lon, lat, 5, 3.6 * 200.0, 3.0)  # 200 m/s: 600 m on, past the hole's start
    assert fast[-1] is not None and fast[-1].outage_share == 1.0


def test_a_map_round_trips_through_its_file_and_bad_files_are_named(tmp_path: Path) -> None:
    d = load_drive(_line_drive(tmp_path, "B_2020.01.16_07.00.00.csv", [8000] * 30))
    m = build_coverage([d], cell_m=50.0)
    back = load_coverage(m.save(tmp_path / "map.json"))
    assert back.cells == m.cells and back.cell_m == 50.0 and back.origin == m.origin
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_coverage(bad)


@pytest.mark.skipif(not irish_files(), reason="../shared/traces/irish-5g is absent")
def test_a_map_of_other_days_covers_most_of_a_held_out_day() -> None:
    drives = [load_drive(f) for f in irish_files()]
    held = max(d.day for d in drives)
    m = build_coverage([d for d in drives if d.day != held])
    assert all(d.day != held for d in drives if d.source in m.sources)
    test = [d for d in drives if d.day == held]
    seen = np.concatenate(
        [[m.at(float(a), float(b)) is not None for a, b in zip(d.longitude, d.latitude, strict=True)] for d in test]
    )
    assert seen.mean() > 0.7  # the commute repeats: most of a new day's route is on the map


def test_the_cli_reads_a_drive_and_builds_a_map_from_chosen_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from romanus.cli import main

    a = _line_drive(tmp_path, "B_2020.01.16_07.00.00.csv", [8000] * 30)
    _line_drive(tmp_path, "B_2020.01.17_07.00.00.csv", [0] * 30, day=1)
    assert main(["trace", "info", str(a), "--json", "--plot", str(tmp_path / "map.png")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "gnettrack" and info["day"] == "2020-01-16" and info["samples"] == 30
    assert (tmp_path / "map.png").stat().st_size > 0
    out = tmp_path / "cov.json"
    assert main(["coverage", "build", str(tmp_path), "--exclude-days", "2020-01-17", "-o", str(out)]) == 0
    m = load_coverage(out)
    assert len(m.sources) == 1 and all(c.outage_share == 0.0 for c in m.cells.values())
    assert main(["coverage", "build", str(tmp_path), "--days", "1999-01-01", "-o", str(out)]) == 2
    assert "no drive on 1999-01-01" in capsys.readouterr().err
