"""Real link-capacity traces: parsing, statistics, and a capacity source that plays them.

Formats (detected from the content, or named):

- ``mahimahi``: one line per 1500-byte delivery opportunity, the integer millisecond since
  the start; a repeated timestamp is several packets in that millisecond. The trace repeats
  with a period equal to its last timestamp (mahimahi's ``mm-link`` semantics). An
  opportunity at millisecond ``t`` is carried over ``[t-1, t)`` (``t = 0`` over ``[0, 1)``),
  so the capacity integral over ``[a, b)`` ms counts the opportunities in ``(a, b]``.
- ``cooked``: two whitespace-separated columns ``time_s throughput_Mbps`` (Pensieve); a
  sample describes the interval that *ends* at its time (since the previous sample), as
  Pensieve's simulator and the Norway conversion scripts read it; the trace spans first to
  last time, so the first sample's rate (its interval starts before the trace) is unused.
- ``nyu``: one line per second, ``value,unit`` with unit ``Mbits/sec``, ``Kbits/sec`` or
  ``bits/sec`` (NYU-METS); each value holds for one second.

A trace becomes piecewise-constant capacity (segment durations in s, Mbit/s). Bad input is a
:class:`TraceError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from romanus.fileio import read_bytes_bounded

__all__ = [
    "FORMATS",
    "Trace",
    "TraceError",
    "TraceSource",
    "load_trace",
    "load_trace_cached",
    "resolve_trace_path",
    "trace_stats",
    "window_rates",
]

FORMATS = ("mahimahi", "cooked", "nyu")
TraceFormat = Literal["auto", "mahimahi", "cooked", "nyu"]
PACKET_MBIT = 1500 * 8 / 1e6  # one mahimahi delivery opportunity
_NYU_UNITS = {"mbits/sec": 1.0, "kbits/sec": 1e-3, "bits/sec": 1e-6}
_MAX_BYTES = 32 * 1024 * 1024
"""Largest trace file (published Mahimahi traces are a few MB); lines are parsed one at a
time into typed arrays, so a file of this size needs a few hundred MB at most."""
MAX_SPAN_S = 7 * 86_400.0
"""Longest trace period accepted (a week; published traces span minutes to hours). A longer
span is almost surely a typo or a corrupt stamp, and statistics over it need memory."""
_MAX_MS = int(MAX_SPAN_S * 1000)
MAX_RATE_MBPS = 100_000.0
"""Largest capacity sample (100 Gbit/s), far from float overflow in capacity integrals."""
MAX_WINDOWS = 2_000_000
"""Most statistics windows :func:`trace_stats` computes (memory: a few arrays of this many
floats); a finer window over a long trace is refused with the smallest window that fits."""
_MAHIMAHI_RE = re.compile(r"[0-9]{1,15}")
_NUMBER_CHARS = 40  # a float spelled with more characters is not a trace sample


class TraceError(ValueError):
    """A trace file cannot be used; names the file and, where it applies, the line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}: line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Trace:
    """A capacity trace as piecewise-constant segments (one period of it)."""

    source: str
    format: str
    sha256: str
    durations_s: np.ndarray  # > 0
    rates_mbps: np.ndarray  # >= 0

    @property
    def duration_s(self) -> float:
        return float(self.durations_s.sum())

    def integral_mbit(self) -> float:
        return float((self.durations_s * self.rates_mbps).sum())


def resolve_trace_path(name: str) -> Path:
    """A trace path, or ``builtin:NAME`` for a trace shipped in ``romanus.data.traces``."""
    if name.startswith("builtin:"):
        wanted = name[len("builtin:") :]
        root = importlib.resources.files("romanus.data") / "traces"
        for entry in root.iterdir():
            if entry.name == wanted or entry.name.split(".")[0] == wanted:
                return Path(str(entry))
        known = sorted(e.name.split(".")[0] for e in root.iterdir() if not e.name.startswith(("_", ".")))
        raise TraceError(name, f"no bundled trace of that name (bundled: {', '.join(known)})")
    return Path(name)


_LINES_CHUNK = 1 << 20


def _lines(text: str) -> Iterator[str]:
    """``text.splitlines()`` one line at a time: split in chunks of about a MiB cut after a
    ``\n`` (so a ``\r\n`` is never cut), so memory follows a chunk, not the file."""
    pos = 0
    while pos < len(text):
        cut = text.find("\n", pos + _LINES_CHUNK)
        end = len(text) if cut < 0 else cut + 1
        yield from text[pos:end].splitlines()
        pos = end


def _detect(source: str, lines: Iterable[str]) -> str:
    for i, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "," in line:
            return "nyu"
        if len(line.split()) == 2:
            return "cooked"
        if re.fullmatch(r"[0-9]+", line):
            return "mahimahi"
        raise TraceError(source, f"cannot tell the format from {line[:60]!r} (expected mahimahi, cooked or nyu)", i)
    raise TraceError(source, "the trace is empty")


def _mahimahi(source: str, lines: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    # Stamps do not decrease, so the busy milliseconds and their packet counts are built
    # run by run: memory follows the distinct milliseconds, not the lines.
    bins_a = array("q")
    counts_a = array("q")
    prev = -1
    for i, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not _MAHIMAHI_RE.fullmatch(line):
            if line.isascii() and line.isdigit():
                raise TraceError(source, f"timestamp {line[:20]}... ms is beyond any plausible trace", i)
            raise TraceError(source, f"expected an integer millisecond timestamp, got {line[:60]!r}", i)
        t = int(line)
        if t > _MAX_MS:
            raise TraceError(
                source, f"timestamp {t} ms is beyond any plausible trace (at most {_MAX_MS} ms, {MAX_SPAN_S:g} s)", i
            )
        if t < prev:
            raise TraceError(source, f"timestamps must not decrease ({t} after {prev})", i)
        b = t - 1 if t > 0 else 0  # an opportunity at t is carried over [t-1, t)
        if bins_a and bins_a[-1] == b:
            counts_a[-1] += 1
        else:
            bins_a.append(b)
            counts_a.append(1)
        prev = t
    if not bins_a:
        raise TraceError(source, "the trace has no delivery opportunities")
    period = prev
    if period <= 0:
        raise TraceError(source, "the last timestamp (the trace's period in ms) must be positive")
    # Sparse form: one segment per millisecond that has opportunities, zero-capacity segments
    # for the gaps, so memory follows the number of lines, not the trace's duration.
    bins = np.frombuffer(bins_a, dtype=np.int64)
    counts = np.frombuffer(counts_a, dtype=np.int64)
    starts = bins.astype(np.float64)
    ends = starts + 1.0
    gap_starts = np.concatenate([[0.0], ends])
    gap_ends = np.concatenate([starts, [float(period)]])
    edges = np.empty(2 * len(bins) + 1, dtype=np.float64)  # gap, busy ms, gap, busy ms, ..., gap
    edges[0::2] = gap_ends - gap_starts
    edges[1::2] = 1.0
    rates = np.zeros(2 * len(bins) + 1, dtype=np.float64)
    rates[1::2] = counts * PACKET_MBIT / 1e-3
    keep = edges > 0
    return edges[keep] * 1e-3, rates[keep]


def _number(source: str, text: str, line: int, expected: str = "a number", shown: str | None = None) -> float:
    """A finite decimal number spelled in ASCII (``float`` alone also takes ``inf``, ``nan``,
    ``1_000``, non-ASCII digits and numbers thousands of digits long)."""
    shown = text if shown is None else shown
    if len(text) > _NUMBER_CHARS or not text.isascii() or "_" in text:
        raise TraceError(source, f"expected {expected}, got {shown[:60]!r}", line)
    try:
        value = float(text)
    except ValueError:
        raise TraceError(source, f"expected {expected}, got {shown[:60]!r}", line) from None
    if not math.isfinite(value):
        raise TraceError(source, f"expected finite numbers, got {shown[:60]!r}", line)
    return value


def _cooked(source: str, lines: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    times = array("d")
    rates = array("d")
    for i, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TraceError(source, f"expected two columns 'time_s throughput_Mbps', got {line[:60]!r}", i)
        t, r = (_number(source, part, i, "two numbers", line) for part in parts)
        if not 0 <= r <= MAX_RATE_MBPS:
            raise TraceError(
                source, f"throughput must be >= 0 and at most {MAX_RATE_MBPS:g} Mbit/s, got {parts[1][:40]!r}", i
            )
        if times and t - times[0] > MAX_SPAN_S:
            raise TraceError(source, f"the trace spans more than {MAX_SPAN_S:g} s (time {parts[0][:40]})", i)
        if times and t <= times[-1]:
            raise TraceError(source, f"time must increase ({t} after {times[-1]})", i)
        times.append(t)
        rates.append(r)
    if len(times) < 2:
        raise TraceError(source, "a cooked trace needs at least two samples")
    # sample i's rate held over (t[i-1], t[i]] (Pensieve reads the cooked format so)
    return np.diff(np.frombuffer(times, dtype=np.float64)), np.frombuffer(rates, dtype=np.float64)[1:].copy()


def _nyu(source: str, lines: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    rates = array("d")
    for i, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            raise TraceError(source, f"expected 'value,unit', got {line[:60]!r}", i)
        scale = _NYU_UNITS.get(parts[1].lower())
        if scale is None:
            raise TraceError(source, f"unknown unit {parts[1]!r} (expected Mbits/sec, Kbits/sec or bits/sec)", i)
        value = _number(source, parts[0], i) * scale
        if not 0 <= value <= MAX_RATE_MBPS:
            raise TraceError(
                source, f"throughput must be >= 0 and at most {MAX_RATE_MBPS:g} Mbit/s, got {parts[0][:40]!r}", i
            )
        rates.append(value)
        if len(rates) > MAX_SPAN_S:
            raise TraceError(source, f"the trace spans more than {MAX_SPAN_S:g} s (one line per second)", i)
    if not rates:
        raise TraceError(source, "the trace is empty")
    return np.ones(len(rates)), np.frombuffer(rates, dtype=np.float64).copy()


def load_trace(path: str | Path, fmt: TraceFormat = "auto") -> Trace:
    """Parse a capacity trace file (``builtin:NAME`` for a bundled one)."""
    resolved = resolve_trace_path(str(path))
    source = str(path)
    try:
        data = read_bytes_bounded(resolved, _MAX_BYTES)
    except OSError as exc:
        raise TraceError(source, f"cannot read: {exc.strerror}") from None
    if len(data) > _MAX_BYTES:
        raise TraceError(source, f"larger than {_MAX_BYTES // 2**20} MiB")
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is no content
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TraceError(source, f"not UTF-8 text (byte {exc.start})", line) from None
    del data
    kind = _detect(source, _lines(text)) if fmt == "auto" else fmt
    if kind not in FORMATS:
        raise TraceError(source, f"unknown format {kind!r} (expected one of {', '.join(FORMATS)})")
    parse = {"mahimahi": _mahimahi, "cooked": _cooked, "nyu": _nyu}[kind]
    durations, rates = parse(source, _lines(text))  # one line at a time
    return Trace(source, kind, digest, durations.astype(np.float64), rates.astype(np.float64))


_CACHE: dict[tuple[str, str, int, int], Trace] = {}


def load_trace_cached(path: str, fmt: TraceFormat = "auto") -> Trace:
    """:func:`load_trace`, parsed once per file version per process (episodes reuse traces)."""
    resolved = resolve_trace_path(path)
    try:
        st = resolved.stat()
    except OSError as exc:
        raise TraceError(path, f"cannot read: {exc.strerror}") from None
    key = (str(resolved.resolve()), fmt, st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = load_trace(path, fmt)
    return _CACHE[key]


def window_rates(trace: Trace, window_s: float) -> np.ndarray:
    """Mean capacity over consecutive windows of ``window_s`` covering one period."""
    if not (math.isfinite(window_s) and window_s > 0):
        raise TraceError(
            trace.source, f"the statistics window must be a positive number of ms, got {window_s * 1000:g}"
        )
    n = max(1, math.floor(trace.duration_s / window_s + 1e-9))
    if n > MAX_WINDOWS:
        least_ms = math.ceil(trace.duration_s / MAX_WINDOWS * 1000.0)
        raise TraceError(
            trace.source,
            f"{trace.duration_s:g} s in {window_s * 1000:g} ms windows is more than {MAX_WINDOWS:,} windows; "
            f"use a window of at least {least_ms} ms",
        )
    edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
    cum = np.concatenate([[0.0], np.cumsum(trace.durations_s * trace.rates_mbps)])
    grid = np.arange(n + 1) * window_s
    grid[-1] = min(grid[-1], edges[-1])
    integral = np.interp(grid, edges, cum)
    return np.diff(integral) / np.diff(grid)


def trace_stats(trace: Trace, window_ms: float = 100.0) -> dict[str, float]:
    """Duration, mean and p10/p50/p90 capacity over ``window_ms`` windows, outage share and
    longest outage (windows with no capacity at all)."""
    w = window_rates(trace, window_ms / 1000.0)
    zero = w <= 0.0
    longest = run = 0
    for z in zero.tolist():
        run = run + 1 if z else 0
        longest = max(longest, run)
    return {
        "duration_s": trace.duration_s,
        "mean_mbps": trace.integral_mbit() / trace.duration_s,
        "p10_mbps": float(np.percentile(w, 10)),
        "p50_mbps": float(np.percentile(w, 50)),
        "p90_mbps": float(np.percentile(w, 90)),
        "outage_fraction": float(zero.mean()),
        "longest_outage_s": longest * window_ms / 1000.0,
        "window_ms": window_ms,
    }


class TraceSource:
    """Plays a trace as a capacity source: from ``start_s`` into it, looping or stopping at
    its end, scaled, with optional multiplicative log-normal noise per segment (mean 1,
    coefficient of variation ``noise_cv``) from ``rng``."""

    _CHUNK_SEGMENTS = 20000

    def __init__(
        self,
        trace: Trace,
        *,
        start_s: float = 0.0,
        loop: bool = True,
        scale: float = 1.0,
        noise_cv: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if noise_cv > 0 and rng is None:
            raise ValueError("trace noise needs a generator")
        self.trace = trace
        self.loop = loop
        self.scale = scale
        self.noise_cv = noise_cv
        self._rng = rng
        period = trace.duration_s
        start = start_s % period if loop else start_s
        edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
        i = int(np.searchsorted(edges, start, side="right")) - 1
        if i >= len(trace.durations_s):
            self._durations = np.empty(0)
            self._rates = np.empty(0)
        else:
            first = edges[i + 1] - start
            self._durations = np.concatenate([[first], trace.durations_s[i + 1 :]])
            self._rates = trace.rates_mbps[i:]
        self._pos = 0
        self._done = len(self._durations) == 0

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self._done:
            return None
        if self._pos >= len(self._durations):
            if not self.loop:
                self._done = True
                return None
            self._durations, self._rates, self._pos = self.trace.durations_s, self.trace.rates_mbps, 0
        end = min(self._pos + self._CHUNK_SEGMENTS, len(self._durations))
        d = self._durations[self._pos : end]
        r = self._rates[self._pos : end] * self.scale
        self._pos = end
        if self.noise_cv > 0:
            assert self._rng is not None
            sigma2 = math.log1p(self.noise_cv**2)
            r = r * np.exp(self._rng.normal(-sigma2 / 2.0, math.sqrt(sigma2), len(r)))
        return d.copy(), r
