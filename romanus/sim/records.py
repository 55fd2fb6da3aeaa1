"""Per-frame records and the KPIs computed from them."""

from __future__ import annotations

import csv
import io
import math
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from romanus.fileio import atomic_write_bytes
from romanus.pipeline.modes import Mode

__all__ = ["FrameLog", "FrameRecord", "KpiAccumulator", "kpis", "write_frames_csv"]


class FrameRecord(NamedTuple):
    """The outcome of one perception cycle (times from the start of the run)."""

    frame: int
    capture_s: float
    mode: int  # index into the mode catalogue
    scene: int  # index into the catalogue's scenes, at capture time
    latency_ms: float  # capture to fused detections; for an abandoned frame, capture to abandonment
    deadline_met: bool
    completed: bool  # False: abandoned (its unfinished work was cancelled)
    compute_mj: float  # vehicle accelerator energy (active power x busy time)
    radio_mj: float  # radio energy charged to the frame: radio_transfer_mj + radio_state_mj
    uplink_bytes: int  # bytes actually sent
    offloaded: bool  # the mode offloads part of the frame
    robustness: float  # the active branch set's best gate score in this scene
    risky: bool  # deadline missed, or robustness below the scene's required level
    server_wait_ms: float  # queueing delay at the edge server (0 if none)
    rtt_ms: float  # round-trip time drawn for this frame's request (0 if not offloaded)
    radio_transfer_mj: float  # its payload's and results' time on the air (romanus.sim.costs)
    # promotion and tail energy consumed during its period [capture, next capture); the last
    # frame's period lasts until the radio is idle (romanus.sim.radio)
    radio_state_mj: float
    deadline_ms: float  # the deadline in force for this frame (romanus.config.DeadlineConfig)
    fallback: int  # fallback option of the action (0: none; romanus.sim.actions)
    fell_back: bool  # the result was late: the vehicle ran a robust tier itself (fallback.tier)
    # energy of a discarded offload attempt (its radio transfers and its vehicle work), when it fell back
    wasted_mj: float


_FIELDS = FrameRecord._fields


class FrameLog:
    """Column view of a run's frame records, plus run-level energy terms (``idle_mj``: the
    accelerator idle)."""

    def __init__(self, records: Sequence[FrameRecord], *, idle_mj: float = 0.0, duration_s: float = 0.0) -> None:
        self.idle_mj = idle_mj
        self.duration_s = duration_s
        cols: list[Any] = list(zip(*records, strict=True)) if records else [[] for _ in _FIELDS]
        dtypes = {
            "frame": np.int64,
            "mode": np.int64,
            "scene": np.int64,
            "uplink_bytes": np.int64,
            "deadline_met": bool,
            "completed": bool,
            "offloaded": bool,
            "risky": bool,
            "fallback": np.int64,
            "fell_back": bool,
        }
        self.columns: dict[str, np.ndarray] = {
            name: np.asarray(col, dtype=dtypes.get(name, np.float64)) for name, col in zip(_FIELDS, cols, strict=True)
        }

    def __len__(self) -> int:
        return len(self.columns["frame"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]


def _longest_run(flags: np.ndarray) -> int:
    best = cur = 0
    for f in flags.tolist():
        cur = cur + 1 if f else 0
        best = max(best, cur)
    return best


def _age_of_information(capture: np.ndarray, done: np.ndarray, horizon: float) -> tuple[float, float]:
    """Mean and peak age (ms) of the freshest delivered perception over [first capture, horizon].

    Age at time t = t - capture time of the newest frame delivered by t; before the first
    delivery it counts from the first capture.
    """
    if len(capture) == 0 or horizon <= capture[0]:
        return 0.0, 0.0
    order = np.argsort(done, kind="stable")
    t_prev, fresh = float(capture[0]), float(capture[0])
    area = peak = 0.0
    for i in order.tolist():
        t = float(done[i])
        if not math.isfinite(t) or t > horizon:
            break
        a0, a1 = t_prev - fresh, t - fresh
        area += (a0 + a1) / 2.0 * (t - t_prev)
        peak = max(peak, a1)
        fresh = max(fresh, float(capture[i]))
        t_prev = t
    a0, a1 = t_prev - fresh, horizon - fresh
    area += (a0 + a1) / 2.0 * (horizon - t_prev)
    peak = max(peak, a1)
    return area / (horizon - float(capture[0])) * 1000.0, peak * 1000.0


def kpis(log: FrameLog) -> dict[str, float]:
    """Headline metrics of a run (DESIGN.md section 5)."""
    lat = log["latency_ms"]
    done = np.where(log["completed"], log["capture_s"] + lat / 1000.0, np.inf)
    # records come in the order frames resolved; a streak is over consecutive frames
    met_in_order = log["deadline_met"][np.argsort(log["frame"], kind="stable")]
    return _kpi_table(
        len(log),
        compute=float(log["compute_mj"].sum()),
        radio=float(log["radio_mj"].sum()),
        transfer=float(log["radio_transfer_mj"].sum()),
        idle=log.idle_mj,
        risky=int(log["risky"].sum()),
        offloaded=int(log["offloaded"].sum()),
        uplink_bytes=int(log["uplink_bytes"].sum()),
        latency=lat,
        met_in_order=met_in_order,
        capture=log["capture_s"],
        done=done,
        duration_s=log.duration_s,
        armed=int((log["fallback"] > 0).sum()),
        fell_back=int(log["fell_back"].sum()),
        wasted=float(log["wasted_mj"].sum()),
        deadline=float(log["deadline_ms"].sum()),
    )


def _kpi_table(
    n: int,
    *,
    compute: float,
    radio: float,
    transfer: float,
    idle: float,
    risky: int,
    offloaded: int,
    uplink_bytes: int,
    latency: np.ndarray,
    met_in_order: np.ndarray,
    capture: np.ndarray,
    done: np.ndarray,
    duration_s: float,
    armed: int,
    fell_back: int,
    wasted: float,
    deadline: float,
) -> dict[str, float]:
    """The KPI dictionary from a run's totals and per-frame series (one place for both
    :func:`kpis` and :class:`KpiAccumulator`)."""
    if n == 0:
        raise ValueError("no frames recorded")
    aoi_mean, aoi_peak = _age_of_information(capture, done, duration_s)
    return {
        "frames": float(n),
        "energy_per_frame_mj": (compute + radio + idle) / n,
        "compute_energy_per_frame_mj": compute / n,
        "radio_energy_per_frame_mj": radio / n,
        "radio_transfer_energy_per_frame_mj": transfer / n,
        "radio_state_energy_per_frame_mj": (radio - transfer) / n,
        "idle_energy_per_frame_mj": idle / n,
        "accelerator_idle_energy_per_frame_mj": idle / n,
        "risky_rate": risky / n,
        "deadline_miss_rate": 1.0 - float(met_in_order.sum()) / n,
        "latency_p50_ms": float(np.percentile(latency, 50)),
        "latency_p95_ms": float(np.percentile(latency, 95)),
        "latency_p99_ms": float(np.percentile(latency, 99)),
        "longest_miss_streak": float(_longest_run(~met_in_order)),
        "offload_fraction": offloaded / n,
        "uplink_kbytes_per_frame": uplink_bytes / n / 1000.0,
        "aoi_mean_ms": aoi_mean,
        "aoi_peak_ms": aoi_peak,
        "fallback_armed_fraction": armed / n,
        "fallback_rate": fell_back / n,
        "wasted_energy_per_frame_mj": wasted / n,
        "deadline_mean_ms": deadline / n,
    }


class KpiAccumulator:
    """The KPIs of :func:`kpis`, accumulated record by record, for runs too long to keep
    their records (``romanus simulate`` without ``--frames-csv``): totals are running sums;
    the percentiles, the miss streak and the age of information keep 25 bytes a frame
    (latency, capture and delivery times, met flag) instead of a whole record (~700 bytes)."""

    def __init__(self) -> None:
        self.n = 0
        self._compute = self._radio = self._transfer = 0.0
        self._risky = self._offloaded = self._bytes = 0
        self._armed = self._fell_back = 0
        self._wasted = self._deadline = 0.0
        self._lat = array("d")
        self._capture = array("d")
        self._done = array("d")
        self._met = bytearray()  # by frame number

    def add(self, records: Sequence[FrameRecord]) -> None:
        for r in records:
            self.n += 1
            self._compute += r.compute_mj
            self._radio += r.radio_mj
            self._transfer += r.radio_transfer_mj
            self._risky += r.risky
            self._offloaded += r.offloaded
            self._bytes += r.uplink_bytes
            self._armed += r.fallback > 0
            self._fell_back += r.fell_back
            self._wasted += r.wasted_mj
            self._deadline += r.deadline_ms
            self._lat.append(r.latency_ms)
            self._capture.append(r.capture_s)
            self._done.append(r.capture_s + r.latency_ms / 1000.0 if r.completed else math.inf)
            if r.frame >= len(self._met):
                self._met.extend(b"\x00" * (r.frame + 1 - len(self._met)))
            self._met[r.frame] = 1 if r.deadline_met else 0

    def add_state_mj(self, extra_mj: float) -> None:
        """Radio state energy of a record already added (the final tail after the last frame)."""
        self._radio += extra_mj

    def result(self, idle_mj: float, duration_s: float) -> dict[str, float]:
        return _kpi_table(
            self.n,
            compute=self._compute,
            radio=self._radio,
            transfer=self._transfer,
            idle=idle_mj,
            risky=self._risky,
            offloaded=self._offloaded,
            uplink_bytes=self._bytes,
            latency=np.frombuffer(self._lat, dtype=np.float64),
            met_in_order=np.frombuffer(bytes(self._met), dtype=np.uint8).astype(bool),
            capture=np.frombuffer(self._capture, dtype=np.float64),
            done=np.frombuffer(self._done, dtype=np.float64),
            duration_s=duration_s,
            armed=self._armed,
            fell_back=self._fell_back,
            wasted=self._wasted,
            deadline=self._deadline,
        )


def write_frames_csv(log: FrameLog, path: str | Path, modes: Sequence[Mode], scene_names: Sequence[str]) -> None:
    """Write one row per frame, atomically (a partial file never appears at ``path``).

    Besides the record fields, each row names its mode, active branches, placement and scene.
    """
    path = Path(path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = [*_FIELDS[:3], "mode_name", "branches", "placement", *_FIELDS[3:4], "scene_name", *_FIELDS[4:]]
    w.writerow(header)
    cols = [log[f].tolist() for f in _FIELDS]
    for row in zip(*cols, strict=True):
        m = modes[row[2]]
        out = [*row[:3], m.name, "+".join(m.branches), m.placement_text, row[3], scene_names[row[3]], *row[4:]]
        w.writerow([repr(v) if isinstance(v, float) else v for v in out])
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
