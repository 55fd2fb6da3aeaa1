"""Real drives with place: G-NetTrack CSV logs as capacity, handovers, modem KPIs and a route.

A G-NetTrack Pro log (the ``irish-5g`` drives in ``../shared/traces``) has one row per logging
tick (about one per second) with GPS position and speed, the serving cell, the network mode
(5G NSA, LTE, HSPA+, UMTS, ...), the modem's KPIs (RSRP, RSRQ, SNR, CQI) and the throughput of
a saturating bulk **download**. :func:`load_drive` reads it into a :class:`Drive` of per-sample
arrays; the functions below turn it into what the simulator consumes:

- :func:`downlink_capacity`: the measured download throughput as a capacity :class:`Trace`.
- :func:`uplink_capacity`: a *derived* uplink capacity (a model, stated per ``model=``: the
  file's ``UL_bitrate`` is the download's ACK traffic, not uplink capacity).
- :func:`handovers` and :func:`apply_interruptions`: serving-cell changes with an interruption
  time per technology, applied as zero capacity.
- :func:`kpi_at` / :func:`kpi_series`: the modem's KPIs as a vehicle sees them, a reporting
  delay late.
- :func:`drive_trace`: the capacity trace a simulated link plays from a drive file (cached).
- :func:`drive_stats`: the numbers ``romanus trace info`` prints for a drive.
- :func:`find_drives`, :func:`window`, :attr:`Drive.day`: the drives of a folder, a drive cut
  into windows, the day a train/test split goes by.
- :func:`positions`: the GPS position per sample, interpolated between fixes.

Time placement. Timestamps have 1 s resolution; some seconds hold 2-3 rows and some seconds
none (the logging tick is about 1.04 s and jitters). The ``k`` rows stamped with the same
second ``s`` are spread evenly inside it, row ``j`` (0-based, file order) at ``s + j/k``, so the
times are strictly increasing, keep file order, and never leave the second the logger wrote.
``time_s`` is relative to the first row.

Samples and intervals. A throughput logged at ``t_i`` is the mean over the logging interval
that ends there, so sample ``i`` describes ``(t_{i-1}, t_i]``; the first row only opens the
trace (its throughput describes time before the log starts and is not used). A capacity trace
of a drive therefore spans ``[0, time_s[-1]]`` in drive time, and trace time equals drive time.

Idle rows (``State`` without ``D``: the test app paused between downloads, 0.7 % of the
``irish-5g`` rows in runs of 1-6 rows) carry no capacity measurement: their ``DL_bitrate`` is
0 because nothing was requested, not because the link had no capacity. By default the last
measured value is held across them (``idle="hold"``; a leading idle stretch takes the first
measurement), so a paused test does not become a fake outage; ``idle="zero"`` keeps the zeros.

Pauses between downloads while ``State`` stays ``D`` (:func:`download_gaps`): the test app
fetches a file again and again, and between two files the log shows one to three rows below
0.1 Mbit/s with the radio unchanged. In ``irish-5g``: 1,194 runs of 1-2 such rows (954 of
exactly 2, one every ~13-45 s), a median of 11 Mbit/s in the five rows either side, a median
RSRP change of -0.1 dB against them. A coverage hole does not look like that: it lasts longer
or the signal moves. ``idle="hold"`` holds the last measurement across the pauses too (994
runs, 6.2 % of the drive time, 64 % of the time below 0.1 Mbit/s while downloading): kept,
they were outages every ~13 s, and an outage began in 1.2 % of the 100 ms periods 10-30 s
after the last one against 0.06-0.15 % otherwise (the test's rhythm, not the road's; after
holding them: 0.10-0.22 % throughout). A low stretch that is longer, has the signal moving by
more than 3 dB, or lies between slow rows is kept: that is a stall.

Bad input is a :class:`DriveError` (a :class:`~romanus.traces.TraceError`) naming the file and
line. This module is a foundation layer: numpy and the standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from romanus.traces import Trace, TraceError, trace_stats

__all__ = [
    "CQI_EFFICIENCY",
    "HANDOVER_INTERRUPTION_S",
    "INTER_RAT_INTERRUPTION_S",
    "KPI_DELAY_S",
    "UL_DL_RATIO",
    "Drive",
    "DriveError",
    "Handover",
    "UplinkCqiModel",
    "apply_interruptions",
    "downlink_capacity",
    "downlink_samples",
    "download_gaps",
    "drive_stats",
    "drive_trace",
    "find_drives",
    "fix_rows",
    "handovers",
    "haversine_m",
    "interruption_s",
    "is_gnettrack",
    "kpi_at",
    "kpi_series",
    "load_drive",
    "load_drive_cached",
    "local_metres",
    "mode_family",
    "positions",
    "uplink_capacity",
    "uplink_samples",
    "window",
]

_MAX_BYTES = 64 * 1024 * 1024
_MAX_ROWS_PER_SECOND = 10  # the logger ticks about once a second; 10 in one second is corrupt
_MAX_GAP_S = 3600.0  # a longer silence is two logs glued together, not one drive
_ANDROID_UNAVAILABLE = 2147483647  # Integer.MAX_VALUE: Android's "not reported"
_TIME_FORMAT = "%Y.%m.%d_%H.%M.%S"

#: the header columns that make a file a G-NetTrack log
_REQUIRED = (
    "Timestamp",
    "Longitude",
    "Latitude",
    "Speed",
    "CellID",
    "NetworkMode",
    "RSRP",
    "RSRQ",
    "SNR",
    "CQI",
    "DL_bitrate",
    "State",
)

# Physical bounds: outside them a value is corrupt (DriveError), not a measurement.
_BOUNDS: dict[str, tuple[float, float]] = {
    "Longitude": (-180.0, 180.0),
    "Latitude": (-90.0, 90.0),
    "Speed": (0.0, 500.0),  # km/h
    "RSRP": (-160.0, -20.0),  # dBm (3GPP reports -156..-31; RSCP in 3G rows is inside too)
    "RSRQ": (-45.0, 25.0),  # dB (3GPP LTE -34..2.5, NR -43..20; Ec/No in 3G rows)
    "SNR": (-30.0, 50.0),  # dB
    "CQI": (0.0, 15.0),  # 4-bit CQI
    "RSSI": (-130.0, 0.0),  # dBm
    "DL_bitrate": (0.0, 1e7),  # kbit/s (10 Gbit/s)
}
# NR columns come through a newer, less consistent Android API (the irish-5g files hold
# NRxRSRQ = -204 next to the INT_MAX sentinel): out of range there means "not reported".
_SOFT_BOUNDS: dict[str, tuple[float, float]] = {
    "NRxRSRP": (-160.0, -20.0),
    "NRxRSRQ": (-45.0, 25.0),
}


class DriveError(TraceError):
    """A drive log cannot be used; names the file and, where it applies, the line."""


# --- technologies -------------------------------------------------------------------------

Family = Literal["nr", "lte", "3g", "2g", "unknown"]

_FAMILY_OF: dict[str, Family] = {
    "5G": "nr",
    "NR": "nr",
    "NR_NSA": "nr",
    "NR_SA": "nr",
    "LTE": "lte",
    "LTE_CA": "lte",
    "LTE+": "lte",
    "HSPA+": "3g",
    "HSPA": "3g",
    "HSDPA": "3g",
    "HSUPA": "3g",
    "UMTS": "3g",
    "WCDMA": "3g",
    "EDGE": "2g",
    "GPRS": "2g",
    "GSM": "2g",
}
_MODE_ORDER = ("5G", "LTE", "HSPA+", "HSDPA", "HSUPA", "UMTS")


def mode_family(mode: str) -> Family:
    """The radio technology family of a G-NetTrack network-mode name."""
    return _FAMILY_OF.get(mode.upper(), "unknown")


#: Uplink/downlink capacity ratio per technology family, for ``uplink_capacity(model="dl_ratio")``.
#: - lte 0.43: Ookla Speedtest, Ireland, H2 2017 (mostly LTE): mean mobile download 19.97
#:   Mbit/s, upload 8.67 Mbit/s (RTÉ, 30 Jan 2018; Irish Times) -> 8.67/19.97 = 0.43.
#: - nr 0.20: Opensignal 5G User Experience, Jan 2021 (US, mid/low-band 5G): upload 8-14 Mbit/s
#:   against download 47-58 Mbit/s per operator (ratios 0.15-0.25). In EN-DC (5G NSA, as in
#:   Cork 2019/20) the uplink mostly stays on the LTE anchor while the download aggregates NR,
#:   so the ratio is lower than LTE's.
#: - 3g 0.25 [assumed]: HSUPA category 6 peaks at 5.76 Mbit/s against 21.1 Mbit/s for HSPA+
#:   (category 14) downlink: the ratio of the peak rates of the phones' categories.
#: - 2g, unknown 0.25 [assumed]: the 3G value (no EDGE/GPRS rows in the irish-5g drives).
UL_DL_RATIO: dict[str, float] = {"nr": 0.20, "lte": 0.43, "3g": 0.25, "2g": 0.25, "unknown": 0.25}

#: Interruption of user data at a serving-cell change, per family of the target cell (s).
#: - lte 0.050: 3GPP TR 36.881 (Study on latency reduction techniques for LTE), section on
#:   handover interruption, estimates about 49.5 ms for an intra-LTE handover with RACH;
#:   TS 36.133 5.1.2.1 bounds the interruption to T_search + T_IU + 20 ms with T_IU up to
#:   30 ms (RACH), i.e. about 50 ms for a known target. (Quoted from memory: the texts were
#:   not reachable when this was written.)
#: - nr 0.080 [assumed]: a 5G NSA handover is an LTE anchor handover (~50 ms) plus release and
#:   re-addition of the NR secondary cell group before NR data resumes; drive-test teaching
#:   material (5g6gacademy.com, lesson 12.3.5) quotes 30-80 ms for intra-frequency LTE and
#:   50-150 ms for NR handovers.
#: - 3g 0.100 [assumed]: an HS-DSCH serving-cell change is a hard handover synchronised to an
#:   RRC activation time (tens of ms of radio frames plus signalling).
#: - 2g, unknown 0.200 [assumed]: GSM hard handover with TBF re-establishment.
HANDOVER_INTERRUPTION_S: dict[str, float] = {"nr": 0.080, "lte": 0.050, "3g": 0.100, "2g": 0.200, "unknown": 0.200}
#: A change between families other than 5G NSA <-> LTE (e.g. LTE -> HSPA+) is an inter-RAT
#: handover or a redirection [assumed 0.300 s]: it re-establishes the bearer on another core
#: path; reported inter-RAT interruptions run from 100 ms to over 500 ms.
INTER_RAT_INTERRUPTION_S = 0.300

#: Default reporting delay of modem KPIs to the vehicle's planner [assumed 1.0 s]: G-NetTrack
#: (like an Android app using TelephonyManager) reads the modem's last report once per logging
#: tick, so the KPI a planner sees is up to one tick old, and the modem's own L3 filtering
#: smooths over ~200 ms periods before that.
KPI_DELAY_S = 1.0

#: 3GPP TS 36.213 Table 7.2.3-1 (4-bit CQI table): CQI -> spectral efficiency (bit/s/Hz);
#: CQI 0 is "out of range" (no transmission). QPSK 1-6, 16QAM 7-9, 64QAM 10-15.
CQI_EFFICIENCY = np.array(
    [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
     2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]
)  # fmt: skip


@dataclass(frozen=True)
class UplinkCqiModel:
    """Parameters of ``uplink_capacity(model="cqi")``: capacity = efficiency(CQI), capped at
    ``max_efficiency``, x ``bandwidth_mhz`` x (1 - ``overhead``) x ``scheduling_share``.

    All [assumed], with reasons:

    - ``bandwidth_mhz`` 10: phones of 2019/20 transmit on one FDD carrier (no uplink carrier
      aggregation; in EN-DC the uplink stays on the LTE anchor); Irish 800 MHz carriers are
      10 MHz and 1800 MHz ones 15-20 MHz, so 10 MHz is the common case.
    - ``overhead`` 0.25: DMRS takes 2 of 14 SC-FDMA symbols (14 %), PUCCH the band-edge
      resource blocks (~8 % at 10 MHz), SRS a few % more.
    - ``scheduling_share`` 0.5: a proportional-fair scheduler gives each of N active uplink
      users about 1/N of the resources; 0.5 is one other active user on average.
    - ``max_efficiency`` 2.4063 (CQI 9, 16QAM): the CQI describes the *downlink* SINR; the
      uplink transmits with 23 dBm against the base station's ~46 dBm, so a vehicle rarely
      reaches 64QAM on the uplink even where the downlink does.
    """

    bandwidth_mhz: float = 10.0
    overhead: float = 0.25
    scheduling_share: float = 0.5
    max_efficiency: float = 2.4063


# --- the drive ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Drive:
    """One G-NetTrack drive log as per-sample arrays (``n`` samples, file order), read-only.

    Missing values (``-`` in the file, Android's INT_MAX sentinel) are NaN in float arrays and
    -1 in integer ones. ``network_mode`` holds indices into ``mode_names``. Two drives are the
    same file when their ``sha256`` match (equality is identity: arrays have no one truth value).
    """

    name: str
    source: str
    sha256: str
    start: str  # local time of the first row, ISO 8601 ("2019-12-16T07:22:43")
    time_s: np.ndarray  # float64, strictly increasing, from 0 (see "Time placement")
    longitude: np.ndarray  # float64, degrees
    latitude: np.ndarray  # float64, degrees
    speed_kmh: np.ndarray  # float64
    network_mode: np.ndarray  # int8, index into mode_names
    mode_names: tuple[str, ...]
    cell_id: np.ndarray  # int64: the CellID column (G-NetTrack's per-RAT split of the cell identity)
    global_cell_id: np.ndarray  # int64: RAWCELLID (E-UTRAN/UTRAN cell identity), -1 when absent
    rsrp_dbm: np.ndarray  # float64 (RSCP in 3G rows)
    rsrq_db: np.ndarray  # float64 (Ec/No in 3G rows)
    snr_db: np.ndarray  # float64
    cqi: np.ndarray  # float64 (NaN when not reported), 0..15
    rssi_dbm: np.ndarray  # float64
    nr_rsrp_dbm: np.ndarray  # float64, the NR leg in 5G NSA rows
    nr_rsrq_db: np.ndarray  # float64
    dl_mbps: np.ndarray  # float64, DL_bitrate / 1000
    downloading: np.ndarray  # bool: State contains "D" (D, or VD during a voice call)
    line: np.ndarray  # int64: the file line of each sample (header is line 1)

    def __post_init__(self) -> None:
        lengths = set()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False  # frozen means the samples too
                lengths.add(len(value))
        if len(lengths) != 1:
            raise ValueError(f"a drive's per-sample arrays must have one length, got {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.time_s)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1])

    @property
    def day(self) -> str:
        """The local date of the drive (``YYYY-MM-DD``): the unit of a train/test split."""
        return self.start[:10]

    def mode_of(self, i: int) -> str:
        """The network-mode name of sample ``i``."""
        return self.mode_names[int(self.network_mode[i])]


def _header(first_line: str) -> list[str]:
    return [c.strip().lstrip("\ufeff") for c in first_line.strip().split(",")]


def is_gnettrack(path: str | Path) -> bool:
    """Whether ``path`` is a G-NetTrack log: its header row names the G-NetTrack columns."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return set(_REQUIRED) <= set(_header(first))


def _parse_seconds(source: str, value: str, line: int) -> tuple[int, _dt.datetime]:
    try:
        stamp = _dt.datetime.strptime(value.strip(), _TIME_FORMAT)
    except ValueError:
        raise DriveError(source, f"Timestamp {value[:40]!r} is not YYYY.MM.DD_hh.mm.ss", line) from None
    # Local wall time without a zone: seconds since the epoch as if UTC, only differences used.
    return int((stamp - _dt.datetime(1970, 1, 1)).total_seconds()), stamp


def _number(source: str, column: str, value: str, line: int) -> float:
    text = value.strip()
    if text in ("", "-"):
        return math.nan
    try:
        x = float(text)
    except ValueError:
        raise DriveError(source, f"{column} {text[:40]!r} is not a number", line) from None
    if x == _ANDROID_UNAVAILABLE:
        return math.nan
    if not math.isfinite(x):
        raise DriveError(source, f"{column} {text[:40]!r} is not finite", line)
    if column in _SOFT_BOUNDS:
        lo, hi = _SOFT_BOUNDS[column]
        return x if lo <= x <= hi else math.nan
    if column in _BOUNDS:
        lo, hi = _BOUNDS[column]
        if not lo <= x <= hi:
            raise DriveError(source, f"{column} {text[:40]} outside the plausible range [{lo:g}, {hi:g}]", line)
    return x


def _integer(source: str, column: str, value: str, line: int) -> int:
    text = value.strip()
    if text in ("", "-"):
        return -1
    if not text.isdigit() or len(text) > 18:
        raise DriveError(source, f"{column} {text[:40]!r} is not a non-negative integer", line)
    return int(text)


def _mode_order(names: set[str]) -> tuple[str, ...]:
    known = [m for m in _MODE_ORDER if m in names]
    return tuple(known + sorted(names - set(known)))


def load_drive(path: str | Path) -> Drive:
    """Parse a G-NetTrack CSV log (see the module docstring for time placement and units)."""
    source = str(path)
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_BYTES:
            raise DriveError(source, f"larger than {_MAX_BYTES // 2**20} MiB")
        data = p.read_bytes()
    except OSError as exc:
        raise DriveError(source, f"cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DriveError(source, f"not UTF-8 text (byte {exc.start})") from None
    lines = text.splitlines()
    if not lines:
        raise DriveError(source, "the file is empty")
    columns = _header(lines[0])
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise DriveError(source, f"not a G-NetTrack log: header lacks {', '.join(missing)}", 1)
    col = {name: i for i, name in enumerate(columns)}
    width = len(columns)

    seconds: list[int] = []
    first_stamp: _dt.datetime | None = None
    floats: dict[str, list[float]] = {
        c: [] for c in ("Longitude", "Latitude", "Speed", "RSRP", "RSRQ", "SNR", "CQI", "RSSI", "NRxRSRP", "NRxRSRQ")
    }
    dl_kbps: list[float] = []
    cells: list[int] = []
    raw_cells: list[int] = []
    modes: list[str] = []
    downloading: list[bool] = []
    line_numbers: list[int] = []
    prev_second: int | None = None
    run = 0
    for number, raw in enumerate(lines[1:], 2):
        if not raw.strip():
            continue
        fields = raw.split(",")
        if len(fields) != width:
            raise DriveError(source, f"expected {width} comma-separated fields, got {len(fields)}", number)
        second, stamp = _parse_seconds(source, fields[col["Timestamp"]], number)
        if prev_second is not None:
            if second < prev_second:
                raise DriveError(source, f"timestamp {fields[col['Timestamp']]} goes back in time", number)
            if second - prev_second > _MAX_GAP_S:
                raise DriveError(source, f"a gap of {second - prev_second} s: two logs in one file?", number)
            run = run + 1 if second == prev_second else 1
            if run > _MAX_ROWS_PER_SECOND:
                raise DriveError(source, f"more than {_MAX_ROWS_PER_SECOND} rows in one second", number)
        else:
            first_stamp = stamp
            run = 1
        prev_second = second
        seconds.append(second)
        for name, values in floats.items():
            values.append(_number(source, name, fields[col[name]], number) if name in col else math.nan)
        lon, lat = floats["Longitude"][-1], floats["Latitude"][-1]
        if math.isnan(lon) or math.isnan(lat):
            raise DriveError(source, "a row without a GPS position", number)
        rate = _number(source, "DL_bitrate", fields[col["DL_bitrate"]], number)
        dl_kbps.append(rate)
        cells.append(_integer(source, "CellID", fields[col["CellID"]], number))
        raw_cells.append(_integer(source, "RAWCELLID", fields[col["RAWCELLID"]], number) if "RAWCELLID" in col else -1)
        mode = fields[col["NetworkMode"]].strip()
        if mode == "-":
            mode = ""
        if len(mode) > 16 or not all(ch.isalnum() or ch in "+_- " for ch in mode):
            raise DriveError(source, f"NetworkMode {mode[:40]!r} is not a network mode name", number)
        modes.append(mode or "unknown")
        state = fields[col["State"]].strip()
        if not state or len(state) > 4 or not state.isalpha():
            raise DriveError(source, f"State {state[:40]!r} is not a G-NetTrack state (D, I, ...)", number)
        downloading.append("D" in state.upper())
        if downloading[-1] and math.isnan(rate):
            raise DriveError(source, "DL_bitrate missing while downloading", number)
        line_numbers.append(number)
    if len(line_numbers) < 2:
        raise DriveError(source, "a drive needs at least two samples")
    assert first_stamp is not None
    time_s = _place(np.asarray(seconds, dtype=np.int64))
    names = _mode_order(set(modes))
    code = {m: i for i, m in enumerate(names)}
    dl = np.asarray(dl_kbps, dtype=np.float64) / 1000.0
    return Drive(
        name=p.stem,
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        start=first_stamp.isoformat(),
        time_s=time_s,
        longitude=np.asarray(floats["Longitude"]),
        latitude=np.asarray(floats["Latitude"]),
        speed_kmh=np.asarray(floats["Speed"]),
        network_mode=np.asarray([code[m] for m in modes], dtype=np.int8),
        mode_names=names,
        cell_id=np.asarray(cells, dtype=np.int64),
        global_cell_id=np.asarray(raw_cells, dtype=np.int64),
        rsrp_dbm=np.asarray(floats["RSRP"]),
        rsrq_db=np.asarray(floats["RSRQ"]),
        snr_db=np.asarray(floats["SNR"]),
        cqi=np.asarray(floats["CQI"]),
        rssi_dbm=np.asarray(floats["RSSI"]),
        nr_rsrp_dbm=np.asarray(floats["NRxRSRP"]),
        nr_rsrq_db=np.asarray(floats["NRxRSRQ"]),
        dl_mbps=dl,
        downloading=np.asarray(downloading, dtype=bool),
        line=np.asarray(line_numbers, dtype=np.int64),
    )


def _place(seconds: np.ndarray) -> np.ndarray:
    """Row ``j`` of the ``k`` rows stamped with second ``s`` at ``s + j/k``, from the first row."""
    _, start, counts = np.unique(seconds, return_index=True, return_counts=True)
    k = np.repeat(counts, counts)
    j = np.arange(len(seconds)) - np.repeat(start, counts)
    return (seconds - seconds[0]).astype(np.float64) + j / k


_DRIVES: dict[tuple[str, int, int], Drive] = {}


def load_drive_cached(path: str | Path) -> Drive:
    """:func:`load_drive`, parsed once per file version per process (drives are read-only)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise DriveError(str(path), f"cannot read: {exc.strerror}") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _DRIVES:
        if len(_DRIVES) > 32:
            _DRIVES.clear()
        _DRIVES[key] = load_drive(p)
    return _DRIVES[key]


def find_drives(directory: str | Path) -> list[Path]:
    """The G-NetTrack logs in ``directory`` (not recursive), sorted by name (the irish-5g names
    start with the drive's date and time, so this is also time order)."""
    root = Path(directory)
    if not root.is_dir():
        raise DriveError(str(directory), "not a directory")
    return sorted(p for p in root.iterdir() if p.is_file() and is_gnettrack(p))


def window(drive: Drive, start_s: float, duration_s: float) -> Drive:
    """The samples of ``drive`` with ``start_s <= time_s <= start_s + duration_s``, as a drive of
    its own whose time starts at its first sample (a scenario per window of a long drive)."""
    keep = (drive.time_s >= start_s - 1e-9) & (drive.time_s <= start_s + duration_s + 1e-9)
    if keep.sum() < 2:
        raise DriveError(drive.source, f"the window {start_s:g}+{duration_s:g} s holds fewer than two samples")
    first = int(np.argmax(keep))
    arrays = {
        f.name: getattr(drive, f.name)[keep]
        for f in dataclasses.fields(drive)
        if isinstance(getattr(drive, f.name), np.ndarray)
    }
    arrays["time_s"] = arrays["time_s"] - drive.time_s[first]
    offset = _dt.timedelta(seconds=math.floor(float(drive.time_s[first])))
    start = (_dt.datetime.fromisoformat(drive.start) + offset).isoformat()
    return dataclasses.replace(drive, name=f"{drive.name}@{float(drive.time_s[first]):g}s", start=start, **arrays)


# --- capacity -------------------------------------------------------------------------------


def _fill_idle(values: np.ndarray, measured: np.ndarray, idle: str) -> np.ndarray:
    if idle == "zero":
        return np.where(measured, values, 0.0)
    if idle != "hold":
        raise ValueError(f"idle must be 'hold' or 'zero', got {idle!r}")
    if not measured.any():
        return np.zeros_like(values)
    index = np.where(measured, np.arange(len(values)), -1)
    np.maximum.accumulate(index, out=index)
    first = int(np.argmax(measured))
    index[index < 0] = first  # a leading idle stretch takes the first measurement
    return values[index]


def _trace(drive: Drive, per_sample_mbps: np.ndarray, kind: str) -> Trace:
    """Sample ``i`` describes ``(t_{i-1}, t_i]``: durations from the time differences, the first
    sample's value unused."""
    durations = np.diff(drive.time_s)
    rates = np.maximum(per_sample_mbps[1:], 0.0).astype(np.float64)
    return Trace(drive.source, f"gnettrack:{kind}", drive.sha256, durations, rates)


#: a pause between the test's downloads: at most this many rows ... [assumed: in irish-5g the
#: low runs are 1-2 rows (1,194) with a tail of 3-5 (141) where the signal starts to move]
GAP_MAX_ROWS = 3
#: ... below this rate (Mbit/s) while downloading ... [assumed: the pauses log 0 or tens of
#: kbit/s; a link carrying the download logs megabits]
GAP_MBPS = 0.1
#: ... with the median rate of the :data:`GAP_CONTEXT_ROWS` measured rows either side at least
#: this (Mbit/s: the link was carrying the download) ...
GAP_CONTEXT_MBPS = 1.0
GAP_CONTEXT_ROWS = 5
#: ... and the mean RSRP within this of theirs (dB; unknown RSRP does not veto): the radio did
#: not change (docs/drives.md: the pauses in irish-5g show a median change of -0.1 dB)
GAP_RSRP_DB = 3.0


def download_gaps(drive: Drive) -> np.ndarray:
    """Rows that are pauses between the test app's downloads while ``State`` stays ``D`` (a
    bool per row): runs of at most :data:`GAP_MAX_ROWS` rows below :data:`GAP_MBPS` between
    rows that carried the download (median of the :data:`GAP_CONTEXT_ROWS` downloading rows
    either side at least :data:`GAP_CONTEXT_MBPS`) with the signal unchanged (mean RSRP within
    :data:`GAP_RSRP_DB` of theirs). See the module docstring."""
    dl = np.nan_to_num(drive.dl_mbps)
    low = drive.downloading & (dl < GAP_MBPS)
    out = np.zeros(len(dl), dtype=bool)
    n, i = len(dl), 0
    while i < n:
        if not low[i]:
            i += 1
            continue
        j = i
        while j < n and low[j]:
            j += 1
        if j - i <= GAP_MAX_ROWS:
            around = np.r_[np.arange(max(0, i - GAP_CONTEXT_ROWS), i), np.arange(j, min(n, j + GAP_CONTEXT_ROWS))]
            around = around[drive.downloading[around]]
            if len(around) and float(np.median(dl[around])) >= GAP_CONTEXT_MBPS:
                inside, outside = drive.rsrp_dbm[i:j], drive.rsrp_dbm[around]
                inside, outside = inside[~np.isnan(inside)], outside[~np.isnan(outside)]
                if not len(inside) or not len(outside) or abs(inside.mean() - outside.mean()) <= GAP_RSRP_DB:
                    out[i:j] = True
        i = j
    return out


def downlink_samples(drive: Drive, idle: str = "hold") -> np.ndarray:
    """Per-sample downlink capacity (Mbit/s): ``DL_bitrate`` while downloading; idle rows and
    the pauses between downloads (:func:`download_gaps`) filled per ``idle`` (see the module
    docstring)."""
    measured = drive.downloading if idle == "zero" else drive.downloading & ~download_gaps(drive)
    return _fill_idle(np.nan_to_num(drive.dl_mbps), measured, idle)


def downlink_capacity(drive: Drive, idle: str = "hold") -> Trace:
    """The measured download throughput as piecewise-constant capacity over the drive."""
    return _trace(drive, downlink_samples(drive, idle), "downlink")


def _per_sample(drive: Drive, per_family: Mapping[str, float], default: float) -> np.ndarray:
    """A per-family value looked up once per mode name, then indexed by each sample's mode."""
    by_mode = np.asarray([per_family.get(mode_family(m), default) for m in drive.mode_names], dtype=np.float64)
    return by_mode[drive.network_mode.astype(np.int64)]


def uplink_samples(
    drive: Drive,
    model: Literal["dl_ratio", "cqi"] = "dl_ratio",
    *,
    ratios: Mapping[str, float] | None = None,
    cqi_model: UplinkCqiModel | None = None,
    idle: str = "hold",
) -> np.ndarray:
    """Per-sample derived uplink capacity (Mbit/s); see :func:`uplink_capacity`."""
    table = UL_DL_RATIO if ratios is None else ratios
    ratio = _per_sample(drive, table, table.get("unknown", UL_DL_RATIO["unknown"]))
    by_ratio = downlink_samples(drive, idle) * ratio
    if model == "dl_ratio":
        return by_ratio
    if model != "cqi":
        raise ValueError(f"unknown uplink model {model!r} (expected 'dl_ratio' or 'cqi')")
    m = cqi_model or UplinkCqiModel()
    known = ~np.isnan(drive.cqi)
    cqi = np.clip(np.nan_to_num(drive.cqi), 0, 15).astype(np.int64)
    efficiency = np.minimum(CQI_EFFICIENCY[cqi], m.max_efficiency)
    by_cqi = efficiency * m.bandwidth_mhz * (1.0 - m.overhead) * m.scheduling_share
    # 3G rows report no CQI: those samples fall back to the downlink ratio.
    return np.where(known, by_cqi, by_ratio)


def uplink_capacity(
    drive: Drive,
    model: Literal["dl_ratio", "cqi"] = "dl_ratio",
    *,
    ratios: Mapping[str, float] | None = None,
    cqi_model: UplinkCqiModel | None = None,
    idle: str = "hold",
) -> Trace:
    """A derived uplink capacity over the drive (a model: the log measures only a download).

    - ``model="dl_ratio"``: the downlink capacity (:func:`downlink_capacity`) x
      :data:`UL_DL_RATIO` of the sample's technology family (``ratios`` overrides it). It keeps
      the download's variation (fades, holes, handovers) at the scale of public UL/DL medians.
    - ``model="cqi"``: spectral efficiency of the reported CQI (3GPP TS 36.213 Table 7.2.3-1,
      :data:`CQI_EFFICIENCY`) x an uplink bandwidth, overhead and scheduling share
      (:class:`UplinkCqiModel`, all [assumed]). It follows the channel, also in idle rows (the
      modem reports CQI while the test pauses); rows without a CQI (3G) use ``dl_ratio``.
    """
    samples = uplink_samples(drive, model, ratios=ratios, cqi_model=cqi_model, idle=idle)
    return _trace(drive, samples, f"uplink/{model}")


# --- handovers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handover:
    """A serving-cell change observed between samples ``index - 1`` and ``index``."""

    time_s: float  # drive time of the first sample on the new cell
    index: int
    from_cell: int
    to_cell: int
    from_mode: str
    to_mode: str
    interruption_s: float

    @property
    def inter_rat(self) -> bool:
        return _inter_rat(mode_family(self.from_mode), mode_family(self.to_mode))


def _inter_rat(a: str, b: str) -> bool:
    # 5G NSA rides on an LTE anchor: NSA <-> LTE is the same core path, not inter-RAT.
    anchor = {"nr": "lte"}
    return anchor.get(a, a) != anchor.get(b, b)


def interruption_s(from_mode: str, to_mode: str, table: Mapping[str, float] | None = None) -> float:
    """Interruption of a handover from ``from_mode`` to ``to_mode`` (s): the target family's
    :data:`HANDOVER_INTERRUPTION_S`, or :data:`INTER_RAT_INTERRUPTION_S` across families."""
    a, b = mode_family(from_mode), mode_family(to_mode)
    if _inter_rat(a, b):
        return INTER_RAT_INTERRUPTION_S
    values = HANDOVER_INTERRUPTION_S if table is None else table
    return float(values.get(b, HANDOVER_INTERRUPTION_S["unknown"]))


def handovers(
    drive: Drive,
    identity: Literal["global", "cell_id"] = "global",
    table: Mapping[str, float] | None = None,
) -> tuple[Handover, ...]:
    """Serving-cell changes, with an interruption time each (:func:`interruption_s`).

    ``identity="global"`` compares the full cell identity (``RAWCELLID``: eNodeB and sector
    for LTE, RNC and cell for 3G); ``"cell_id"`` compares the ``CellID`` column, G-NetTrack's
    per-technology split of it, which misses a change between equal sector numbers of two
    base stations and, for one row at a technology switch, splits the same identity the other
    technology's way. A row with an unknown cell is skipped (compared with the last known).
    A mode change on the same cell (5G NSA secondary cell added or released, HSPA+ <-> HSUPA
    bearer labels) is not a handover.
    """
    ids = drive.global_cell_id if identity == "global" else drive.cell_id
    if identity == "global" and (ids < 0).all():
        ids = drive.cell_id  # a log without RAWCELLID
    elif identity not in ("global", "cell_id"):
        raise ValueError(f"identity must be 'global' or 'cell_id', got {identity!r}")
    known = np.flatnonzero(ids >= 0)
    if len(known) < 2:
        return ()
    changed = known[1:][ids[known[1:]] != ids[known[:-1]]]
    previous = known[:-1][ids[known[1:]] != ids[known[:-1]]]
    out = []
    for i, p in zip(changed.tolist(), previous.tolist(), strict=True):
        a, b = drive.mode_of(p), drive.mode_of(i)
        out.append(Handover(float(drive.time_s[i]), i, int(ids[p]), int(ids[i]), a, b, interruption_s(a, b, table)))
    return tuple(out)


def apply_interruptions(trace: Trace, intervals: Sequence[tuple[float, float]] | Sequence[Handover]) -> Trace:
    """``trace`` with zero capacity during each interval ``(start_s, duration_s)``, in trace time
    (a :class:`Handover` is the interval of ``interruption_s`` that ends at its ``time_s``: the
    cell change completed by the time the logger saw the new cell). Intervals are clipped to
    the trace; the total duration is unchanged.

    The logged 1 s throughput already averages over the interruption, so zeroing it on top
    removes up to ``interruption_s`` x rate of volume per handover (5 % of a 1 s sample at
    50 ms): the price of putting the outage at its place within the second.
    """
    pairs: list[tuple[float, float]] = []
    for item in intervals:
        if isinstance(item, Handover):
            pairs.append((item.time_s - item.interruption_s, item.interruption_s))
        else:
            start, length = item
            pairs.append((float(start), float(length)))
    edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
    end = float(edges[-1])
    cuts = [(max(0.0, s), min(end, s + d)) for s, d in pairs if d > 0 and s + d > 0 and s < end]
    if not cuts:
        return trace
    points = np.unique(np.concatenate([edges, np.asarray(cuts).ravel()]))
    mids = (points[:-1] + points[1:]) / 2.0
    rates = trace.rates_mbps[np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, len(trace.rates_mbps) - 1)]
    starts = np.asarray([c[0] for c in cuts])
    ends = np.asarray([c[1] for c in cuts])
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    k = np.searchsorted(starts, mids, side="right") - 1
    inside = (k >= 0) & (mids < ends[np.clip(k, 0, None)])
    rates = np.where(inside, 0.0, rates)
    durations = np.diff(points)
    keep = durations > 0
    return Trace(trace.source, trace.format + "+handovers", trace.sha256, durations[keep], rates[keep])


_CACHE: dict[tuple[str, int, int, str, str, bool], Trace] = {}


def drive_trace(
    path: str | Path,
    link: Literal["uplink", "downlink"] = "uplink",
    model: Literal["dl_ratio", "cqi"] = "dl_ratio",
    handover_interruptions: bool = True,
) -> Trace:
    """The capacity trace a simulated link plays from a drive log: :func:`uplink_capacity`
    (``model``) or :func:`downlink_capacity`, with :func:`handovers` applied as interruptions
    unless ``handover_interruptions`` is False. Parsed once per file version per process
    (episodes reuse traces, as :func:`romanus.traces.load_trace_cached` does). The trace's
    ``sha256`` is the file's; its ``format`` names the derivation, e.g.
    ``gnettrack:uplink/dl_ratio+handovers``."""
    if link not in ("uplink", "downlink"):
        raise ValueError(f"link must be 'uplink' or 'downlink', got {link!r}")
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise DriveError(str(path), f"cannot read: {exc.strerror}") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, link, model, handover_interruptions)
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        drive = load_drive(path)
        trace = uplink_capacity(drive, model) if link == "uplink" else downlink_capacity(drive)
        _CACHE[key] = apply_interruptions(trace, handovers(drive)) if handover_interruptions else trace
    return _CACHE[key]


# --- KPIs as the vehicle sees them ----------------------------------------------------------

_KPI_FIELDS = (
    "rsrp_dbm",
    "rsrq_db",
    "snr_db",
    "cqi",
    "nr_rsrp_dbm",
    "nr_rsrq_db",
    "speed_kmh",
    "latitude",
    "longitude",
)


def kpi_series(
    drive: Drive, times_s: np.ndarray | Sequence[float], delay_s: float = KPI_DELAY_S
) -> dict[str, np.ndarray]:
    """:func:`kpi_at` for many times at once: arrays, ``network_mode`` as indices into
    ``drive.mode_names`` (-1 before the first report), ``cell`` the global cell identity."""
    if delay_s < 0:
        raise ValueError("a reporting delay cannot be negative")
    t = np.asarray(times_s, dtype=np.float64) - delay_s
    # the small tolerance keeps a sample reported exactly at t - delay despite float rounding
    idx = np.searchsorted(drive.time_s, t + 1e-9, side="right") - 1
    valid = idx >= 0
    safe = np.clip(idx, 0, None)
    out: dict[str, np.ndarray] = {
        "valid": valid,
        "sample_time_s": np.where(valid, drive.time_s[safe], np.nan),
        "age_s": np.where(valid, t + delay_s - drive.time_s[safe], np.nan),
    }
    for name in _KPI_FIELDS:
        out[name] = np.where(valid, getattr(drive, name)[safe], np.nan)
    out["network_mode"] = np.where(valid, drive.network_mode[safe].astype(np.int64), -1)
    out["cell"] = np.where(valid, drive.global_cell_id[safe], -1)
    return out


def kpi_at(drive: Drive, t: float, delay_s: float = KPI_DELAY_S) -> dict[str, float | int | str | bool]:
    """The modem KPIs a vehicle knows at drive time ``t``: the newest sample at or before
    ``t - delay_s`` (``valid`` False, values NaN, before the first one). Keys: ``valid``,
    ``sample_time_s``, ``age_s`` (``t`` minus the sample's time), RSRP/RSRQ/SNR/CQI (and the NR
    leg's), speed and position, ``network_mode`` (a name) and ``cell``."""
    series = kpi_series(drive, [t], delay_s)
    out: dict[str, float | int | str | bool] = {}
    for key, values in series.items():
        value = values[0]
        if key == "valid":
            out[key] = bool(value)
        elif key in ("network_mode",):
            out[key] = drive.mode_names[int(value)] if value >= 0 else ""
        elif key == "cell":
            out[key] = int(value)
        else:
            out[key] = float(value)
    return out


# --- statistics -----------------------------------------------------------------------------

_EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance (m) between points given in degrees."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _weighted_share(drive: Drive, mask: np.ndarray) -> float:
    """Share of drive time whose interval ``(t_{i-1}, t_i]`` has ``mask[i]``."""
    d = np.diff(drive.time_s)
    return float((d * mask[1:]).sum() / d.sum())


def drive_stats(drive: Drive, window_ms: float = 1000.0) -> dict[str, float]:
    """The figures ``romanus trace info`` prints for a drive (flat, floats; shares in 0..1).

    Capacity percentiles are over ``window_ms`` windows (:func:`romanus.traces.trace_stats`);
    mode shares and the no-capacity share are time-weighted over the sample intervals.
    """
    dl = downlink_capacity(drive)
    dl_stats = trace_stats(dl, window_ms)
    ul_ratio = uplink_capacity(drive, "dl_ratio")
    ul_cqi = uplink_capacity(drive, "cqi")
    hos = handovers(drive)
    step_m = haversine_m(drive.latitude[:-1], drive.longitude[:-1], drive.latitude[1:], drive.longitude[1:])
    distance_m = float(step_m.sum())
    stats: dict[str, float] = {
        "samples": float(len(drive)),
        "duration_s": drive.duration_s,
        "distance_km": distance_m / 1000.0,
        "mean_speed_kmh": distance_m / drive.duration_s * 3.6,
        "mean_reported_speed_kmh": float(np.nanmean(drive.speed_kmh)),
        "handovers": float(len(hos)),
        "cell_id_changes": float(len(handovers(drive, "cell_id"))),
        "inter_rat_handovers": float(sum(h.inter_rat for h in hos)),
        "mean_time_between_handovers_s": drive.duration_s / len(hos) if hos else math.inf,
        "handover_interruption_s": float(sum(h.interruption_s for h in hos)),
        "dl_mean_mbps": dl_stats["mean_mbps"],
        "dl_p10_mbps": dl_stats["p10_mbps"],
        "dl_p50_mbps": dl_stats["p50_mbps"],
        "dl_p90_mbps": dl_stats["p90_mbps"],
        "ul_mean_mbps_dl_ratio": ul_ratio.integral_mbit() / ul_ratio.duration_s,
        "ul_mean_mbps_cqi": ul_cqi.integral_mbit() / ul_cqi.duration_s,
        "no_capacity_share": _weighted_share(drive, drive.downloading & (np.nan_to_num(drive.dl_mbps) <= 0)),
        "idle_share": _weighted_share(drive, ~drive.downloading),
        "download_gap_share": _weighted_share(drive, download_gaps(drive)),
    }
    for i, name in enumerate(drive.mode_names):
        stats[f"mode_share_{name}"] = _weighted_share(drive, drive.network_mode == i)
    for field in ("rsrp_dbm", "rsrq_db", "snr_db", "cqi"):
        values = getattr(drive, field)
        values = values[~np.isnan(values)]
        if len(values):
            stats[f"{field}_min"], stats[f"{field}_p50"], stats[f"{field}_max"] = (
                float(values.min()),
                float(np.median(values)),
                float(values.max()),
            )
    return stats


def fix_rows(drive: Drive) -> np.ndarray:
    """Indices of the samples where the GPS position changes (and the first sample).

    The logger repeats the last GPS fix on every row: in the irish-5g drives the position
    (and the speed with it) changes on 5.5 % of the rows, one fix every 7-20 s.
    """
    moved = (np.diff(drive.latitude) != 0) | (np.diff(drive.longitude) != 0)
    return np.concatenate([[0], np.flatnonzero(moved) + 1])


def positions(drive: Drive, interpolate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of each sample; with ``interpolate``, linear in time between the
    rows where a new fix first appears ([assumed]: a fix is current at the first row that
    shows it), constant after the last fix. Raw (repeated) positions otherwise."""
    if not interpolate:
        return drive.longitude, drive.latitude
    rows = fix_rows(drive)
    t = drive.time_s[rows]
    return np.interp(drive.time_s, t, drive.longitude[rows]), np.interp(drive.time_s, t, drive.latitude[rows])


def local_metres(drive: Drive, interpolate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """East and north offsets (m) of each sample (:func:`positions`) from the route's centre
    (equirectangular: exact enough over a city, and equal in both axes)."""
    lon, lat = positions(drive, interpolate)
    lat_c = (np.nanmin(lat) + np.nanmax(lat)) / 2
    lon_c = (np.nanmin(lon) + np.nanmax(lon)) / 2
    east = np.radians(lon - lon_c) * math.cos(math.radians(lat_c)) * _EARTH_RADIUS_M
    north = np.radians(lat - lat_c) * _EARTH_RADIUS_M
    return east, north
