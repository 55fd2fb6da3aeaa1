"""Scenarios: every exogenous input of a simulation, recorded once, replayed bit for bit.

A scenario holds the scene sequence, uplink and downlink capacity (synthetic or from traces),
the per-frame RTT and service-time draws, and the edge server's background requests and
load levels, for a fixed duration; plus a manifest (format version, romanus version, the
fully resolved preset, seed, duration, source traces with SHA-256, a content checksum).
Policies' own randomness is not part of it. Replaying a scenario under a policy gives
byte-identical frame records in any process, and every policy replaying it faces exactly the
same inputs (common random numbers).

File format: a zip archive written deterministically (fixed entry times and order) holding
``manifest.json`` and one ``.npy`` array per series. The checksum covers the manifest (minus
its creation time and the checksum itself) and every array's name, dtype, shape and bytes.
Loading verifies everything before anything is used: a truncated or corrupted file, a
checksum mismatch or a format from the future is a :class:`ScenarioError`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from romanus import __version__
from romanus.config import Preset
from romanus.configio import ConfigError, build
from romanus.fileio import atomic_write_bytes
from romanus.rng import SeedPlan
from romanus.sim.simulator import build_catalogue
from romanus.sim.world import DRAW_BLOCK, RecordedWorld, SyntheticBackground, World, synthetic_world
from romanus.traces import load_trace_cached, resolve_trace_path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Scenario",
    "ScenarioError",
    "list_traces",
    "load_suite",
    "record_scenario",
    "record_suite",
    "trace_override",
]

FORMAT = "romanus-scenario"
FORMAT_VERSION = 1
_MARGIN_S = 1.0  # recorded beyond the last frame's abandonment
_MAX_ENTRY_BYTES = 1 << 31
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ARRAYS_BY_PART: dict[str, tuple[str, ...]] = {
    "scene": ("scene_starts", "scene_ids"),
    "uplink": ("uplink_durations", "uplink_rates", "uplink_chunks"),
    "downlink": ("downlink_durations", "downlink_rates", "downlink_chunks"),
    "draws": ("rtt_s", "jitter"),
    "background": ("bg_times", "bg_services", "bg_windows", "bg_window_ends", "load_starts", "load_levels"),
}


class ScenarioError(ValueError):
    """A scenario file cannot be used; names the file and what is wrong."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


def _checksum(manifest: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    content = {k: v for k, v in manifest.items() if k not in ("created_utc", "checksum")}
    # Key order is part of the content (the order of branches, scenes and tiers matters).
    h.update(json.dumps(content, separators=(",", ":")).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _concat(chunks: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(chunks).astype(dtype) if chunks else np.empty(0, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A recorded world. Build one with :func:`record_scenario` or :meth:`load`."""

    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: str | None = None

    # -- manifest views ------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def duration_s(self) -> float:
        return float(self.manifest["duration_s"])

    @property
    def frames(self) -> int:
        return int(self.manifest["frames"])

    @property
    def horizon_s(self) -> float:
        return float(self.manifest["horizon_s"])

    @property
    def checksum(self) -> str:
        return str(self.manifest["checksum"])

    @property
    def preset(self) -> Preset:
        source = self.path or "scenario"
        try:
            return build(Preset, self.manifest["preset"], source=f"{source} (manifest preset)")
        except ConfigError as exc:
            raise ScenarioError(source, f"its preset is not valid for this romanus: {exc}") from None

    # -- replay --------------------------------------------------------------------------------

    def world(self) -> World:
        """A fresh world replaying this scenario (each simulation needs its own)."""
        a = self.arrays

        def chunks(prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
            ends = np.cumsum(a[f"{prefix}_chunks"]).tolist()
            starts = [0, *ends[:-1]]
            d, r = a[f"{prefix}_durations"], a[f"{prefix}_rates"]
            return [(d[s:e], r[s:e]) for s, e in zip(starts, ends, strict=True)]

        def blocks(name: str) -> list[np.ndarray]:
            v = a[name]
            return [v[i : i + DRAW_BLOCK] for i in range(0, len(v), DRAW_BLOCK)]

        windows = None
        if "bg_times" in a:
            ends = np.cumsum(a["bg_windows"]).tolist()
            starts = [0, *ends[:-1]]
            windows = [
                (a["bg_times"][s:e], a["bg_services"][s:e], float(w))
                for s, e, w in zip(starts, ends, a["bg_window_ends"].tolist(), strict=True)
            ]
        rec = RecordedWorld(
            scene_starts=a["scene_starts"],
            scene_ids=a["scene_ids"],
            uplink_chunks=chunks("uplink"),
            uplink_ended=bool(self.manifest["uplink_ended"]),
            downlink_chunks=chunks("downlink"),
            downlink_ended=bool(self.manifest["downlink_ended"]),
            rtt_blocks=blocks("rtt_s"),
            jitter_blocks=blocks("jitter"),
            background_windows=windows,
            horizon_s=self.horizon_s,
        )
        return rec.world()

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: str | Path, created_utc: str | None = None) -> Path:
        """Write atomically; two recordings of the same world give identical bytes when
        ``created_utc`` is the same (it is the only field outside the checksum)."""
        path = Path(path)
        manifest = dict(self.manifest)
        manifest["created_utc"] = created_utc or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            entries = [("manifest.json", json.dumps(manifest, indent=1).encode())]
            for name in sorted(self.arrays):
                npy = io.BytesIO()
                np.lib.format.write_array(npy, np.ascontiguousarray(self.arrays[name]), allow_pickle=False)
                entries.append((f"{name}.npy", npy.getvalue()))
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read and verify a scenario file; nothing is returned unless all of it checks out."""
        source = str(path)
        try:
            with zipfile.ZipFile(path) as zf:
                names = {i.filename: i for i in zf.infolist()}
                if "manifest.json" not in names:
                    raise ScenarioError(source, "not a scenario: no manifest.json")
                for info in names.values():
                    if info.file_size > _MAX_ENTRY_BYTES:
                        raise ScenarioError(source, f"entry {info.filename} is implausibly large")
                manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
                if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                    raise ScenarioError(source, f"not a scenario file (format is not {FORMAT!r})")
                version = manifest.get("format_version")
                if not isinstance(version, int) or isinstance(version, bool):
                    raise ScenarioError(source, "the manifest has no integer format_version")
                if version > FORMAT_VERSION:
                    raise ScenarioError(
                        source,
                        f"format version {version} is newer than this romanus reads ({FORMAT_VERSION}); "
                        f"it was written by romanus {manifest.get('romanus_version')}",
                    )
                arrays = {}
                for name in names:
                    if name.endswith(".npy"):
                        arrays[name[: -len(".npy")]] = _read_npy(zf.read(name), source, name)
        except ScenarioError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as exc:
            raise ScenarioError(source, f"cannot read (truncated or not a scenario?): {exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ScenarioError(source, f"corrupted manifest: {exc}") from None
        except Exception as exc:  # zlib and friends: any failure to decode is a corrupted file
            raise ScenarioError(source, f"corrupted: {type(exc).__name__}: {exc}") from None
        scenario = cls(manifest, arrays, source)
        scenario._validate(source)
        return scenario

    def _validate(self, source: str) -> None:
        m, a = self.manifest, self.arrays
        required = ("seed", "duration_s", "frames", "horizon_s", "checksum", "preset", "uplink_ended", "downlink_ended")
        for key in required:
            if key not in m:
                raise ScenarioError(source, f"the manifest lacks {key!r}")
        expected = [n for part in ("scene", "uplink", "downlink", "draws") for n in _ARRAYS_BY_PART[part]]
        if m["preset"].get("server", {}).get("enabled", True):
            expected += _ARRAYS_BY_PART["background"]
        missing = [n for n in expected if n not in a]
        if missing:
            raise ScenarioError(source, f"missing series: {', '.join(missing)}")
        if _checksum(m, a) != m["checksum"]:
            raise ScenarioError(source, "checksum mismatch: the file was modified or corrupted")
        for prefix in ("uplink", "downlink"):
            n = len(a[f"{prefix}_durations"])
            if len(a[f"{prefix}_rates"]) != n or int(a[f"{prefix}_chunks"].sum()) != n:
                raise ScenarioError(source, f"{prefix} series have inconsistent lengths")
        if len(a["scene_starts"]) != len(a["scene_ids"]) or len(a["rtt_s"]) != len(a["jitter"]):
            raise ScenarioError(source, "scene or per-frame series have inconsistent lengths")
        if "bg_times" in a and int(a["bg_windows"].sum()) != len(a["bg_times"]):
            raise ScenarioError(source, "background series have inconsistent lengths")


def _read_npy(data: bytes, source: str, name: str) -> np.ndarray:
    """Parse one .npy entry, checking its header against its size before allocating."""
    f = io.BytesIO(data)
    try:
        major, _ = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif major in (2, 3):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {major}")
    except ValueError as exc:
        raise ScenarioError(source, f"series {name} is corrupted: {exc}") from None
    if dtype.hasobject or fortran or dtype.kind not in "fiub":
        raise ScenarioError(source, f"series {name} has an unexpected layout ({dtype}, fortran={fortran})")
    count = math.prod(shape)
    payload = data[f.tell() :]
    if len(payload) != count * dtype.itemsize:
        raise ScenarioError(source, f"series {name} is truncated ({len(payload)} bytes for {count} values)")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()


def _preset_dict(preset: Preset) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(preset)))


def record_scenario(
    preset: Preset,
    seed: int,
    duration_s: float,
    *,
    stream_seeds: Mapping[str, int] | None = None,
) -> Scenario:
    """Generate the world of ``preset`` from ``seed`` for ``duration_s`` and keep all of it."""
    if duration_s * 1000.0 < preset.period_ms:
        raise ValueError(f"duration_s must cover at least one period ({preset.period_ms} ms)")
    frames = math.floor(duration_s * 1000.0 / preset.period_ms + 1e-9)
    period_s = preset.period_ms / 1000.0
    horizon = frames * period_s + max(preset.abandon_ms, preset.deadline_ms) / 1000.0 + _MARGIN_S
    cat = build_catalogue(preset)
    world = synthetic_world(preset, SeedPlan(seed, stream_seeds), cat.scenes, record=True)
    world.scene.at(horizon)
    starts, ids = world.scene.changes(horizon)
    world.uplink.integral(horizon)
    world.downlink.integral(horizon)
    world.rtt_s[frames]  # per-frame draws for every frame (drawn in whole blocks)
    world.jitter[frames]
    arrays: dict[str, np.ndarray] = {"scene_starts": starts.astype(np.float64), "scene_ids": ids.astype(np.int64)}
    for link in ("uplink", "downlink"):
        src = world.sources[link]
        chunks = src.chunks  # type: ignore[attr-defined]
        arrays[f"{link}_durations"] = _concat([c[0] for c in chunks], np.float64)
        arrays[f"{link}_rates"] = _concat([c[1] for c in chunks], np.float64)
        arrays[f"{link}_chunks"] = np.array([len(c[0]) for c in chunks], dtype=np.int64)
    assert world.rtt_s.blocks is not None and world.jitter.blocks is not None
    arrays["rtt_s"] = _concat(world.rtt_s.blocks, np.float64)
    arrays["jitter"] = _concat(world.jitter.blocks, np.float64)
    level_names: list[str] = []
    if world.background is not None:
        bg = world.background
        end = 0.0
        while end < horizon:
            end = bg.next_window()[2]
        windows = bg.windows  # type: ignore[attr-defined]
        arrays["bg_times"] = _concat([w[0] for w in windows], np.float64)
        arrays["bg_services"] = _concat([w[1] for w in windows], np.float64)
        arrays["bg_windows"] = np.array([len(w[0]) for w in windows], dtype=np.int64)
        arrays["bg_window_ends"] = np.array([w[2] for w in windows], dtype=np.float64)
        synth: SyntheticBackground = world.sources["synthetic_background"]  # type: ignore[assignment]
        arrays["load_starts"] = np.array([s for s, _ in synth.levels], dtype=np.float64)
        arrays["load_levels"] = np.array([lv for _, lv in synth.levels], dtype=np.int64)
        level_names = synth.level_names
    sources = []
    for link, cfg in (("uplink", preset.uplink), ("downlink", preset.downlink)):
        if cfg.model == "trace":
            trace = load_trace_cached(cfg.trace, cfg.format)
            sources.append(
                {
                    "link": link,
                    "trace": cfg.trace,
                    "file": resolve_trace_path(cfg.trace).name,
                    "format": trace.format,
                    "sha256": trace.sha256,
                    "duration_s": trace.duration_s,
                }
            )
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "romanus_version": __version__,
        "preset_name": preset.name,
        "preset": _preset_dict(preset),
        "seed": int(seed),
        "stream_seeds": dict(stream_seeds or {}),
        "duration_s": float(duration_s),
        "frames": frames,
        "horizon_s": horizon,
        "scenes": list(cat.scenes),
        "load_levels": level_names,
        "uplink_ended": bool(world.sources["uplink"].ended),  # type: ignore[attr-defined]
        "downlink_ended": bool(world.sources["downlink"].ended),  # type: ignore[attr-defined]
        "sources": sources,
    }
    manifest["checksum"] = _checksum(manifest, arrays)
    return Scenario(manifest, arrays)


def trace_override(uplink: str | None, downlink: str | None = None) -> dict[str, Any]:
    """Preset overrides that drive the links with traces, each from a random start offset."""
    out: dict[str, Any] = {}
    for link, trace in (("uplink", uplink), ("downlink", downlink)):
        if trace:
            out[link] = {"model": "trace", "trace": trace, "start_s": None, "outage": None}
    return out


def list_traces(folder: str | Path) -> list[str]:
    """The trace files of a folder (sorted; README and hidden files skipped), each checked."""
    from romanus.traces import load_trace

    p = Path(folder)
    if not p.is_dir():
        raise ScenarioError(str(p), "not a folder of traces")
    traces = sorted(str(f) for f in p.iterdir() if f.is_file() and not f.name.startswith((".", "README")))
    if not traces:
        raise ScenarioError(str(p), "no trace files in this folder")
    for t in traces:
        load_trace(t)  # fail early, naming the file and line
    return traces


def _record_one(args: tuple[str, int, float, str | None, str]) -> dict[str, Any]:
    from romanus.config import load_preset

    env, seed, duration_s, trace, path = args
    preset = load_preset(env, trace_override(trace) or None)
    scenario = record_scenario(preset, seed, duration_s)
    scenario.save(path)
    return {"file": Path(path).name, "seed": seed, "trace": trace, "checksum": scenario.checksum}


def record_suite(
    env: str,
    seeds: Sequence[int],
    duration_s: float,
    out_dir: str | Path,
    *,
    uplink_traces: str | Path | None = None,
    workers: int = 1,
    progress: Any = None,
) -> list[Path]:
    """Record one scenario per seed into ``out_dir`` (uplink traces, if given, in turn) and an
    index ``suite.json``; returns the scenario files."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    traces = list_traces(uplink_traces) if uplink_traces else []
    tasks = [
        (env, seed, duration_s, traces[i % len(traces)] if traces else None, str(out / f"seed-{seed:05d}.scenario"))
        for i, seed in enumerate(seeds)
    ]
    index = []
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for entry in pool.map(_record_one, tasks):
                index.append(entry)
                if progress is not None:
                    progress(1)
    else:
        for task in tasks:
            index.append(_record_one(task))
            if progress is not None:
                progress(1)
    doc = {"env": env, "duration_s": duration_s, "scenarios": index}
    atomic_write_bytes(out / "suite.json", json.dumps(doc, indent=1).encode())
    return [out / e["file"] for e in index]


def load_suite(path: str | Path) -> list[Path]:
    """The scenario files of a suite folder (sorted), or ``[path]`` for a single file."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix == ".scenario" and f.is_file())
        if not files:
            raise ScenarioError(str(p), "no .scenario files in this folder")
        return files
    if not p.is_file():
        raise ScenarioError(str(p), "no such scenario file or suite folder")
    return [p]
