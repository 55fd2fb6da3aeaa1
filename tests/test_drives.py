"""Drive import (G-NetTrack CSV) against direct counting of the files' own contents."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from romanus import drives
from romanus.drives import (
    CQI_EFFICIENCY,
    GAP_MBPS,
    HANDOVER_INTERRUPTION_S,
    INTER_RAT_INTERRUPTION_S,
    UL_DL_RATIO,
    DriveError,
    Handover,
    UplinkCqiModel,
    apply_interruptions,
    downlink_capacity,
    downlink_samples,
    download_gaps,
    drive_stats,
    handovers,
    is_gnettrack,
    kpi_at,
    kpi_series,
    load_drive,
    positions,
    uplink_capacity,
)
from romanus.traces import Trace, TraceError

# The real traces live beside the project (../shared/traces); ROMANUS_SHARED_TRACES overrides.
SHARED = Path(os.environ.get("ROMANUS_SHARED_TRACES", Path(__file__).resolve().parents[2] / "shared" / "traces"))
IRISH = SHARED / "irish-5g"
needs_irish = pytest.mark.skipif(not IRISH.is_dir(), reason=f"irish-5g drives not found at {IRISH}")


def irish_files() -> list[Path]:
    return sorted(IRISH.glob("*.csv")) if IRISH.is_dir() else []


HEADER = (
    "Timestamp,Longitude,Latitude,Speed,Operatorname,CellID,NetworkMode,RSRP,RSRQ,SNR,CQI,RSSI,"
    "DL_bitrate,UL_bitrate,State,PINGAVG,PINGMIN,PINGMAX,PINGSTDEV,PINGLOSS,CELLHEX,NODEHEX,LACHEX,"
    "RAWCELLID,NRxRSRP,NRxRSRQ"
)
COLUMNS = HEADER.split(",")
DEFAULT = {
    "Longitude": "-8.4",
    "Latitude": "51.9",
    "Speed": "36",
    "Operatorname": "B",
    "CellID": "12",
    "NetworkMode": "LTE",
    "RSRP": "-90",
    "RSRQ": "-10",
    "SNR": "5.0",
    "CQI": "9",
    "RSSI": "-70",
    "DL_bitrate": "8000",
    "UL_bitrate": "100",
    "State": "D",
    "PINGAVG": "-",
    "PINGMIN": "-",
    "PINGMAX": "-",
    "PINGSTDEV": "-",
    "PINGLOSS": "-",
    "CELLHEX": "C",
    "NODEHEX": "A81B",
    "LACHEX": "9CBA",
    "RAWCELLID": "11016972",
    "NRxRSRP": "-",
    "NRxRSRQ": "-",
}


def row(second: int, **fields: object) -> str:
    """A log row at ``second`` seconds after 2020-01-16 07:00:00."""
    stamp = (dt.datetime(2020, 1, 16, 7) + dt.timedelta(seconds=second)).strftime("%Y.%m.%d_%H.%M.%S")
    values = {**DEFAULT, "Timestamp": stamp, **{k: str(v) for k, v in fields.items()}}
    return ",".join(values[c] for c in COLUMNS)


def write(tmp_path: Path, rows: list[str], name: str = "B_2020.01.16_07.00.00.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


# --- parsing --------------------------------------------------------------------------------


def test_a_gnettrack_log_is_told_by_its_header(tmp_path: Path) -> None:
    log = write(tmp_path, [row(0), row(1)])
    cooked = tmp_path / "cooked.txt"
    cooked.write_text("0 1.5\n1 2.0\n")
    assert is_gnettrack(log)
    assert not is_gnettrack(cooked)
    assert not is_gnettrack(tmp_path / "absent.csv")


def test_repeated_seconds_are_spread_evenly_inside_their_second(tmp_path: Path) -> None:
    # seconds 0, 0, 1, 1, 1, 3 (second 2 missing): row j of k in second s at s + j/k
    d = load_drive(write(tmp_path, [row(s) for s in (0, 0, 1, 1, 1, 3)]))
    np.testing.assert_allclose(d.time_s, [0.0, 0.5, 1.0, 1 + 1 / 3, 1 + 2 / 3, 3.0])
    assert (np.diff(d.time_s) > 0).all()
    assert d.start == "2020-01-16T07:00:00" and d.day == "2020-01-16"
    assert d.line.tolist() == [2, 3, 4, 5, 6, 7]


def test_fields_are_read_with_units_and_missing_values_as_nan(tmp_path: Path) -> None:
    rows = [
        row(0, NetworkMode="5G", NRxRSRP="-95.0", NRxRSRQ="2147483647", DL_bitrate="120000"),
        row(1, NetworkMode="HSPA+", SNR="-", CQI="-", RSRQ="-", CellID="10692", RAWCELLID="19737028"),
        row(2, State="I", DL_bitrate="0", NRxRSRQ="-204"),
    ]
    d = load_drive(write(tmp_path, rows))
    assert d.mode_names == ("5G", "LTE", "HSPA+")  # a fixed order, whatever the file's
    assert [d.mode_of(i) for i in range(3)] == ["5G", "HSPA+", "LTE"]
    assert d.dl_mbps.tolist() == [120.0, 8.0, 0.0]
    assert d.downloading.tolist() == [True, True, False]
    assert math.isnan(d.snr_db[1]) and math.isnan(d.cqi[1]) and math.isnan(d.rsrq_db[1])
    assert d.nr_rsrp_dbm[0] == -95.0
    assert math.isnan(d.nr_rsrq_db[0])  # Android's INT_MAX "not reported"
    assert math.isnan(d.nr_rsrq_db[2])  # out of range in an NR column: not reported
    assert d.cell_id.tolist() == [12, 10692, 12]
    assert d.global_cell_id.tolist() == [11016972, 19737028, 11016972]
    assert len(d.sha256) == 64 and d.name == "B_2020.01.16_07.00.00"
    with pytest.raises(ValueError, match="read-only"):
        d.dl_mbps[0] = 1.0  # a frozen drive's samples are frozen too


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row(2, RSRP="strong"), "RSRP 'strong' is not a number"),
        (row(2, Latitude="123.0"), "Latitude 123.0 outside"),
        (row(2, CQI="16"), "CQI 16 outside"),
        (row(2, DL_bitrate="-5"), "DL_bitrate -5 outside"),
        (row(2).replace("2020.01.16_07.00.02", "16/01/2020 07:00:02"), "is not YYYY.MM.DD_hh.mm.ss"),
        (row(0), "goes back in time"),
        (row(2) + ",extra", "expected 26 comma-separated fields, got 27"),
        (row(2, State="?"), "State '?' is not a G-NetTrack state"),
        (row(2, CellID="12a"), "CellID '12a' is not a non-negative integer"),
        (row(2, DL_bitrate="-"), "DL_bitrate missing while downloading"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path, [row(0), row(1), bad, row(3)])
    with pytest.raises(DriveError) as info:
        load_drive(path)
    assert isinstance(info.value, TraceError)  # the CLI prints a TraceError as one line
    assert str(info.value).startswith(f"{path}: line 4: ")
    assert message in str(info.value)
    assert info.value.line == 4


def test_bounds_refuse_corrupt_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = write(tmp_path, [row(0)] * 11 + [row(1)], "many.csv")
    with pytest.raises(DriveError, match="more than 10 rows in one second"):
        load_drive(many)
    glued = write(tmp_path, [row(0), row(3601)], "glued.csv")
    with pytest.raises(DriveError, match="two logs in one file"):
        load_drive(glued)
    with pytest.raises(DriveError, match="at least two samples"):
        load_drive(write(tmp_path, [row(0)], "one.csv"))
    with pytest.raises(DriveError, match="header lacks CellID"):
        load_drive(_no_cellid(tmp_path))
    monkeypatch.setattr(drives, "_MAX_BYTES", 100)
    with pytest.raises(DriveError, match="larger than"):
        load_drive(write(tmp_path, [row(0), row(1)], "big.csv"))


def _no_cellid(tmp_path: Path) -> Path:
    path = tmp_path / "nocell.csv"
    path.write_text(HEADER.replace("CellID,", "Cell,") + "\n" + row(0) + "\n")
    return path


# --- capacity -------------------------------------------------------------------------------


def _expected_integral(d: drives.Drive) -> float:
    """Sum of DL samples x their durations, written out: sample i covers (t_{i-1}, t_i], idle
    samples hold the last measurement (the first one before any)."""
    measured = d.downloading & ~download_gaps(d)  # the pauses between downloads are held too
    first = next(i for i in range(len(d)) if measured[i])
    held = d.dl_mbps[first]
    total = 0.0
    for i in range(len(d)):
        if measured[i]:
            held = d.dl_mbps[i]
        if i > 0:
            total += held * (d.time_s[i] - d.time_s[i - 1])
    return total


def test_pauses_between_downloads_are_told_from_stalls(tmp_path: Path) -> None:
    """A short low stretch between rows carrying the download, the signal unchanged, is the
    test app starting its next file (held); longer, or with the signal moving, or between slow
    rows, it is a stall (kept)."""
    fast = [row(i, DL_bitrate="11000") for i in range(5)]
    cases = {
        "pause": ([row(5, DL_bitrate="0"), row(6, DL_bitrate="40")], [True, True]),
        "long": ([row(5 + k, DL_bitrate="0") for k in range(4)], [False] * 4),
        "signal": ([row(5, DL_bitrate="0", RSRP="-110"), row(6, DL_bitrate="0", RSRP="-112")], [False, False]),
    }
    for name, (middle, expected) in cases.items():
        after = [row(20 + i, DL_bitrate="9000") for i in range(5)]
        d = load_drive(write(tmp_path, [*fast, *middle, *after], name=f"B_2020.01.16_07.00.0{len(name)}.csv"))
        gaps = download_gaps(d)
        assert gaps[5 : 5 + len(middle)].tolist() == expected, name
        assert not gaps[:5].any() and not gaps[5 + len(middle) :].any(), name
        held = downlink_samples(d)
        if expected[0]:
            assert (held[5 : 5 + len(middle)] == 11.0).all()  # the last measurement, held
            assert (downlink_samples(d, idle="zero")[5:7] == [0.0, 0.04]).all()  # raw with idle="zero"
        else:
            assert (held[5 : 5 + len(middle)] < GAP_MBPS).all()
    slow = [row(i, DL_bitrate="500") for i in range(5)]
    d = load_drive(write(tmp_path, [*slow, row(5, DL_bitrate="0"), *[row(6 + i, DL_bitrate="500") for i in range(5)]]))
    assert not download_gaps(d).any()  # between slow rows: a stall of a weak link


@needs_irish
def test_the_irish_drives_pauses_come_every_dozen_seconds_with_the_signal_unchanged() -> None:
    """docs/drives.md's figures: the pauses are ~6 % of drive time, mostly 2 rows, and after
    holding them no periodic outage is left (the gaps between their starts cluster near the
    test's file time; the stalls that remain do not)."""
    share, starts_gap, lengths = [], [], []
    for f in irish_files():
        d = load_drive(f)
        g = download_gaps(d)
        share.append(float(np.diff(d.time_s)[g[1:]].sum() / d.duration_s))
        edge = np.diff(np.r_[0, g.astype(np.int8), 0])
        s, e = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        lengths += (e - s).tolist()
        starts_gap += np.diff(d.time_s[s]).tolist()
    assert 0.04 < float(np.mean(share)) < 0.08
    assert np.mean(np.array(lengths) == 2) > 0.7
    assert 10.0 < float(np.median(starts_gap)) < 60.0


def test_downlink_integral_is_samples_times_durations_with_idle_held(tmp_path: Path) -> None:
    rows = [
        row(0, State="I", DL_bitrate="0"),
        row(1, DL_bitrate="4000"),
        row(1, DL_bitrate="2000"),
        row(2, State="I", DL_bitrate="0"),
        row(4, DL_bitrate="0", RSRP="-118"),  # a real stall while downloading: the signal dropped
        row(5, DL_bitrate="10000"),
    ]
    d = load_drive(write(tmp_path, rows))
    trace = downlink_capacity(d)
    assert isinstance(trace, Trace) and trace.format == "gnettrack:downlink"
    # times 0, 1, 1.5, 2, 4, 5; rates of the intervals ending there: 4, 2, 2 (held), 0, 10
    np.testing.assert_allclose(trace.durations_s, [1.0, 0.5, 0.5, 2.0, 1.0])
    np.testing.assert_allclose(trace.rates_mbps, [4.0, 2.0, 2.0, 0.0, 10.0])
    assert trace.integral_mbit() == pytest.approx(4 + 1 + 1 + 0 + 10)
    assert trace.integral_mbit() == pytest.approx(_expected_integral(d))
    assert downlink_samples(d)[0] == 4.0  # a leading idle row takes the first measurement
    zero = downlink_capacity(d, idle="zero")
    np.testing.assert_allclose(zero.rates_mbps, [4.0, 2.0, 0.0, 0.0, 10.0])


def test_uplink_dl_ratio_scales_the_downlink_per_technology(tmp_path: Path) -> None:
    modes = ["5G", "LTE", "HSPA+", "UMTS", "LTE"]
    d = load_drive(write(tmp_path, [row(i, NetworkMode=m, DL_bitrate="10000") for i, m in enumerate(modes)]))
    up = uplink_capacity(d, "dl_ratio")
    family = {"5G": "nr", "LTE": "lte", "HSPA+": "3g", "UMTS": "3g"}
    np.testing.assert_allclose(up.rates_mbps, [10.0 * UL_DL_RATIO[family[m]] for m in modes[1:]])
    custom = uplink_capacity(d, "dl_ratio", ratios={"nr": 1.0, "lte": 0.5, "3g": 0.1})
    np.testing.assert_allclose(custom.rates_mbps, [5.0, 1.0, 1.0, 5.0])
    with pytest.raises(ValueError, match="unknown uplink model"):
        uplink_capacity(d, "shannon")  # type: ignore[arg-type]


def test_uplink_cqi_follows_ts36213_table_and_falls_back_without_cqi(tmp_path: Path) -> None:
    rows = [
        row(0),
        row(1, CQI="7"),
        row(2, CQI="15"),  # capped at 16QAM
        row(3, CQI="0"),  # out of range: nothing
        row(4, CQI="-", SNR="-", NetworkMode="HSPA+", DL_bitrate="4000"),  # 3G: no CQI
        row(5, CQI="10", State="I", DL_bitrate="0"),  # the modem reports CQI while idle
    ]
    d = load_drive(write(tmp_path, rows))
    m = UplinkCqiModel()
    scale = m.bandwidth_mhz * (1 - m.overhead) * m.scheduling_share
    assert CQI_EFFICIENCY[7] == 1.4766 and CQI_EFFICIENCY[15] == 5.5547  # TS 36.213 Table 7.2.3-1
    up = uplink_capacity(d, "cqi")
    expected = [1.4766 * scale, 2.4063 * scale, 0.0, 4.0 * UL_DL_RATIO["3g"], 2.4063 * scale]
    np.testing.assert_allclose(up.rates_mbps, expected)
    wide = uplink_capacity(d, "cqi", cqi_model=UplinkCqiModel(bandwidth_mhz=20.0, max_efficiency=9.0))
    assert wide.rates_mbps[1] == pytest.approx(5.5547 * 20 * 0.75 * 0.5)


# --- handovers ------------------------------------------------------------------------------


def test_handovers_follow_the_global_cell_identity(tmp_path: Path) -> None:
    rows = [
        row(0, CellID="12", RAWCELLID="11016972", NetworkMode="5G"),
        row(1, CellID="12", RAWCELLID="11112972", NetworkMode="5G"),  # same sector number, other eNB
        row(2, CellID="13", RAWCELLID="11112973", NetworkMode="LTE"),
        row(3, CellID="13", RAWCELLID="11112973", NetworkMode="5G"),  # NR leg added: no handover
        row(4, CellID="-", RAWCELLID="-", NetworkMode="5G"),  # unknown cell: skipped
        row(5, CellID="10692", RAWCELLID="19737028", NetworkMode="HSPA+"),
    ]
    d = load_drive(write(tmp_path, rows))
    hos = handovers(d)
    assert [(h.index, h.from_cell, h.to_cell) for h in hos] == [
        (1, 11016972, 11112972),
        (2, 11112972, 11112973),
        (5, 11112973, 19737028),
    ]
    assert [h.interruption_s for h in hos] == [
        HANDOVER_INTERRUPTION_S["nr"],
        HANDOVER_INTERRUPTION_S["lte"],  # 5G NSA -> LTE rides the same anchor: not inter-RAT
        INTER_RAT_INTERRUPTION_S,
    ]
    assert [h.inter_rat for h in hos] == [False, False, True]
    assert hos[0].time_s == 1.0 and hos[2].from_mode == "5G" and hos[2].to_mode == "HSPA+"
    by_cell_id = handovers(d, "cell_id")
    assert [h.index for h in by_cell_id] == [2, 5]  # misses the change between two sectors 12


def test_interruptions_zero_capacity_and_keep_the_duration() -> None:
    trace = Trace("t", "test", "", np.array([1.0, 1.0, 2.0]), np.array([10.0, 20.0, 30.0]))
    cut = apply_interruptions(trace, [(0.5, 0.2), (1.9, 0.2), (3.95, 1.0), (-1.0, 0.5)])
    assert cut.duration_s == pytest.approx(4.0)
    assert cut.integral_mbit() == pytest.approx(trace.integral_mbit() - 10 * 0.2 - 20 * 0.1 - 30 * 0.1 - 30 * 0.05)
    edges = np.concatenate([[0.0], np.cumsum(cut.durations_s)])
    zero: list[list[float]] = []
    for a, b, r in zip(edges[:-1], edges[1:], cut.rates_mbps, strict=True):
        if r == 0:
            if zero and zero[-1][1] == pytest.approx(a):
                zero[-1][1] = b  # one interruption across a segment boundary
            else:
                zero.append([a, b])
    np.testing.assert_allclose(zero, [(0.5, 0.7), (1.9, 2.1), (3.95, 4.0)])
    overlapping = apply_interruptions(trace, [(0.2, 0.5), (0.4, 0.5)])
    assert overlapping.integral_mbit() == pytest.approx(trace.integral_mbit() - 10 * 0.7)
    ho = Handover(2.0, 2, 1, 2, "LTE", "LTE", 0.05)
    by_handover = apply_interruptions(trace, [ho])  # the interruption ends at the handover's time
    assert by_handover.integral_mbit() == pytest.approx(trace.integral_mbit() - 20 * 0.05)
    assert apply_interruptions(trace, []) is trace


def test_a_window_is_a_drive_of_its_own(tmp_path: Path) -> None:
    d = load_drive(write(tmp_path, [row(s, DL_bitrate=str(1000 * (s + 1))) for s in (0, 1, 1, 2, 3, 4, 5)]))
    w = drives.window(d, 1.5, 2.0)  # times 1.5, 2, 3 (of 0, 1, 1.5, 2, 3, 4, 5)
    np.testing.assert_allclose(w.time_s, [0.0, 0.5, 1.5])
    assert w.dl_mbps.tolist() == [2.0, 3.0, 4.0] and w.line.tolist() == [4, 5, 6]
    assert w.name == f"{d.name}@1.5s" and w.start == "2020-01-16T07:00:01"
    assert downlink_capacity(w).integral_mbit() == pytest.approx(3.0 * 0.5 + 4.0 * 1.0)
    with pytest.raises(DriveError, match="fewer than two samples"):
        drives.window(d, 10.0, 5.0)


def test_find_drives_lists_gnettrack_logs_only(tmp_path: Path) -> None:
    b = write(tmp_path, [row(0), row(1)], "B_2020.02.13_13.03.24.csv")
    a = write(tmp_path, [row(0), row(1)], "B_2019.12.16_07.22.43.csv")
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "cooked.txt").write_text("0 1\n1 2\n")
    assert drives.find_drives(tmp_path) == [a, b]
    with pytest.raises(DriveError, match="not a directory"):
        drives.find_drives(tmp_path / "absent")


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=8),
    rates=st.lists(st.floats(0.0, 100.0), min_size=8, max_size=8),
    cuts=st.lists(st.tuples(st.floats(-2.0, 20.0), st.floats(0.0, 2.0)), max_size=6),
)
def test_interruptions_remove_exactly_the_capacity_of_their_union(
    durations: list[float], rates: list[float], cuts: list[tuple[float, float]]
) -> None:
    trace = Trace("t", "test", "", np.asarray(durations), np.asarray(rates[: len(durations)]))
    edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
    cum = np.concatenate([[0.0], np.cumsum(trace.durations_s * trace.rates_mbps)])
    # the union of the intervals, clipped to the trace, merged
    spans = sorted((max(0.0, a), min(edges[-1], a + d)) for a, d in cuts if d > 0 and a + d > 0 and a < edges[-1])
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    lost = sum(np.interp(b, edges, cum) - np.interp(a, edges, cum) for a, b in merged)
    cut = apply_interruptions(trace, cuts)
    assert cut.duration_s == pytest.approx(trace.duration_s, abs=1e-9)
    assert (cut.durations_s > 0).all()
    assert cut.integral_mbit() == pytest.approx(trace.integral_mbit() - lost, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=2, max_size=30))
def test_placement_is_strictly_increasing_inside_each_second(steps: list[tuple[int, int]]) -> None:
    seconds: list[int] = []
    now = 0
    for gap, repeat in steps:
        now += gap if seconds else 0
        if seconds and gap == 0 and seconds[-1] == now:
            continue  # keep at most ``repeat`` rows per second as generated
        seconds += [now] * repeat
    placed = drives._place(np.asarray(seconds, dtype=np.int64))
    assert (np.diff(placed) > 0).all()
    np.testing.assert_array_equal(np.floor(placed + 1e-12), np.asarray(seconds) - seconds[0])


def test_drive_trace_composes_the_pieces_once_per_file_version(tmp_path: Path) -> None:
    rows = [row(0), row(1), row(2, CellID="13", RAWCELLID="11016973"), row(3, NetworkMode="5G")]
    path = write(tmp_path, rows)
    d = load_drive(path)
    up = drives.drive_trace(path)
    expected = apply_interruptions(uplink_capacity(d, "dl_ratio"), handovers(d))
    np.testing.assert_array_equal(up.durations_s, expected.durations_s)
    np.testing.assert_array_equal(up.rates_mbps, expected.rates_mbps)
    assert up.format == "gnettrack:uplink/dl_ratio+handovers" and up.sha256 == d.sha256
    assert drives.drive_trace(path) is up  # cached
    down = drives.drive_trace(path, "downlink", handover_interruptions=False)
    np.testing.assert_array_equal(down.rates_mbps, downlink_capacity(d).rates_mbps)
    with pytest.raises(DriveError, match="cannot read"):
        drives.drive_trace(tmp_path / "absent.csv")


# --- KPIs and statistics --------------------------------------------------------------------


def test_kpis_are_the_newest_sample_a_delay_before(tmp_path: Path) -> None:
    rows = [row(0, RSRP="-80"), row(1, RSRP="-90"), row(1, RSRP="-95"), row(3, RSRP="-100", NetworkMode="5G")]
    d = load_drive(write(tmp_path, rows))  # times 0, 1, 1.5, 3
    assert kpi_at(d, 2.0, delay_s=0.5)["rsrp_dbm"] == -95.0  # newest at or before 1.5
    assert kpi_at(d, 2.0, delay_s=1.0)["rsrp_dbm"] == -90.0  # at or before 1.0: exactly 1.0
    assert kpi_at(d, 3.0, delay_s=0.0)["network_mode"] == "5G"
    early = kpi_at(d, 0.5, delay_s=1.0)
    assert early["valid"] is False and math.isnan(float(early["rsrp_dbm"])) and early["network_mode"] == ""
    got = kpi_at(d, 2.4, delay_s=0.5)
    assert got["sample_time_s"] == 1.5 and got["age_s"] == pytest.approx(0.9)
    times = np.linspace(-1.0, 5.0, 61)
    series = kpi_series(d, times, delay_s=0.3)
    for k, t in enumerate(times):
        one = kpi_at(d, float(t), delay_s=0.3)
        assert np.array_equal(series["rsrp_dbm"][k], one["rsrp_dbm"], equal_nan=True)
    with pytest.raises(ValueError, match="negative"):
        kpi_at(d, 1.0, delay_s=-0.1)


def test_drive_stats_add_up(tmp_path: Path) -> None:
    rows = [
        row(0, Latitude="51.900", NetworkMode="5G", DL_bitrate="20000"),
        row(1, Latitude="51.900", NetworkMode="5G", DL_bitrate="20000"),
        row(2, Latitude="51.901", NetworkMode="LTE", CellID="13", RAWCELLID="11016973", DL_bitrate="0", RSRP="-118"),
        row(4, Latitude="51.902", NetworkMode="LTE", CellID="13", RAWCELLID="11016973", DL_bitrate="10000"),
    ]
    d = load_drive(write(tmp_path, rows))
    s = drive_stats(d)
    # 0.002 degrees of latitude on a 6371.0088 km sphere
    assert s["distance_km"] == pytest.approx(2 * math.pi * 6371.0088 * 0.002 / 360, rel=1e-9)
    assert s["duration_s"] == 4.0 and s["mean_speed_kmh"] == pytest.approx(s["distance_km"] / 4 * 3600)
    assert s["handovers"] == 1 and s["mean_time_between_handovers_s"] == 4.0
    # time-weighted over intervals (t_{i-1}, t_i]: 5G 1 s, LTE 3 s; no capacity 1 s of 4
    assert s["mode_share_5G"] == 0.25 and s["mode_share_LTE"] == 0.75
    assert s["no_capacity_share"] == 0.25 and s["download_gap_share"] == 0.0  # a stall: the signal dropped
    assert s["dl_mean_mbps"] == pytest.approx((20 + 0 + 2 * 10) / 4)
    assert s["ul_mean_mbps_dl_ratio"] == pytest.approx((20 * 0.2 + 2 * 10 * 0.43) / 4)
    assert s["rsrp_dbm_min"] == -118.0 and s["cqi_max"] == 9.0


def test_positions_are_interpolated_between_gps_fixes(tmp_path: Path) -> None:
    lats = ["51.900", "51.900", "51.900", "51.904", "51.904"]
    d = load_drive(write(tmp_path, [row(i, Latitude=lat) for i, lat in enumerate(lats)]))
    _lon, lat = positions(d)
    np.testing.assert_allclose(lat, [51.900, 51.9013333, 51.9026667, 51.904, 51.904], atol=1e-6)
    np.testing.assert_allclose(positions(d, interpolate=False)[1], d.latitude)


def test_drive_map_writes_an_image(tmp_path: Path) -> None:
    from romanus import plots

    rows = [row(i, Latitude=f"{51.9 + i * 1e-4:.4f}", DL_bitrate=str(1000 * i)) for i in range(30)]
    rows[10] = row(10, Latitude="51.901", CellID="13", RAWCELLID="11016973")
    d = load_drive(write(tmp_path, rows))
    out = tmp_path / "map.png"
    plots.drive_map(out, d, downlink_samples(d), "downlink (Mbit/s)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="one value per sample"):
        plots.drive_map(out, d, np.ones(3), "x")


def test_the_module_loads_without_plotting_or_learning() -> None:
    heavy = ("matplotlib", "gymnasium", "torch", "stable_baselines3")
    code = f"import sys, romanus.drives; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""


# --- the real drives ------------------------------------------------------------------------


@needs_irish
@pytest.mark.parametrize("path", irish_files(), ids=lambda p: p.name)
def test_every_irish_drive_loads(path: Path) -> None:
    assert is_gnettrack(path)
    d = load_drive(path)
    rows = sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
    assert len(d) == rows
    assert (np.diff(d.time_s) > 0).all() and d.time_s[0] == 0.0
    # placement never leaves the second the logger wrote
    stamps = [line.split(",", 1)[0] for line in path.read_text().splitlines()[1:]]
    assert np.floor(d.time_s[-1] + 1e-9) == _seconds_between(stamps[0], stamps[-1])
    trace = downlink_capacity(d)
    assert trace.duration_s == pytest.approx(d.time_s[-1])
    assert trace.integral_mbit() == pytest.approx(_expected_integral(d), rel=1e-12)
    up = uplink_capacity(d, "dl_ratio")
    assert 0 < up.integral_mbit() < trace.integral_mbit()
    hos = handovers(d)
    cut = apply_interruptions(trace, hos)
    assert cut.duration_s == pytest.approx(trace.duration_s)
    # each interruption lies inside the interval that ends at its handover's sample
    lost = sum(trace.rates_mbps[h.index - 1] * min(h.interruption_s, trace.durations_s[h.index - 1]) for h in hos)
    assert cut.integral_mbit() == pytest.approx(trace.integral_mbit() - lost, abs=1e-6)
    s = drive_stats(d)
    assert sum(v for k, v in s.items() if k.startswith("mode_share_")) == pytest.approx(1.0)
    assert 5 < s["mean_speed_kmh"] < 90


def _seconds_between(a: str, b: str) -> int:
    fmt = "%Y.%m.%d_%H.%M.%S"
    return int((dt.datetime.strptime(b, fmt) - dt.datetime.strptime(a, fmt)).total_seconds())


@needs_irish
def test_irish_cell_changes_match_the_readme() -> None:
    """651 changes of the CellID column over all 13 drives (the traces README's figure); the
    full cell identity (RAWCELLID) changes 693 times: 44 changes between equal sector numbers
    of two base stations plus none counted twice, less 2 one-row CellID artefacts at a
    technology switch."""
    files = irish_files()
    assert len(files) == 13
    loaded = [load_drive(p) for p in files]
    assert sum(len(d) for d in loaded) == 24712
    assert sum(len(handovers(d, "cell_id")) for d in loaded) == 651
    assert sum(len(handovers(d)) for d in loaded) == 693
    # counted directly from the text, column by column
    for path, d in zip(files, loaded, strict=True):
        lines = path.read_text().splitlines()
        col = lines[0].split(",").index("CellID")
        cells = [line.split(",")[col] for line in lines[1:]]
        assert sum(a != b for a, b in itertools.pairwise(cells)) == len(handovers(d, "cell_id"))
