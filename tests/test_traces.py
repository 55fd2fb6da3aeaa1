"""Trace import against direct counting of the files' own contents."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from romanus.sim.link import CapacitySeries
from romanus.traces import PACKET_MBIT, TraceError, TraceSource, load_trace, trace_stats

# The real traces live beside the project (../shared/traces); ROMANUS_SHARED_TRACES overrides.
SHARED = Path(os.environ.get("ROMANUS_SHARED_TRACES", Path(__file__).resolve().parents[2] / "shared" / "traces"))
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real traces not found at {SHARED}")


def shared_files(folder: str) -> list[Path]:
    if not SHARED.is_dir():
        return []
    return sorted(p for p in (SHARED / folder).iterdir() if p.is_file() and not p.name.startswith("README"))


@needs_shared
@pytest.mark.parametrize(
    "path", shared_files("mahimahi") + shared_files("norway-3g") + shared_files("nyu-mets"), ids=str
)
def test_every_shared_trace_loads(path: Path) -> None:
    trace = load_trace(path)
    expected = {"mahimahi": "mahimahi", "norway-3g": "cooked", "nyu-mets": "nyu"}[path.parent.name]
    assert trace.format == expected
    assert (trace.durations_s > 0).all() and (trace.rates_mbps >= 0).all()
    assert trace.duration_s > 10 and 0 < trace.integral_mbit() / trace.duration_s < 200
    stats = trace_stats(trace)
    assert stats["p10_mbps"] <= stats["p50_mbps"] <= stats["p90_mbps"]


@needs_shared
@pytest.mark.parametrize("name", ["ATT-LTE-driving-2016.up", "TMobile-LTE-short.up", "Verizon-EVDO-driving.up"])
def test_mahimahi_capacity_equals_counted_delivery_opportunities(name: str) -> None:
    path = SHARED / "mahimahi" / name
    stamps = np.array([int(x) for x in path.read_text().split()], dtype=np.int64)
    period = int(stamps[-1])
    series = CapacitySeries(TraceSource(load_trace(path)))
    rng = np.random.default_rng(0)
    for _ in range(40):
        a = int(rng.integers(0, 2 * period))
        b = a + int(rng.integers(1, 20_000))
        # opportunities at ms t are carried over [t-1, t): a window [a, b) counts t in (a, b]
        looped = np.concatenate([stamps + k * period for k in range(b // period + 2)])
        count = int(((looped > a) & (looped <= b)).sum())
        carried = series.integral(b / 1000) - series.integral(a / 1000)
        assert carried == pytest.approx(count * PACKET_MBIT, abs=1e-6)


@needs_shared
@pytest.mark.parametrize("path", shared_files("norway-3g"), ids=lambda p: p.name)
def test_cooked_mean_is_the_files_time_weighted_mean(path: Path) -> None:
    rows = [tuple(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()]
    t = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    # a sample describes the interval ending at its timestamp (Pensieve's reading)
    weighted = float((np.diff(t) * v[1:]).sum() / (t[-1] - t[0]))
    trace = load_trace(path)
    assert trace.integral_mbit() / trace.duration_s == pytest.approx(weighted, rel=1e-12)
    assert trace.duration_s == pytest.approx(t[-1] - t[0])


@needs_shared
def test_nyu_units_are_normalised() -> None:
    path = SHARED / "nyu-mets" / "bus57.csv"
    lines = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
    scale = {"Mbits/sec": 1.0, "Kbits/sec": 1e-3, "bits/sec": 1e-6}
    expected = np.array([float(v) * scale[u] for v, u in lines])
    assert {u for _, u in lines} >= {"Mbits/sec", "Kbits/sec"}
    trace = load_trace(path)
    assert np.array_equal(trace.rates_mbps, expected)
    assert (trace.durations_s == 1.0).all()


@needs_shared
def test_a_transfer_stalls_through_a_real_outage_and_resumes() -> None:
    trace = load_trace(SHARED / "mahimahi" / "ATT-LTE-driving.up")
    edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
    i = int(np.argmax(np.where(trace.rates_mbps == 0, trace.durations_s, 0)))  # the longest gap
    gap_start, gap_end = edges[i], edges[i + 1]
    assert gap_end - gap_start > 30.0  # a 78 s coverage hole
    series = CapacitySeries(TraceSource(trace))
    start = gap_start - 0.05
    before = series.integral(gap_start) - series.integral(start)
    size = before + 0.05  # more than fits before the hole
    end = series.transfer_end(start, size)
    assert end > gap_end
    assert series.integral(gap_end) == pytest.approx(series.integral(gap_start))  # nothing moves in the hole
    assert series.integral(end) - series.integral(start) == pytest.approx(size, abs=1e-9)


def write(tmp_path: Path, text: str, name: str = "t.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fmt", "line", "words"),
    [
        ("0.0 1.0\n0.5 2.0\n0.4 3.0\n", "cooked", 3, "time must increase"),
        ("0.0 1.0\n0.5 -2.0\n", "cooked", 2, ">= 0"),
        ("0.0 1.0\nabc 2\n", "cooked", 2, "two numbers"),
        ("1,Mbits/sec\n2,Gbits/sec\n", "nyu", 2, "unknown unit"),
        ("1,Mbits/sec\nx,Mbits/sec\n", "nyu", 2, "expected a number"),
        ("1\n2\n1\n", "mahimahi", 3, "must not decrease"),
        ("1\n2\n3.5\n", "mahimahi", 3, "integer millisecond"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path: Path, text: str, fmt: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as err:
        load_trace(path, fmt)  # type: ignore[arg-type]
    assert err.value.line == line and words in str(err.value) and str(path) in str(err.value)


def test_playback_options(tmp_path: Path) -> None:
    # 10 Mbit/s, 0, 20 over 3 s: each sample is the rate of the second that ends at its time
    trace = load_trace(write(tmp_path, "0 0\n1 10\n2 0\n3 20\n"))
    looped = CapacitySeries(TraceSource(trace, start_s=0.5))
    assert looped.integral(2.5) == pytest.approx(0.5 * 10 + 0 + 1 * 20)
    assert looped.integral(3.5) == pytest.approx(0.5 * 10 + 0 + 20 + 1.0 * 10)  # wrapped to the start
    stopped = CapacitySeries(TraceSource(trace, loop=False))
    assert stopped.integral(100.0) == pytest.approx(30.0)
    assert stopped.transfer_end(2.5, 100.0) == math.inf  # no capacity after the trace
    scaled = CapacitySeries(TraceSource(trace, scale=0.5))
    assert scaled.integral(3.0) == pytest.approx(15.0)
    noisy = [
        CapacitySeries(TraceSource(trace, noise_cv=0.3, rng=np.random.default_rng(s))).integral(3000.0)
        for s in (1, 1, 2)
    ]
    assert noisy[0] == noisy[1] != noisy[2]
    assert noisy[0] / 30000.0 == pytest.approx(1.0, rel=0.05)  # the noise has mean 1


def test_bundled_traces_match_their_generator() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_bundled_traces.py"
    subprocess.run([sys.executable, str(script), "--check"], check=True, timeout=120)
    for name in ("lte_urban", "rural_holes", "umts_driving"):
        assert load_trace(f"builtin:{name}").duration_s >= 60.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.text(alphabet="0123456789.,- \t\nKMbitsec/e+x", max_size=300)))
def test_fuzzed_traces_give_clear_errors_or_valid_traces(tmp_path: Path, data: bytes | str) -> None:
    path = tmp_path / "fuzz"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    for fmt in ("auto", "mahimahi", "cooked", "nyu"):
        try:
            trace = load_trace(path, fmt)  # type: ignore[arg-type]
        except TraceError:
            continue
        assert len(trace.durations_s) == len(trace.rates_mbps) > 0
        assert (trace.durations_s > 0).all() and np.isfinite(trace.rates_mbps).all() and (trace.rates_mbps >= 0).all()
        assert trace.duration_s > 0


def test_cooked_sample_describes_the_interval_ending_at_its_time(tmp_path: Path) -> None:
    """Regression: the two-column reader used to apply each rate from its own timestamp on
    (one sample early). Pensieve's simulator charges ``cooked_bw[i]`` over
    ``(cooked_time[i-1], cooked_time[i]]``; recomputed here by hand."""
    path = tmp_path / "x.cooked"
    path.write_text("0 5\n1 0.5\n3 8\n3.5 1\n")
    trace = load_trace(path)
    assert trace.durations_s.tolist() == [1.0, 2.0, 0.5]
    assert trace.rates_mbps.tolist() == [0.5, 8.0, 1.0]
    assert trace.integral_mbit() == pytest.approx(0.5 * 1 + 8.0 * 2 + 1.0 * 0.5)
