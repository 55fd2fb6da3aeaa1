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

Format versions: 1 holds the series above; 2 adds a drive's place (``place_*`` series and a
``place`` manifest entry, see :mod:`romanus.sim.place`). A scenario without a place is still
written as version 1 (a romanus that reads only version 1 reads it); version 1 files load.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from romanus import __version__
from romanus.config import Preset
from romanus.configio import ConfigError, build
from romanus.fileio import atomic_write_bytes
from romanus.rng import SeedPlan
from romanus.sim.place import NAN_ALLOWED, PLACE_ARRAYS, Place
from romanus.sim.simulator import build_catalogue
from romanus.sim.world import DRAW_BLOCK, RecordedWorld, SyntheticBackground, World, synthetic_world
from romanus.traces import load_trace_cached, resolve_trace_path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Scenario",
    "ScenarioError",
    "check_map_for_scenario",
    "drive_windows",
    "list_traces",
    "load_suite",
    "record_drive_suite",
    "record_scenario",
    "record_suite",
    "scenario_summary",
    "trace_override",
]

FORMAT = "romanus-scenario"
FORMAT_VERSION = 2
_PLACE_VERSION = 2  # the first version that holds a place
_MARGIN_S = 1.0  # recorded beyond the last frame's abandonment
_MAX_ENTRY_BYTES = 256 * 2**20
"""Largest series (declared, uncompressed): ten hours of the default world's background."""
_MAX_TOTAL_BYTES = 384 * 2**20
"""All series together: a rejected file never needs more memory than this (plus a little)."""
_MAX_MANIFEST_BYTES = 16 * 2**20
_MAX_NPY_HEADER = 10_000
_CHUNK_BYTES = 1 << 20
MAX_DURATION_S = 86_400.0
"""Longest scenario (one simulated day)."""
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
            place=self.place(),
        )
        return rec.world()

    def place(self) -> Place | None:
        """The drive's place this scenario recorded (None for a synthetic world)."""
        meta = self.manifest.get("place")
        if meta is None:
            return None
        arrays = {k: self.arrays[f"place_{k}"] for k in PLACE_ARRAYS}
        return Place(arrays, tuple(meta["mode_names"]), float(meta["kpi_delay_s"]))

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: str | Path, created_utc: str | None = None) -> Path:
        """Write atomically; two recordings of the same world give identical bytes when
        ``created_utc`` is the same (it is the only field outside the checksum)."""
        path = Path(path)
        total = sum(np.asarray(v).nbytes for v in self.arrays.values())
        if total > _MAX_TOTAL_BYTES:
            raise ValueError(
                f"{path}: the scenario holds {total:,} bytes of series, more than a scenario file may "
                f"({_MAX_TOTAL_BYTES:,}); record shorter scenarios"
            )
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
        """Read and verify a scenario file; nothing is returned unless all of it checks out.

        Reading is bounded: every member's declared size is checked against a cap (and each
        series' size against the shape its header declares) before it is read; the checksum
        is verified streaming, before any series is kept in memory; series are read into
        arrays of their declared size, never whole into an intermediate buffer. After the
        checksum the content is validated (ranges, lengths, finiteness): a crafted file whose
        checksum matches is still refused if replay could not use it.
        """
        source = str(path)
        try:
            with zipfile.ZipFile(path) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                if "manifest.json" not in infos:
                    raise ScenarioError(source, "not a scenario: no manifest.json")
                manifest = _read_manifest(zf, infos["manifest.json"], source)
                series = _series_members(infos, source)
                _validate_manifest(manifest, set(series), source)
                headers = {name: _npy_header(zf, info, source) for name, info in series.items()}
                if _streamed_checksum(zf, manifest, series, headers) != manifest["checksum"]:
                    raise ScenarioError(source, "checksum mismatch: the file was modified or corrupted")
                arrays = {name: _read_series(zf, series[name], headers[name]) for name in series}
        except ScenarioError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as exc:
            raise ScenarioError(source, f"cannot read (truncated or not a scenario?): {exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ScenarioError(source, f"corrupted manifest: {type(exc).__name__}: {str(exc)[:200]}") from None
        except Exception as exc:  # zlib and friends: any failure to decode is a corrupted file
            raise ScenarioError(source, f"corrupted: {type(exc).__name__}: {str(exc)[:200]}") from None
        scenario = cls(manifest, arrays, source)
        scenario._validate(source)
        return scenario

    def _validate(self, source: str) -> None:
        """Semantic checks of a checksum-valid scenario: everything replay relies on."""
        m, a = self.manifest, self.arrays
        preset = self.preset  # a ScenarioError naming the file if the preset does not build
        scenes = m["scenes"]
        if not isinstance(scenes, list) or scenes != list(preset.pipeline.robustness):
            raise ScenarioError(source, "manifest.json: scenes do not match the preset's scene types")
        period_s = preset.period_ms / 1000.0
        duration, frames, horizon = m["duration_s"], m["frames"], m["horizon_s"]
        if not (_is_number(duration) and period_s <= duration <= MAX_DURATION_S):
            raise ScenarioError(
                source, f"manifest.json: duration_s must be in [{period_s:g}, {MAX_DURATION_S:g}] s, got {duration!r}"
            )
        if not _is_int(frames) or frames != math.floor(duration * 1000.0 / preset.period_ms + 1e-9):  # as recorded
            raise ScenarioError(source, f"manifest.json: frames {frames!r} does not match duration_s {duration:g}")
        if not (_is_number(horizon) and frames * period_s <= horizon <= duration + 3600.0):
            raise ScenarioError(source, f"manifest.json: horizon_s {horizon!r} does not cover the frames")
        if not _is_int(m["seed"]) or m["seed"] < 0:
            raise ScenarioError(source, f"manifest.json: seed must be a non-negative integer, got {m['seed']!r}")
        for key in ("uplink_ended", "downlink_ended"):
            if not isinstance(m[key], bool):
                raise ScenarioError(source, f"manifest.json: {key} must be true or false")
        floats = [n for n in a if n not in _INTEGER_SERIES and n not in _NAN_SERIES]
        for name in a:
            arr = a[name]
            if arr.ndim != 1:
                raise ScenarioError(source, f"{name}.npy: expected a 1-D series, got shape {arr.shape}")
            kind = "iu" if name in _INTEGER_SERIES else "f"
            if arr.dtype.kind not in kind:
                raise ScenarioError(source, f"{name}.npy: unexpected dtype {arr.dtype}")
        for name in floats:
            if not np.all(np.isfinite(a[name])):
                raise ScenarioError(source, f"{name}.npy: holds NaN or infinite values")
        for name in _NAN_SERIES & set(a):
            if np.any(np.isinf(a[name])):
                raise ScenarioError(source, f"{name}.npy: holds infinite values")
        if "place" in m:
            self._validate_place(source)
        # scenes: change points from 0, in order; ids index the preset's scene types
        starts, ids = a["scene_starts"], a["scene_ids"]
        if len(starts) != len(ids) or len(ids) == 0:
            raise ScenarioError(source, "scene_starts.npy / scene_ids.npy: inconsistent or empty")
        if starts[0] != 0.0 or np.any(np.diff(starts) < 0):
            raise ScenarioError(source, "scene_starts.npy: must start at 0 and not decrease")
        bad = (ids < 0) | (ids >= len(scenes))
        if bad.any():
            raise ScenarioError(
                source, f"scene_ids.npy: scene id {int(ids[bad][0])} is out of range (0..{len(scenes) - 1})"
            )
        # links: chunked piecewise-constant capacity covering the horizon unless the link ended
        for prefix in ("uplink", "downlink"):
            d, r, c = a[f"{prefix}_durations"], a[f"{prefix}_rates"], a[f"{prefix}_chunks"]
            if len(r) != len(d) or np.any(c < 1) or int(c.sum()) != len(d):
                raise ScenarioError(source, f"{prefix}_*.npy: {prefix} series have inconsistent lengths")
            if np.any(d <= 0) or np.any(r < 0):
                raise ScenarioError(source, f"{prefix}_durations/rates.npy: durations must be > 0 and rates >= 0")
            covered = float(d.sum())
            if not m[f"{prefix}_ended"] and covered < horizon:
                raise ScenarioError(
                    source, f"{prefix}_durations.npy: covers {covered:g} s of the {horizon:g} s the replay needs"
                )
        # per-frame draws: whole blocks, at least one per frame; RTTs >= 0, service factors > 0
        for name in ("rtt_s", "jitter"):
            v = a[name]
            if len(v) < frames + 1 or len(v) % DRAW_BLOCK:
                raise ScenarioError(
                    source,
                    f"{name}.npy: {len(v)} values; replay needs whole blocks of {DRAW_BLOCK} for {frames} frames",
                )
        if np.any(a["rtt_s"] < 0):
            raise ScenarioError(source, "rtt_s.npy: round-trip times must be >= 0")
        if np.any(a["jitter"] <= 0):
            raise ScenarioError(source, "jitter.npy: service-time factors must be > 0")
        if "bg_times" in a:
            times, services, counts, ends = a["bg_times"], a["bg_services"], a["bg_windows"], a["bg_window_ends"]
            if len(services) != len(times) or len(counts) != len(ends) or np.any(counts < 0):
                raise ScenarioError(source, "bg_*.npy: background series have inconsistent lengths")
            if int(counts.sum()) != len(times):
                raise ScenarioError(source, "bg_*.npy: background series have inconsistent lengths")
            if len(ends) == 0 or ends[-1] < horizon or np.any(np.diff(ends) <= 0) or ends[0] <= 0:
                raise ScenarioError(source, "bg_window_ends.npy: windows must increase and cover the horizon")
            if np.any(np.diff(times) < 0) or (len(times) and times[0] < 0) or np.any(services <= 0):
                raise ScenarioError(source, "bg_times/bg_services.npy: arrivals must not decrease, services > 0")
            window_start = np.repeat(np.concatenate([[0.0], ends[:-1]]), counts)
            if np.any(times < window_start) or np.any(times >= np.repeat(ends, counts)):
                raise ScenarioError(source, "bg_times.npy: an arrival lies outside its window")
            if len(a["load_starts"]) != len(a["load_levels"]):
                raise ScenarioError(source, "load_starts.npy / load_levels.npy: inconsistent lengths")
            levels = m.get("load_levels")
            if not isinstance(levels, list) or np.any(a["load_levels"] < 0) or np.any(a["load_levels"] >= len(levels)):
                raise ScenarioError(source, "load_levels.npy: level out of range")

    def _validate_place(self, source: str) -> None:
        meta = self.manifest["place"]
        if not isinstance(meta, dict):
            raise ScenarioError(source, "manifest.json: place must be a mapping")
        names, delay = meta.get("mode_names"), meta.get("kpi_delay_s")
        if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
            raise ScenarioError(source, "manifest.json: place.mode_names must be a non-empty list of names")
        if not (isinstance(delay, int | float) and _is_number(delay) and 0 <= delay <= 60):
            raise ScenarioError(source, "manifest.json: place.kpi_delay_s must be a number in [0, 60]")
        try:
            self.place()
        except ValueError as exc:
            raise ScenarioError(source, f"place_*.npy: {exc}") from None


_INTEGER_SERIES = frozenset(
    {"scene_ids", "uplink_chunks", "downlink_chunks", "bg_windows", "load_levels", "place_mode", "place_cell"}
)
_NAN_SERIES = frozenset(f"place_{k}" for k in NAN_ALLOWED)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_manifest(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> dict[str, Any]:
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise ScenarioError(
            source, f"manifest.json declares {info.file_size:,} bytes (at most {_MAX_MANIFEST_BYTES:,})"
        )
    with zf.open(info) as fh:
        data = fh.read(_MAX_MANIFEST_BYTES + 1)
    if len(data) > _MAX_MANIFEST_BYTES:
        raise ScenarioError(source, "manifest.json is implausibly large")
    manifest = json.loads(data.decode("utf-8"))
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
    return manifest


def _series_members(infos: Mapping[str, zipfile.ZipInfo], source: str) -> dict[str, zipfile.ZipInfo]:
    """The ``.npy`` members by series name, each and all together within the size caps."""
    series = {name[: -len(".npy")]: info for name, info in infos.items() if name.endswith(".npy")}
    total = 0
    for name, info in series.items():
        if info.file_size > _MAX_ENTRY_BYTES:
            raise ScenarioError(
                source, f"{name}.npy declares {info.file_size:,} bytes (at most {_MAX_ENTRY_BYTES:,} per series)"
            )
        total += info.file_size
    if total > _MAX_TOTAL_BYTES:
        raise ScenarioError(source, f"the series declare {total:,} bytes in all (at most {_MAX_TOTAL_BYTES:,})")
    return series


def _validate_manifest(m: dict[str, Any], names: set[str], source: str) -> None:
    """What must hold before anything in the manifest is dereferenced or the checksum computed."""
    required: tuple[str, ...] = (
        "seed",
        "duration_s",
        "frames",
        "horizon_s",
        "checksum",
        "preset",
        "uplink_ended",
        "downlink_ended",
        "scenes",
    )
    for key in required:
        if key not in m:
            raise ScenarioError(source, f"manifest.json: lacks {key!r}")
    if not isinstance(m["preset"], dict):
        raise ScenarioError(source, f"manifest.json: preset must be a mapping, got {type(m['preset']).__name__}")
    if not isinstance(m["checksum"], str):
        raise ScenarioError(source, "manifest.json: checksum must be a string")
    sources = m.get("sources", [])
    if not isinstance(sources, list) or not all(
        isinstance(src, dict) and all(isinstance(src.get(k), str) for k in ("link", "file", "format", "sha256"))
        for src in sources
    ):
        raise ScenarioError(source, "manifest.json: sources must be a list of {link, file, format, sha256} entries")
    server = m["preset"].get("server", {})
    enabled = server.get("enabled", True) if isinstance(server, dict) else True
    expected = [n for part in ("scene", "uplink", "downlink", "draws") for n in _ARRAYS_BY_PART[part]]
    if enabled:
        expected += _ARRAYS_BY_PART["background"]
    if "place" in m:
        if m.get("format_version", 1) < _PLACE_VERSION:
            raise ScenarioError(source, f"manifest.json: a place needs format version {_PLACE_VERSION} or later")
        expected += [f"place_{k}" for k in PLACE_ARRAYS]
    missing = [n for n in expected if n not in names]
    if missing:
        raise ScenarioError(source, f"missing series: {', '.join(missing)}")


@dataclasses.dataclass(frozen=True)
class _NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offset: int  # bytes of magic and header before the data


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> _NpyHeader:
    """Parse a series' .npy header and check the size it declares against the member's."""
    name = info.filename
    with zf.open(info) as f:
        try:
            major, _ = np.lib.format.read_magic(f)
            if major == 1:
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_NPY_HEADER)
            elif major in (2, 3):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_NPY_HEADER)
            else:
                raise ValueError(f"unsupported .npy version {major}")
        except ValueError as exc:
            raise ScenarioError(source, f"series {name} is corrupted: {str(exc)[:200]}") from None
        offset = f.tell()
    if dtype.hasobject or fortran or dtype.kind not in "fiub":
        raise ScenarioError(source, f"series {name} has an unexpected layout ({dtype}, fortran={fortran})")
    count = math.prod(shape)
    if offset + count * dtype.itemsize != info.file_size:
        raise ScenarioError(
            source, f"series {name} is truncated ({info.file_size - offset} bytes for {count} values of {dtype})"
        )
    return _NpyHeader(tuple(shape), dtype, offset)


def _stream(zf: zipfile.ZipFile, info: zipfile.ZipInfo, offset: int) -> Iterator[bytes]:
    """The member's bytes after ``offset``, in bounded chunks (the CRC is checked at the end)."""
    with zf.open(info) as f:
        f.read(offset)
        while chunk := f.read(_CHUNK_BYTES):
            yield chunk


def _streamed_checksum(
    zf: zipfile.ZipFile,
    manifest: Mapping[str, Any],
    series: Mapping[str, zipfile.ZipInfo],
    headers: Mapping[str, _NpyHeader],
) -> str:
    """:func:`_checksum` of the file's content without holding any series in memory."""
    h = hashlib.sha256()
    content = {k: v for k, v in manifest.items() if k not in ("created_utc", "checksum")}
    h.update(json.dumps(content, separators=(",", ":")).encode())
    for name in sorted(series):
        hd = headers[name]
        h.update(f"{name}|{hd.dtype.str}|{hd.shape}|".encode())
        for chunk in _stream(zf, series[name], hd.offset):
            h.update(chunk)
    return h.hexdigest()


def _read_series(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header: _NpyHeader) -> np.ndarray:
    """A series read straight into an array of its declared shape (one copy in memory)."""
    out = np.empty(header.shape, dtype=header.dtype)
    view = memoryview(out.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    pos = 0
    for chunk in _stream(zf, info, header.offset):
        view[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    if pos != view.nbytes:
        raise EOFError(f"{info.filename} ended after {pos} of {view.nbytes} bytes")
    return out


def _preset_dict(preset: Preset) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(preset)))
    for key in ("drive", "coverage_map"):  # absent, as before they existed: v1 readers build it
        if out.get(key) is None:
            out.pop(key, None)
    return out


def record_scenario(
    preset: Preset,
    seed: int,
    duration_s: float,
    *,
    stream_seeds: Mapping[str, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Scenario:
    """Generate the world of ``preset`` from ``seed`` for ``duration_s`` and keep all of it.
    ``extra``: more manifest entries (e.g. a drive scenario's ``drive`` and ``split``)."""
    if not math.isfinite(duration_s) or duration_s * 1000.0 < preset.period_ms:
        raise ValueError(f"duration_s must cover at least one period ({preset.period_ms} ms), got {duration_s!r}")
    if duration_s > MAX_DURATION_S:
        raise ValueError(f"duration_s must be at most {MAX_DURATION_S:g} s (one simulated day), got {duration_s!r}")
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
    place = world.place
    if place is not None:
        for k, v in place.arrays.items():
            arrays[f"place_{k}"] = v.astype(PLACE_ARRAYS[k], copy=True)
    sources = []
    for link, cfg in (("uplink", preset.uplink), ("downlink", preset.downlink)):
        if cfg.model == "drive":
            tr = world.sources[link].inner.trace  # type: ignore[attr-defined]
            sources.append(
                {
                    "link": link,
                    "file": Path(tr.source).name,
                    "format": tr.format,
                    "sha256": tr.sha256,
                    "duration_s": tr.duration_s,
                    "start_s": world.sources.get("drive_start_s") or 0.0,
                }
            )
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
        "format_version": FORMAT_VERSION if place is not None else 1,
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
    if place is not None:
        manifest["place"] = place.meta()
    if extra:
        clash = set(extra) & set(manifest)
        if clash:
            raise ValueError(f"extra manifest entries may not replace {', '.join(sorted(clash))}")
        manifest.update(extra)
    manifest["checksum"] = _checksum(manifest, arrays)
    return Scenario(manifest, arrays)


def _link_stats(durations: np.ndarray, rates: np.ndarray, until_s: float) -> tuple[float, float]:
    """(mean Mbit/s, share of time at zero capacity) over [0, until_s] of a replayed link:
    segments clipped at ``until_s``, and no capacity at all after the last one (a trace
    played without looping ends there; a validated scenario otherwise covers the horizon)."""
    edges = np.concatenate([[0.0], np.cumsum(durations)])
    inside = np.clip(np.minimum(edges[1:], until_s) - np.minimum(edges[:-1], until_s), 0.0, None)
    integral = float((inside * rates).sum())
    zero_time = float(inside[rates <= 0].sum()) + max(0.0, until_s - float(edges[-1]))
    return integral / until_s, min(1.0, zero_time / until_s)


def scenario_summary(sc: Scenario) -> dict[str, Any]:
    """Statistics of a scenario over its ``duration_s``, from exactly what replay uses:
    scene shares from the recorded change points, link means and zero-capacity shares from
    the recorded segments (nothing after a link that ended), background requests that
    arrive during the scenario. ``romanus scenario info`` prints this."""
    m, a = sc.manifest, sc.arrays
    duration = sc.duration_s
    scenes = m["scenes"]
    starts = np.append(a["scene_starts"], np.inf)
    share: dict[str, float] = {}
    for i, s in enumerate(a["scene_ids"].tolist()):
        lo, hi = min(starts[i], duration), min(starts[i + 1], duration)
        if hi > lo:
            share[scenes[s]] = share.get(scenes[s], 0.0) + (hi - lo) / duration
    up_mean, up_zero = _link_stats(a["uplink_durations"], a["uplink_rates"], duration)
    down_mean, down_zero = _link_stats(a["downlink_durations"], a["downlink_rates"], duration)
    bg = a.get("bg_times")
    return {
        "path": sc.path,
        "format_version": m["format_version"],
        "romanus_version": m.get("romanus_version"),
        "env": m.get("preset_name"),
        "seed": sc.seed,
        "duration_s": duration,
        "frames": sc.frames,
        "checksum": sc.checksum,
        "created_utc": m.get("created_utc"),
        "uplink_mean_mbps": up_mean,
        "uplink_zero_fraction": up_zero,
        "downlink_mean_mbps": down_mean,
        "downlink_zero_fraction": down_zero,
        "scene_share": share,
        "background_requests": 0 if bg is None else int(np.searchsorted(bg, duration, side="left")),
        "sources": m.get("sources", []),
        **{k: m[k] for k in ("drive", "split") if k in m},
    }


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


def drive_windows(duration_s: float, window_s: float | None, period_ms: float) -> list[tuple[float, float]]:
    """(start, duration) of the scenarios of a drive of ``duration_s``: the whole drive, or
    consecutive windows of ``window_s`` (a remainder shorter than a window is left out; a
    drive shorter than one window is one scenario). Durations are whole periods."""

    def whole(d: float) -> float:
        return math.floor(d * 1000.0 / period_ms + 1e-9) * period_ms / 1000.0

    if window_s is None or duration_s < window_s:
        return [(0.0, whole(duration_s))] if whole(duration_s) * 1000.0 >= period_ms else []
    n = math.floor(duration_s / window_s + 1e-9)
    return [(k * window_s, whole(window_s)) for k in range(n)]


def _record_drive_one(args: tuple[str, dict[str, Any], int, float, dict[str, Any], str]) -> dict[str, Any]:
    from romanus.config import load_preset

    env, overrides, seed, duration_s, extra, path = args
    preset = load_preset(env, overrides)
    scenario = record_scenario(preset, seed, duration_s, extra=extra)
    scenario.save(path)
    d = extra["drive"]
    return {
        "file": Path(path).name,
        "drive": d["name"],
        "day": d["day"],
        "split": extra["split"],
        "start_s": d["start_s"],
        "duration_s": duration_s,
        "seed": seed,
        "checksum": scenario.checksum,
    }


def _check_from_training_days(path: str | Path, kind: str, test_drives: Sequence[str]) -> None:
    """A coverage map or capacity library (``kind``: ``map`` or ``library``) named in test
    scenarios must not have seen a test drive (by name; its ``sources``)."""
    from romanus.coverage import load_coverage, load_library

    is_map = kind == "map"
    what = "coverage map" if is_map else "capacity library"
    fix = "coverage build DIR --exclude-days TEST_DAYS" if is_map else "coverage paths TRAINING_SUITE"
    try:
        sources = load_coverage(path).sources if is_map else load_library(path).sources
    except ValueError as exc:
        raise ScenarioError(str(path), str(exc)) from None
    seen = {Path(src).stem for src in sources}
    leaked = [name for name in test_drives if name in seen]
    if leaked:
        raise ScenarioError(
            str(path),
            f"the {what} was built from test-split drive {leaked[0]} ({len(leaked)} in all): build it "
            f"from the training days only (romanus {fix})",
        )


def check_map_for_scenario(coverage_map: str | Path, scenario: Scenario) -> None:
    """A coverage map used with a test-split drive scenario (an env whose preset names the map,
    replaying a suite) must not have seen that scenario's drive: ``ScenarioError`` naming the
    map otherwise (the guard of :func:`record_drive_suite`, at replay)."""
    m = scenario.manifest
    drive = m.get("drive")
    if m.get("split") == "test" and isinstance(drive, dict) and isinstance(drive.get("name"), str):
        _check_from_training_days(coverage_map, "map", [drive["name"]])


def record_drive_suite(
    drives_dir: str | Path,
    out_dir: str | Path,
    *,
    env: str = "default",
    window_s: float | None = None,
    split: str = "all",
    test_days: Sequence[str] | None = None,
    seed: int = 0,
    uplink_model: str = "dl_ratio",
    coverage_map: str | None = None,
    capacity_library: str | None = None,
    workers: int = 1,
    progress: Any = None,
) -> dict[str, list[Path]]:
    """Record one scenario per drive of ``drives_dir`` (G-NetTrack logs, name order), or per
    window of ``window_s`` of each, on ``env``'s world with both links and the place from the
    drive. Drives split by day (:attr:`romanus.drives.Drive.day`): ``test_days`` (default: the
    latest day) are the test split, the other days the training split. Scenarios of split S go
    to ``out_dir/S/`` with an index ``suite.json`` there; ``split`` (``train``, ``test`` or
    ``all``) says which splits are recorded. Scenario ``i`` (counting every window of every
    drive in order, recorded or not) has seed ``seed + i``. Each manifest holds the drive (name,
    file, SHA-256, day, start), its split and the days of both splits. A ``coverage_map`` or a
    ``capacity_library`` (the risk estimate's population prior, :mod:`romanus.vehicle.population`)
    named in the scenarios' preset that saw a test-split drive is refused when test scenarios are
    recorded. Returns the files per split."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from romanus.config import load_preset
    from romanus.drives import find_drives, load_drive_cached

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    if window_s is not None and not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    files = find_drives(drives_dir)
    if not files:
        raise ScenarioError(str(drives_dir), "no G-NetTrack drive logs in this folder")
    drives = [load_drive_cached(f) for f in files]
    days = sorted({d.day for d in drives})
    chosen = sorted(set(test_days)) if test_days else days[-1:]
    unknown = [d for d in chosen if d not in days]
    if unknown:
        raise ScenarioError(str(drives_dir), f"test day {unknown[0]} has no drive (days: {', '.join(days)})")
    train_days = [d for d in days if d not in chosen]
    split_days = {"train": train_days, "test": chosen}
    if split != "train":
        test_drives = [d.name for d in drives if d.day in chosen]
        if coverage_map is not None:
            _check_from_training_days(coverage_map, "map", test_drives)
        if capacity_library is not None:
            _check_from_training_days(capacity_library, "library", test_drives)
    period_ms = load_preset(env).period_ms
    out = Path(out_dir)
    tasks: dict[str, list[tuple[str, dict[str, Any], int, float, dict[str, Any], str]]] = {"train": [], "test": []}
    i = 0
    for path, d in zip(files, drives, strict=True):
        part = "test" if d.day in chosen else "train"
        for k, (start, duration) in enumerate(drive_windows(d.duration_s, window_s, period_ms)):
            overrides: dict[str, Any] = {
                "drive": {"file": str(path), "start_s": start, "uplink_model": uplink_model},
                "uplink": {"model": "drive", "outage": None},
                "downlink": {"model": "drive", "outage": None},
            }
            if coverage_map is not None:
                overrides["coverage_map"] = str(coverage_map)
            if capacity_library is not None:
                overrides["capacity_library"] = str(capacity_library)
            extra = {
                "drive": {
                    "name": d.name,
                    "file": path.name,
                    "sha256": d.sha256,
                    "day": d.day,
                    "start_s": start,
                    "window": k,
                },
                "split": part,
                "split_days": split_days,
            }
            name = f"{d.name}.scenario" if window_s is None else f"{d.name}_w{k:03d}.scenario"
            tasks[part].append((env, overrides, seed + i, duration, extra, str(out / part / name)))
            i += 1
    wanted = ["train", "test"] if split == "all" else [split]
    todo = [t for part in wanted for t in tasks[part]]
    for part in wanted:
        (out / part).mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for entry in pool.map(_record_drive_one, todo):
                index.append(entry)
                if progress is not None:
                    progress(1)
    else:
        for task in todo:
            index.append(_record_drive_one(task))
            if progress is not None:
                progress(1)
    result: dict[str, list[Path]] = {}
    for part in wanted:
        entries = [e for e in index if e["split"] == part]
        doc = {
            "env": env,
            "drives": str(drives_dir),
            "window_s": window_s,
            "uplink_model": uplink_model,
            "coverage_map": coverage_map,
            "capacity_library": capacity_library,
            "split": part,
            "train_days": train_days,
            "test_days": chosen,
            "scenarios": entries,
        }
        atomic_write_bytes(out / part / "suite.json", json.dumps(doc, indent=1).encode())
        result[part] = [out / part / e["file"] for e in entries]
    return result


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
