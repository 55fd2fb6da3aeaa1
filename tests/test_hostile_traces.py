"""Hostile traces (issue 17): absurd spans, exotic digits and overflowing values are one-line
TraceErrors naming the file and line, found in milliseconds and little memory."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from romanus.traces import MAX_SPAN_S, MAX_WINDOWS, TraceError, load_trace, trace_stats


def write(tmp_path: Path, text: str, name: str = "t.trace") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def error(path: str, fmt: str = "auto") -> TraceError:
    with pytest.raises(TraceError) as info:
        load_trace(path, fmt)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return info.value


def test_tiny_mahimahi_trace_with_one_huge_stamp_is_refused_fast_and_small(tmp_path: Path) -> None:
    path = write(tmp_path, "1\n99999999999\n")  # the audit's 14 bytes: 31 s and 3.1 GB before
    assert Path(path).stat().st_size == 14
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        exc = error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 10 * 2**20
    assert str(exc).startswith(f"{path}: line 2: timestamp 99999999999 ms is beyond any plausible trace")


def test_mahimahi_stamp_of_5000_digits_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "1\n2\n" + "9" * 5000 + "\n")
    exc = error(path)
    assert str(exc).startswith(f"{path}: line 3: timestamp 99999999999999999999... ms")
    assert len(str(exc)) < 200


@pytest.mark.parametrize("stamp", ["²", "٣", "1²", "１２"])
def test_mahimahi_exotic_digits_are_refused_with_the_line(tmp_path: Path, stamp: str) -> None:
    path = write(tmp_path, f"1\n{stamp}\n")
    exc = error(path, "mahimahi")
    assert str(exc).startswith(f"{path}: line 2: expected an integer millisecond timestamp")


def test_auto_detection_of_exotic_digits_is_a_trace_error(tmp_path: Path) -> None:
    exc = error(write(tmp_path, "²\n"))
    assert "line 1" in str(exc) and "cannot tell the format" in str(exc)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("0 1\n1 1e308\n2 1\n", 2, "at most 100000 Mbit/s"),
        ("0 1\n1e308 1\n", 2, "spans more than"),
        ("0 1\n1 " + "9" * 5000 + "\n", 2, "expected two numbers"),
        ("0 1\n1 1_000\n", 2, "expected two numbers"),
        ("0 1\n1 inf\n", 2, "finite"),
        ("0 1\n1 ²\n", 2, "expected two numbers"),
    ],
)
def test_cooked_absurd_values_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    exc = error(path, "cooked")
    assert str(exc).startswith(f"{path}: line {line}: "), str(exc)
    assert words in str(exc)


@pytest.mark.parametrize(
    ("text", "words"),
    [("1e308,Mbits/sec\n", "at most 100000"), ("²,Mbits/sec\n", "expected a number"), ("nan,Mbits/sec\n", "finite")],
)
def test_nyu_absurd_values_name_the_line(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, "1,Mbits/sec\n" + text)
    exc = error(path, "nyu")
    assert str(exc).startswith(f"{path}: line 2: ") and words in str(exc)


def test_non_utf8_trace_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    path.write_bytes(b"1\n2\n\xff\n")
    assert str(error(str(path))).startswith(f"{path}: line 3: not UTF-8")


def test_longest_accepted_span_still_parses_sparsely(tmp_path: Path) -> None:
    last = int(MAX_SPAN_S * 1000)
    trace = load_trace(write(tmp_path, f"1\n{last}\n"))
    assert trace.duration_s == pytest.approx(MAX_SPAN_S)
    assert len(trace.durations_s) <= 4  # gaps and busy milliseconds, not one segment per ms
    assert trace.integral_mbit() == pytest.approx(2 * 1500 * 8 / 1e6)


def test_trace_stats_refuse_too_many_windows_and_name_the_smallest_window(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, f"1\n{int(MAX_SPAN_S * 1000)}\n"))
    tracemalloc.start()
    try:
        with pytest.raises(TraceError) as info:
            trace_stats(trace, 100.0)  # 6 million windows
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
    least = int(str(info.value).rsplit("at least ", 1)[1].split()[0])
    assert MAX_SPAN_S * 1000 / least <= MAX_WINDOWS
    assert trace_stats(trace, float(least))["duration_s"] == pytest.approx(MAX_SPAN_S)


@pytest.mark.parametrize("window_ms", [0.0, -100.0, float("nan"), float("inf")])
def test_trace_stats_refuse_degenerate_windows(tmp_path: Path, window_ms: float) -> None:
    trace = load_trace(write(tmp_path, "1\n2\n3\n"))
    with pytest.raises(TraceError, match="window"):
        trace_stats(trace, window_ms)


def test_a_long_valid_trace_parses_in_memory_that_follows_its_distinct_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "long.trace"
    path.write_text("".join(f"{i // 8 + 1}\n" for i in range(800_000)))  # 100 s, 8 packets per ms, 6 MB
    probe = (
        "import resource, sys\n"
        "from romanus.traces import load_trace\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "trace = load_trace(sys.argv[1])\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(trace.duration_s, trace.integral_mbit(), grown)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
    duration, integral, grown_kb = (float(x) for x in out.stdout.split())
    assert duration == pytest.approx(100.0)
    assert integral == pytest.approx(800_000 * 1500 * 8 / 1e6)
    assert grown_kb < 40 * 1024, grown_kb  # text and small arrays; lists of lines and stamps took 90 MB
