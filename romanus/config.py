"""The preset schema: typed, frozen, validated configuration of one simulated world.

A preset is a YAML file (the catalogue ships in the package as ``romanus.presets``; the
source tree keeps it in ``envs/``). ``extends: NAME`` starts from another preset and
overrides keys: config sections (``uplink``, ``server``, ``pipeline`` ...) merge key by key,
user-keyed tables (``scene.mix``, ``pipeline.tiers``, ``server.background.levels`` ...) are
replaced as a whole. Units are in the field names. Numbers marked
``[assumed]`` in the shipped files are ours, not published, and are meant to be changed.

Every numeric field declares its accepted range next to it (``field(ge=..., le=...)``, with
the reason in its ``doc``): ranges are physical (a vehicle accelerator draws 10 mW to 1 kW,
no link carries 100 Gbit/s) and keep a simulation's work per frame bounded (background
requests, frames in flight and acknowledgements per period), so that every preset this
module accepts simulates without a crash, a hang or a non-finite number. YAML is read
bounded: at most :data:`MAX_CONFIG_BYTES`, aliases expanding to at most
:data:`MAX_YAML_NODES` values, ``extends`` chains of at most :data:`MAX_EXTENDS_DEPTH`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from romanus.configio import ConfigError, Invalid, build, deep_merge, field, origin_of
from romanus.fileio import read_bytes_bounded

__all__ = [
    "BackgroundLoadConfig",
    "CalibrationConfig",
    "CapacityConfig",
    "ConfigError",
    "DeadlineConfig",
    "DriveConfig",
    "EnvConfig",
    "FallbackConfig",
    "OutageConfig",
    "PipelineConfig",
    "Preset",
    "RadioConfig",
    "RadioTechnology",
    "RewardConfig",
    "RttConfig",
    "SceneConfig",
    "SensorConfig",
    "ServerConfig",
    "ShieldConfig",
    "SplitPoint",
    "VehicleConfig",
    "list_presets",
    "load_preset",
    "parse_split_point",
]

# Huang et al., "A close examination of performance and power characteristics of 4G LTE
# networks", MobiSys 2012, Table 3: P = alpha_u * t_u + alpha_d * t_d + beta (mW, Mbit/s),
# fitted on 2012 networks whose median uplink was 6 Mbit/s (valid to ~10 Mbit/s uplink).
# The ``huang_linear`` power model (``radio.power_model``) uses these rows as they are; the
# default models are in RADIO_TECHNOLOGIES. The 5g row is the linear fit to Narayanan et al.
# (SIGCOMM 2021) low-band data (DESIGN.md 4), not a Huang fit.
RADIO_COEFFICIENTS: dict[str, tuple[float, float, float]] = {
    "lte": (438.39, 51.97, 1288.04),
    "wifi": (283.17, 137.01, 132.86),
    "3g": (868.98, 122.12, 817.88),
    "5g": (9.4, 1.7, 1955.0),
    "5g_mmwave": (6.8, 1.7, 4159.0),
}


@dataclass(frozen=True)
class RadioTechnology:
    """Measured power and RRC timers of one radio technology (see docs/physics.md).

    Power on the air: P_up(u) = base + up_max_extra x (1 - exp(-u x alpha_up / up_max_extra))
    (saturating; its slope at 0 is alpha_up) or base + alpha_up x u when ``up_max_extra_mw``
    is None (linear); downlink adds alpha_down x d. States: a transfer that finds the radio
    idle waits ``promotion_ms`` at ``promotion_mw``; after the last transfer the radio stays
    connected ``tail_ms`` at ``tail_mw`` (the DRX average) before it is idle again.
    """

    base_mw: float
    alpha_up_mw_per_mbps: float
    alpha_down_mw_per_mbps: float
    up_max_extra_mw: float | None
    promotion_ms: float
    promotion_mw: float
    tail_ms: float
    tail_mw: float
    source: str


#: LTE's RRC promotion and tail (Huang et al. MobiSys 2012); 5G NSA runs its RRC on the LTE
#: anchor, so both 5G technologies use them too ([assumed]: no published NSA values found)
_LTE_RRC: dict[str, float] = {"promotion_ms": 260.1, "promotion_mw": 1210.7, "tail_ms": 11576.0, "tail_mw": 1060.0}

RADIO_TECHNOLOGIES: dict[str, RadioTechnology] = {
    # Huang 2012 (Table 3): beta, alpha_u, alpha_d; promotion 260.1 ms at 1210.7 mW; tail
    # 11576 ms at 1060.0 mW (DRX). up_max_extra [assumed] 1300 mW: the line's slope at low
    # rates, saturating so that P_up <= 2.6 W (LTE UE power is set by transmit power, the
    # uplink rate adds little: Jensen, Lauridsen et al., VTC-Fall 2012; 5G low-band phones draw
    # ~2.6 W at 60-120 Mbit/s uplink, Narayanan et al., SIGCOMM 2021).
    "lte": RadioTechnology(
        base_mw=1288.04,
        alpha_up_mw_per_mbps=438.39,
        alpha_down_mw_per_mbps=51.97,
        up_max_extra_mw=1300.0,
        **_LTE_RRC,
        source="Huang et al. MobiSys 2012; saturation [assumed] from Jensen/Lauridsen VTC 2012, Narayanan SIGCOMM 2021",
    ),
    # 5G NSA low-band: P = 1955 mW + 9.4 mW/Mbps x UL (fit to Narayanan et al. SIGCOMM 2021
    # artifact, 60-120 Mbit/s; DESIGN.md 4), downlink 1.3-2.1 mW/Mbps (midpoint). Timers and
    # state powers [assumed]: NSA (EN-DC) runs one RRC state machine on the LTE anchor, so
    # LTE's (Huang 2012) are used; this session's searches found no published NSA values.
    "5g": RadioTechnology(
        base_mw=1955.0,
        alpha_up_mw_per_mbps=9.4,
        alpha_down_mw_per_mbps=1.7,
        up_max_extra_mw=None,
        **_LTE_RRC,
        source="Narayanan et al. SIGCOMM 2021 (fit, DESIGN.md 4); RRC timers [assumed] LTE anchor (Huang 2012)",
    ),
    # 5G NSA mmWave: P = 4159 mW + 6.8 mW/Mbps x UL (same source); timers [assumed] as 5g.
    "5g_mmwave": RadioTechnology(
        base_mw=4159.0,
        alpha_up_mw_per_mbps=6.8,
        alpha_down_mw_per_mbps=1.7,
        up_max_extra_mw=None,
        **_LTE_RRC,
        source="Narayanan et al. SIGCOMM 2021 (fit, DESIGN.md 4); RRC timers [assumed] LTE anchor (Huang 2012)",
    ),
    # Huang 2012 Table 3 (WiFi: promotion 79.1 ms at 124.4 mW, tail 238.1 ms at 119.3 mW; as
    # recalled, not re-checked against the paper: no shipped preset uses it).
    "wifi": RadioTechnology(
        base_mw=132.86,
        alpha_up_mw_per_mbps=283.17,
        alpha_down_mw_per_mbps=137.01,
        up_max_extra_mw=None,
        promotion_ms=79.1,
        promotion_mw=124.4,
        tail_ms=238.1,
        tail_mw=119.3,
        source="Huang et al. MobiSys 2012 (linear, 2012 WiFi)",
    ),
    # Huang 2012 Table 3 (3G: promotion 582.1 ms at 659.4 mW, DCH tail 8088.2 ms at 803.9 mW;
    # the FACH tail that follows is left out; as recalled, not re-checked: no preset uses it).
    "3g": RadioTechnology(
        base_mw=817.88,
        alpha_up_mw_per_mbps=868.98,
        alpha_down_mw_per_mbps=122.12,
        up_max_extra_mw=None,
        promotion_ms=582.1,
        promotion_mw=659.4,
        tail_ms=8088.2,
        tail_mw=803.9,
        source="Huang et al. MobiSys 2012 (linear, 2012 UMTS)",
    ),
}

MAX_CAPACITY_MBPS = 100_000.0
"""100 Gbit/s: beyond any radio link, and far from float overflow in capacity integrals."""
MIN_SERVICE_CV = 0.001
"""Service times are Gamma with shape 1 / cv^2; below this the shape overflows (use 0 for
deterministic service)."""
MAX_BACKGROUND_RATE_HZ = 20_000.0
"""Background requests per second the server may receive at the busiest load level: each is
simulated one by one (a 60 s episode then holds about a million of them)."""
MAX_BACKGROUND_PER_FRAME = 2000.0
"""Background requests per perception period at the busiest load level (simulation work per
frame stays bounded; the default world has about 40)."""
MAX_FRAMES_IN_FLIGHT = 1000
"""``abandon_ms / period_ms``: frames a simulator may hold in flight at once."""
MAX_ESTIMATE_FRAMES = 1000
"""``estimate_window_ms / period_ms``: periods of acknowledgements the uplink estimate spans."""


def _check_cv(cv: float, key: str) -> None:
    if 0.0 < cv < MIN_SERVICE_CV:
        raise Invalid(key, f"must be 0 (deterministic) or in [{MIN_SERVICE_CV:g}, 1), got {cv!r}")


# ----------------------------------------------------------------------------- split points


@dataclass(frozen=True)
class SplitPoint:
    """Where an execution path is cut.

    ``raw``: the sensor data is compressed and sent, the server runs everything.
    ``bottleneck``: a bottleneck head (stem + encoder to ``channels`` at stride 2 from the
    stem output, quantised to ``bits``) runs on the vehicle; the server decodes.
    ``tail``: the branch runs locally up to the end of ResNet ``layer`` (2, 3 or 4) and sends
    that feature map quantised to ``bits``.
    """

    name: str
    kind: Literal["raw", "bottleneck", "tail"]
    channels: int = 0
    bits: int = 8
    layer: int = 0

    @property
    def stem_level(self) -> bool:
        return self.kind in ("raw", "bottleneck")


_SPLIT_RE = re.compile(r"^(?:(raw)|bottleneck-c(\d+)-b(\d+)|layer([234])(?:-b(\d+))?)$")


def parse_split_point(name: str) -> SplitPoint:
    """Parse ``raw``, ``bottleneck-c<C>-b<BITS>`` or ``layer<2|3|4>[-b<BITS>]``."""
    m = _SPLIT_RE.match(name)
    if not m:
        raise Invalid(
            "", f"unknown split point {name!r} (expected raw, bottleneck-c<C>-b<BITS> or layer<2|3|4>[-b<BITS>])"
        )
    if m.group(1):
        return SplitPoint(name, "raw")
    if m.group(2):
        channels, bits = int(m.group(2)), int(m.group(3))
        if channels < 1 or bits not in (8, 16, 32):
            raise Invalid("", f"split point {name!r}: channels must be >= 1 and bits one of 8, 16, 32")
        return SplitPoint(name, "bottleneck", channels=channels, bits=bits)
    bits = int(m.group(5)) if m.group(5) else 8
    if bits not in (8, 16, 32):
        raise Invalid("", f"split point {name!r}: bits must be one of 8, 16, 32")
    return SplitPoint(name, "tail", bits=bits, layer=int(m.group(4)))


# ----------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class SensorConfig:
    """One sensor: what its raw data weighs and how well it compresses."""

    kind: Literal["image", "point_cloud"] = "image"
    channels: int = field(3, ge=1, le=64, doc="image: 8-bit channels per pixel of the raw image (<= 64: multispectral)")
    points: int = field(0, ge=0, le=10_000_000, doc="point cloud: points per sweep (<= 1e7: beyond any lidar)")
    bytes_per_point: int = field(16, ge=1, le=1024, doc="point cloud: bytes per raw point (x, y, z, intensity fp32)")
    compressed_bits_per_element: float = field(
        1.0, gt=0, le=1024, doc="bits per pixel (image) or per point (cloud) after compression (<= 1024: raw fp32 x 32)"
    )
    compress_ms: float = field(0.0, ge=0, le=10_000, doc="vehicle time to compress one frame of raw data (<= 10 s)")
    note: str = field("", doc="provenance of the numbers")

    def __post_init__(self) -> None:
        if self.kind == "point_cloud" and self.points == 0:
            raise Invalid("points", "must be > 0 for a point_cloud sensor")


@dataclass(frozen=True)
class StemConfig:
    sensor: str = field(doc="the sensor whose data this stem consumes")
    input_channels: int = field(
        3, ge=1, le=64, doc="channels of the stem's input image (BEV images are replicated to 3)"
    )


@dataclass(frozen=True)
class CalibrationConfig:
    """Vehicle latency calibration points; every other module scales by MACs from them."""

    detector_ms: float = field(
        18.41, ge=0.001, le=100_000, doc="vehicle ms of the ResNet-18 stem + tail (layer2..layer4); 1 us..100 s"
    )
    head_ms: float = field(
        3.54, ge=0.001, le=100_000, doc="vehicle ms of the bottleneck head at head_reference; 1 us..100 s"
    )
    head_reference: str = field("bottleneck-c6-b8", doc="split point the head_ms was measured at")
    note: str = field("", doc="provenance of the calibration points")

    def __post_init__(self) -> None:
        try:
            sp = parse_split_point(self.head_reference)
        except Invalid as exc:
            raise Invalid("head_reference", exc.message) from None
        if sp.kind != "bottleneck":
            raise Invalid("head_reference", f"must be a bottleneck split point, got {self.head_reference!r}")


@dataclass(frozen=True)
class PipelineConfig:
    """The HydraFusion-shaped sensor -> stem -> branch graph, its robustness and split points."""

    sensors: dict[str, SensorConfig]
    stems: dict[str, StemConfig]
    groups: dict[str, tuple[str, ...]] = field(doc="offload group -> stems; a mode places each group")
    branches: dict[str, tuple[str, ...]] = field(doc="branch -> stems it consumes (fusion if more than one)")
    tiers: dict[str, tuple[str, ...]] = field(doc="named branch sets an operating mode can activate")
    robustness: dict[str, tuple[float, ...]] = field(doc="scene -> gate score per branch, in branches order")
    split_points: tuple[str, ...] = field(doc="candidate split points, each kept per path by the payload rule")
    input_height: int = field(376, gt=0, le=8192, doc="stem input height in pixels (<= 8192)")
    input_width: int = field(672, gt=0, le=8192, doc="stem input width in pixels (<= 8192)")
    robustness_margin: float = field(0.1, ge=0, le=1, doc="[assumed] required score = scene best - margin")
    rpn_proposals: int = field(300, gt=0, le=100_000, doc="RoI proposals per branch fed to the box head")
    rpn_anchors: int = field(15, gt=0, le=1000, doc="anchors per feature-map location")
    num_classes: int = field(9, gt=1, le=100_000, doc="classes including background (RADIATE: 8 + 1)")
    box_head_dim: int = field(1024, gt=0, le=65_536, doc="width of the two-layer box head")
    roi_output_size: int = field(7, gt=0, le=256, doc="RoIAlign output side")
    default_split: str = field("bottleneck-c6-b8", doc="split used by the offload-all policy")
    result_bytes_per_branch: int = field(
        2400, gt=0, le=10**9, doc="[assumed] detections returned per offloaded branch (<= 1 GB)"
    )
    fusion_ms: float = field(1.0, ge=0, le=10_000, doc="[assumed] weighted box fusion on the vehicle CPU (<= 10 s)")
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    profile: str | None = field(
        None, doc="vehicle module latencies from this profile file (romanus profile; builtin:NAME); null: derive"
    )

    def __post_init__(self) -> None:
        for stem, sc in self.stems.items():
            if sc.sensor not in self.sensors:
                raise Invalid(f"stems.{stem}.sensor", f"sensor {sc.sensor!r} is not defined in sensors")
        seen: dict[str, str] = {}
        for group, stems in self.groups.items():
            if not stems:
                raise Invalid(f"groups.{group}", "a group needs at least one stem")
            for stem in stems:
                if stem not in self.stems:
                    raise Invalid(f"groups.{group}", f"stem {stem!r} is not defined in stems")
                if stem in seen:
                    raise Invalid(f"groups.{group}", f"stem {stem!r} is already in group {seen[stem]!r}")
                seen[stem] = group
        missing = [s for s in self.stems if s not in seen]
        if missing:
            raise Invalid("groups", f"stem {missing[0]!r} belongs to no group")
        if not self.branches:
            raise Invalid("branches", "at least one branch is needed")
        for branch, stems in self.branches.items():
            if not stems:
                raise Invalid(f"branches.{branch}", "a branch needs at least one stem")
            for stem in stems:
                if stem not in self.stems:
                    raise Invalid(f"branches.{branch}", f"needs stem {stem!r}, which is not defined in stems")
        if not self.tiers:
            raise Invalid("tiers", "at least one tier is needed")
        for tier, branches in self.tiers.items():
            if not branches:
                raise Invalid(f"tiers.{tier}", "a tier needs at least one branch")
            for b in branches:
                if b not in self.branches:
                    raise Invalid(f"tiers.{tier}", f"branch {b!r} is not defined in branches")
            if "|" in tier or "=" in tier:
                raise Invalid(f"tiers.{tier}", "tier names may not contain '|' or '='")
        for scene, scores in self.robustness.items():
            if len(scores) != len(self.branches):
                raise Invalid(
                    f"robustness.{scene}",
                    f"needs one score per branch ({len(self.branches)}: {', '.join(self.branches)}), got {len(scores)}",
                )
            for i, s in enumerate(scores):
                if not 0.0 <= s <= 1.0:
                    raise Invalid(f"robustness.{scene}[{i}]", f"must be in [0, 1], got {s}")
        if not self.split_points:
            raise Invalid("split_points", "at least one split point is needed")
        for i, name in enumerate(self.split_points):
            try:
                parse_split_point(name)
            except Invalid as exc:
                raise Invalid(f"split_points[{i}]", exc.message) from None
        if len(set(self.split_points)) != len(self.split_points):
            raise Invalid("split_points", "duplicate split point")
        if self.default_split not in self.split_points:
            raise Invalid("default_split", f"{self.default_split!r} is not one of split_points")


# ----------------------------------------------------------------------------- world


@dataclass(frozen=True)
class VehicleConfig:
    active_power_w: float = field(
        7.0,
        ge=0.01,
        le=1000,
        doc="accelerator power while computing (DRIVE PX2, EnergyShield); 10 mW (a microcontroller) to 1 kW "
        "(several data-centre GPUs); it also sets the default energy scale, so it cannot be 0",
    )
    idle_power_w: float = field(0.0, ge=0, le=1000, doc="[assumed] accelerator power while idle (<= 1 kW)")


def _or(override: float | None, default: float | None) -> float | None:
    return default if override is None else float(override)


def _pick(override: float | None, default: float) -> float:
    return default if override is None else float(override)


@dataclass(frozen=True)
class RadioConfig:
    """The vehicle's cellular modem: power on the air and RRC states (docs/physics.md).

    ``technology`` picks measured parameters (:data:`RADIO_TECHNOLOGIES`); every field below
    it overrides one of them. ``power_model``: ``measured`` (the technology's model, saturating
    for LTE) or ``huang_linear`` (Huang et al. 2012's line, :data:`RADIO_COEFFICIENTS`, valid
    to ~10 Mbit/s uplink; for comparison with papers that use it). ``accounting``: ``owned``
    (offloading owns the radio: promotion and tail are charged) or ``connected`` (other
    traffic keeps the modem connected: a transfer is charged only its marginal energy, power
    on the air minus connected-idle power ``tail_mw``, and never waits for a promotion).
    """

    technology: Literal["lte", "5g", "5g_mmwave", "wifi", "3g"] = "lte"
    power_model: Literal["measured", "huang_linear"] = "measured"
    accounting: Literal["owned", "connected"] = "owned"
    alpha_up_mw_per_mbps: float | None = field(
        None, ge=0, le=100_000, doc="override: uplink power slope at 0 Mbit/s (<= 100 W per Mbit/s)"
    )
    alpha_down_mw_per_mbps: float | None = field(
        None, ge=0, le=100_000, doc="override: downlink power slope (<= 100 W per Mbit/s)"
    )
    beta_mw: float | None = field(None, ge=0, le=100_000, doc="override: base power while on the air (<= 100 W)")
    up_max_extra_mw: float | None = field(
        None, ge=1, le=100_000, doc="override: saturation of the uplink's extra power (1 mW to 100 W)"
    )
    promotion_ms: float | None = field(None, ge=0, le=60_000, doc="override: idle -> connected promotion (<= 60 s)")
    promotion_mw: float | None = field(None, ge=0, le=100_000, doc="override: power during the promotion (<= 100 W)")
    tail_ms: float | None = field(
        None, ge=0, le=3_600_000, doc="override: inactivity time before connected -> idle (<= 1 h)"
    )
    tail_mw: float | None = field(
        None, ge=0, le=100_000, doc="override: connected-idle (tail, DRX average) power (<= 100 W)"
    )

    def __post_init__(self) -> None:
        if self.power_model == "huang_linear" and self.technology not in ("lte", "wifi", "3g"):
            raise Invalid("power_model", f"huang_linear has no fit for {self.technology!r} (lte, wifi or 3g)")

    @property
    def parameters(self) -> RadioTechnology:
        """The technology's parameters with this section's overrides applied."""
        t = RADIO_TECHNOLOGIES[self.technology]
        linear = self.power_model == "huang_linear"
        au, ad, b = (
            RADIO_COEFFICIENTS[self.technology]
            if linear
            else (t.alpha_up_mw_per_mbps, t.alpha_down_mw_per_mbps, t.base_mw)
        )
        return RadioTechnology(
            base_mw=_pick(self.beta_mw, b),
            alpha_up_mw_per_mbps=_pick(self.alpha_up_mw_per_mbps, au),
            alpha_down_mw_per_mbps=_pick(self.alpha_down_mw_per_mbps, ad),
            up_max_extra_mw=None
            if linear and self.up_max_extra_mw is None
            else _or(self.up_max_extra_mw, t.up_max_extra_mw),
            promotion_ms=_pick(self.promotion_ms, t.promotion_ms),
            promotion_mw=_pick(self.promotion_mw, t.promotion_mw),
            tail_ms=_pick(self.tail_ms, t.tail_ms),
            tail_mw=_pick(self.tail_mw, t.tail_mw),
            source="Huang et al. MobiSys 2012 (linear)" if linear else t.source,
        )

    @property
    def coefficients(self) -> tuple[float, float, float]:
        """(alpha_up mW/Mbps, alpha_down mW/Mbps, base mW) of the power model in use."""
        p = self.parameters
        return p.alpha_up_mw_per_mbps, p.alpha_down_mw_per_mbps, p.base_mw


@dataclass(frozen=True)
class OutageConfig:
    """Gilbert-Elliott outages: a two-state Markov chain per slot (geometric dwell times)."""

    mean_good_s: float = field(ge=0.001, le=1e6, doc="mean time between outages (1 ms .. about 11 days)")
    mean_bad_s: float = field(ge=0.001, le=1e6, doc="mean outage duration (1 ms .. about 11 days)")
    bad_capacity_factor: float = field(0.0, ge=0, le=1, doc="capacity multiplier in the bad state")


@dataclass(frozen=True)
class CapacityConfig:
    """A link's capacity over time: a synthetic process (piecewise constant over slots) or a
    recorded trace (see :mod:`romanus.traces`)."""

    model: Literal["constant", "rayleigh", "markov", "trace", "drive"] = field(
        "rayleigh", doc="drive: the capacity of the preset's drive section (a G-NetTrack log)"
    )
    capacity_mbps: float = field(0.0, ge=0, le=MAX_CAPACITY_MBPS, doc="constant: the capacity (<= 100 Gbit/s)")
    sigma_mbps: float = field(
        13.62, gt=0, le=MAX_CAPACITY_MBPS, doc="rayleigh: scale of the Rayleigh marginal per slot (<= 100 Gbit/s)"
    )
    coherence_ms: float = field(
        0.0, ge=0, le=1e7, doc="rayleigh: AR(1) time constant of the fading (0 = independent slots; <= 1e7 ms)"
    )
    states_mbps: tuple[float, ...] = field(
        (), ge=0, le=MAX_CAPACITY_MBPS, doc="markov: capacity of each state (each <= 100 Gbit/s)"
    )
    mean_dwell_s: float = field(5.0, ge=0.001, le=1e6, doc="markov: mean time in a state (1 ms .. about 11 days)")
    slot_ms: float = field(
        100.0, ge=1, le=1e6, doc="duration of one capacity slot (synthetic models; 1 ms, an LTE subframe, .. 1000 s)"
    )
    outage: OutageConfig | None = None
    trace: str = field("", doc="trace: file path (relative to the preset file) or builtin:NAME")
    format: Literal["auto", "mahimahi", "cooked", "nyu"] = field("auto", doc="trace: file format")
    start_s: float | None = field(
        0.0, ge=0, le=1e7, doc="trace: offset into the trace (null: drawn from the link's stream; <= 1e7 s)"
    )
    loop: bool = field(True, doc="trace: repeat at its end (false: no capacity after it)")
    scale: float = field(1.0, gt=0, le=1000, doc="trace: capacity multiplier (<= 1000)")
    noise_cv: float = field(
        0.0, ge=0, le=10, doc="trace: multiplicative log-normal noise per segment (coefficient of variation, <= 10)"
    )

    def __post_init__(self) -> None:
        if self.model == "markov":
            if len(self.states_mbps) < 2:
                raise Invalid("states_mbps", "markov needs at least two states")
            for i, c in enumerate(self.states_mbps):
                if c < 0 or c != c:
                    raise Invalid(f"states_mbps[{i}]", f"must be >= 0, got {c}")
        if self.model == "trace" and not self.trace:
            raise Invalid("trace", "model trace needs a trace file (a path or builtin:NAME)")
        if self.model == "drive" and self.outage is not None:
            raise Invalid("outage", "outages apply to synthetic capacity models; a drive has its own")


@dataclass(frozen=True)
class DriveConfig:
    """A real drive as the world's place (see :mod:`romanus.drives` and docs/drives.md): a
    G-NetTrack log whose derived uplink and measured downlink are the links' capacity (for a
    link with ``model: drive``) and whose route, speed, network mode and modem KPIs the vehicle
    sees (``World.place``). Simulation time 0 is drive time ``start_s``; nothing loops."""

    file: str = field(doc="the G-NetTrack log (a path, relative to the preset file that names it)")
    start_s: float | None = field(
        0.0,
        ge=0,
        le=86_400,
        doc="drive time at simulation time 0 (<= 1 day); null: drawn per episode from the seed, "
        "uniform over the drive's first (duration - env.episode_s) seconds",
    )
    uplink_model: Literal["dl_ratio", "cqi"] = field(
        "dl_ratio", doc="derivation of the uplink capacity (romanus.drives.uplink_capacity)"
    )
    handover_interruptions: bool = field(True, doc="zero capacity during each handover's interruption")
    kpi_delay_s: float = field(
        1.0, ge=0, le=60, doc="[assumed] reporting delay of modem KPIs to the planner (romanus.drives.KPI_DELAY_S)"
    )


@dataclass(frozen=True)
class RttConfig:
    """Round-trip time per request: shift + Gamma(shape, scale)."""

    shape: float = field(3.5, ge=0.01, le=10_000, doc="Gamma shape (0.01 .. 1e4)")
    scale_ms: float = field(5.5, ge=0, le=100_000, doc="Gamma scale (<= 100 s)")
    shift_ms: float = field(10.0, ge=0, le=100_000, doc="fixed part (<= 100 s)")


@dataclass(frozen=True)
class BackgroundLoadConfig:
    """Other tenants: Poisson arrivals whose rate follows a Markov load process."""

    levels: dict[str, float] = field(
        default_factory=lambda: {"low": 0.3, "medium": 0.6, "high": 0.85},
        doc="load level -> utilisation of all workers by background requests",
    )
    initial: str = field("medium", doc="load level at time 0")
    mean_dwell_s: float = field(
        20.0, ge=0.1, le=1e6, doc="[assumed] mean time at one load level (0.1 s .. about 11 days)"
    )
    service_ms: float = field(
        8.0, ge=0.1, le=100_000, doc="[assumed] mean service time of a background request (0.1 ms .. 100 s)"
    )
    service_cv: float = field(
        0.05,
        ge=0,
        lt=1,
        doc="coefficient of variation of service times (MLPerf p99/mean 1.01-1.15); 0 or in [0.001, 1)",
    )

    def __post_init__(self) -> None:
        if not self.levels:
            raise Invalid("levels", "at least one load level is needed")
        for name, u in self.levels.items():
            if not 0.0 <= u < 1.0:
                raise Invalid(f"levels.{name}", f"utilisation must be in [0, 1), got {u}")
        if self.initial not in self.levels:
            raise Invalid("initial", f"{self.initial!r} is not one of levels ({', '.join(self.levels)})")
        _check_cv(self.service_cv, "service_cv")


@dataclass(frozen=True)
class ServerConfig:
    enabled: bool = field(True, doc="false: no edge server; every offloading mode is masked")
    workers: int = field(4, ge=1, le=256, doc="GPU workers serving one request each (<= 256)")
    speedup: float = field(
        7.0, ge=0.01, le=10_000, doc="[assumed] server module time = vehicle time / speedup (0.01 .. 1e4)"
    )
    service_cv: float = field(
        0.05, ge=0, lt=1, doc="coefficient of variation of our requests' service time; 0 or in [0.001, 1)"
    )
    telemetry_period_ms: float = field(
        500.0, ge=10, le=60_000, doc="[assumed] server load report period (10 ms .. 1 min)"
    )
    telemetry_delay_ms: float = field(
        250.0, ge=0, le=60_000, doc="[assumed] age of a report when the vehicle receives it (<= 1 min)"
    )
    background: BackgroundLoadConfig = field(default_factory=BackgroundLoadConfig)
    profile: str | None = field(None, doc="server module latencies from this profile file; null: vehicle / speedup")

    def __post_init__(self) -> None:
        _check_cv(self.service_cv, "service_cv")
        bg = self.background
        rate_hz = self.workers * max(bg.levels.values()) / (bg.service_ms / 1000.0)
        if self.enabled and rate_hz > MAX_BACKGROUND_RATE_HZ:
            least_ms = self.workers * max(bg.levels.values()) / MAX_BACKGROUND_RATE_HZ * 1000.0
            raise Invalid(
                "background.service_ms",
                f"{self.workers} workers at utilisation {max(bg.levels.values()):g} would receive {rate_hz:.3g} "
                f"background requests/s (at most {MAX_BACKGROUND_RATE_HZ:g}); needs >= {least_ms:.3g} ms "
                "or fewer workers",
            )


@dataclass(frozen=True)
class SceneConfig:
    """Semi-Markov scene process over RADIATE scene types."""

    mix: dict[str, float] = field(doc="scene type -> relative frequency of entering it")
    mean_dwell_s: float = field(
        30.0, ge=0.1, le=1e6, doc="[assumed] mean dwell time in a scene (0.1 s .. about 11 days)"
    )
    dwell_shape: float = field(2.0, ge=0.01, le=10_000, doc="[assumed] Gamma shape of dwell times (0.01 .. 1e4)")

    def __post_init__(self) -> None:
        if not self.mix:
            raise Invalid("mix", "at least one scene type is needed")
        for name, w in self.mix.items():
            if w < 0:
                raise Invalid(f"mix.{name}", f"must be >= 0, got {w}")
        if sum(self.mix.values()) <= 0:
            raise Invalid("mix", "weights must not all be zero")


@dataclass(frozen=True)
class RewardConfig:
    """Per-frame reward: -energy_weight * energy / energy_scale - risk_penalty * risky
    - miss_penalty * missed."""

    kind: Literal["energy-risk"] = field("energy-risk", doc="reward function, by name")
    energy_weight: float = field(1.0, ge=0, le=1e6, doc="weight of the normalised frame energy (<= 1e6)")
    risk_penalty: float = field(
        50.0, ge=0, le=1e6, doc="[assumed] penalty of a risky frame (in units of the energy scale; <= 1e6)"
    )
    miss_penalty: float = field(
        0.0, ge=0, le=1e6, doc="extra penalty of a deadline miss (a miss is risky already; <= 1e6)"
    )
    energy_scale_mj: float | None = field(
        None,
        ge=0.001,
        le=1e9,
        doc="energy normaliser (default: the costliest scene's local-robust frame energy); 1 uJ .. 1 MJ",
    )
    credit_gamma: float | None = field(
        None,
        gt=0,
        le=1,
        doc="the learner's discount: a frame's reward, credited when it resolves k steps after its decision, "
        "is divided by credit_gamma**k, so the decision's discounted return counts it in full (else an offload "
        "that falls back at its deadline is discounted as if it cost less); None: credited as resolved",
    )


@dataclass(frozen=True)
class ShieldConfig:
    """A safety shield between the learner and the world (see :mod:`romanus.vehicle.estimates`): it masks
    the modes whose estimated probability of a risky frame exceeds ``risk_budget`` (a mode
    not robust enough for the scene is risky for sure), and replaces such an action by the
    least expected energy allowed mode when a learner that ignores masks picks one."""

    risk_budget: float | None = field(
        None, gt=0, lt=1, doc="largest estimated probability of a risky frame allowed per frame (None: no shield)"
    )
    energy_guard: bool = field(
        False,
        doc="also mask the offloading actions whose expected energy (the risk estimate's, fallback included) "
        "is above the least of the allowed actions that do not offload: offloads the vehicle expects to lose "
        "energy on",
    )


@dataclass(frozen=True)
class EnvConfig:
    """How the world is posed as a learning problem (the Gymnasium environment)."""

    episode_s: float = field(60.0, gt=0, le=86_400, doc="simulated time per episode (reaching it truncates; <= 1 day)")
    observation: str = field("vehicle", doc="observation function, by name")
    reward: RewardConfig = field(default_factory=RewardConfig)
    shield: ShieldConfig = field(default_factory=ShieldConfig)


#: [assumed] per-scene deadlines of the ``scene`` deadline model (ms), from the time headway
#: a scene allows (SEO, arXiv 2302.12493, turns the driving safety state into a per-frame
#: deadline; these values are ours): long headways on an open motorway or rural road leave
#: more time than dense city traffic and junctions; in rain, snow and fog vehicles drive
#: slower at longer headways; night keeps the design deadline.
DEFAULT_SCENE_DEADLINES_MS: dict[str, float] = {
    "city": 100.0,
    "junction": 100.0,
    "motorway": 200.0,
    "rural": 150.0,
    "rain": 150.0,
    "snow": 150.0,
    "fog": 150.0,
    "night": 100.0,
}


@dataclass(frozen=True)
class DeadlineConfig:
    """Per-frame deadlines from the driving context (docs/physics.md, "Deadlines").

    ``fixed``: ``deadline_ms`` for every frame. ``scene``: the deadline of the scene at capture
    (``scene_ms``; a scene without a row keeps ``deadline_ms``). ``speed``: from the vehicle's
    speed on a recorded drive, the time to cover ``budget_m`` metres, clipped to
    [``min_ms``, ``max_ms``] (a world without speed, i.e. a synthetic one, uses ``deadline_ms``).
    """

    model: Literal["fixed", "scene", "speed"] = "fixed"
    scene_ms: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_SCENE_DEADLINES_MS),
        doc="[assumed] scene -> deadline (ms) of the scene model (each 1 ms .. 10 s)",
    )
    budget_m: float = field(
        3.0,
        gt=0,
        le=1000,
        doc="[assumed] speed model: metres the vehicle may travel while a frame is perceived (<= 1 km)",
    )
    min_ms: float = field(100.0, gt=0, le=10_000, doc="speed model: shortest deadline (<= 10 s)")
    max_ms: float = field(300.0, gt=0, le=10_000, doc="speed model: longest deadline, also when stopped (<= 10 s)")

    def __post_init__(self) -> None:
        for scene, ms in self.scene_ms.items():
            if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not 1.0 <= ms <= 10_000.0:
                raise Invalid(f"scene_ms.{scene}", f"must be a number of ms in [1, 10000], got {ms!r}")
        if self.max_ms < self.min_ms:
            raise Invalid("max_ms", f"must be >= min_ms ({self.min_ms}), got {self.max_ms}")


@dataclass(frozen=True)
class FallbackConfig:
    """The just-in-time local fallback of offloaded frames (EnergyShield, arXiv 2302.06572).

    An offloading action may carry a fallback: if the frame's result is not back on the
    vehicle by its fallback time, the vehicle runs a tier robust enough for the scene itself (``tier``; preempting
    later frames' work on the accelerator) and discards the late result. Fallback option k
    triggers ``options_ms[k]`` before the just-in-time time = deadline - the fallback's
    vehicle time - fusion - ``margin_ms`` - fallbacks of earlier deadlines still pending. The
    fallback runs ``tier``: by default the cheapest tier robust enough for the scene (robust,
    by the preset's robustness margin; less work than the most robust tier, so a later
    just-in-time time and a cheaper fallback).
    ``options_ms: []`` offers no fallback actions (the action space is the mode catalogue).
    """

    options_ms: tuple[float, ...] = field(
        (0.0, 20.0), ge=0, le=1000, doc="fallback options: ms before the just-in-time time (each 0 .. 1000; at most 8)"
    )
    margin_ms: float = field(
        2.0, ge=0, le=1000, doc="[assumed] safety margin before the just-in-time time (preemption latency; <= 1 s)"
    )
    tier: Literal["cheapest", "most_robust"] = field(
        "cheapest",
        doc="what the fallback runs on the vehicle: the least-compute tier robust enough for the scene, or the "
        "scene's most robust tier (local-robust)",
    )

    def __post_init__(self) -> None:
        if len(self.options_ms) > 8:
            raise Invalid("options_ms", f"at most 8 options, got {len(self.options_ms)}")
        if len(set(self.options_ms)) != len(self.options_ms):
            raise Invalid("options_ms", f"options must differ, got {list(self.options_ms)}")


_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Preset:
    """One simulated world: pipeline, vehicle, links, server, scenes and timing."""

    name: str = field(doc="CamelCase name; the Gymnasium id is romanus/<name>-v<version>")
    pipeline: PipelineConfig  # type: ignore[misc]  # configio.field(doc=...) without a default is required
    scene: SceneConfig  # type: ignore[misc]
    version: int = field(0, ge=0, doc="bump when dynamics or reward change")
    description: str = ""
    period_ms: float = field(
        100.0, ge=1, le=1000, doc="perception cycle period (1 ms .. 1 s: 1 Hz to 1 kHz perception)"
    )
    deadline_ms: float = field(100.0, gt=0, le=10_000, doc="capture-to-fused-detections deadline (<= 10 s)")
    abandon_after_ms: float | None = field(
        None,
        gt=0,
        le=60_000,
        doc="unfinished work of a frame is cancelled this long after capture (default: deadline; <= 1 min)",
    )
    estimate_window_ms: float = field(
        1000.0, ge=1, le=60_000, doc="window of the vehicle's uplink throughput estimate (1 ms .. 1 min)"
    )
    deadlines: DeadlineConfig = field(default_factory=DeadlineConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    radio: RadioConfig = field(default_factory=RadioConfig)
    uplink: CapacityConfig = field(default_factory=CapacityConfig)
    downlink: CapacityConfig = field(default_factory=lambda: CapacityConfig(model="constant", capacity_mbps=100.0))
    rtt: RttConfig = field(default_factory=RttConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    drive: DriveConfig | None = field(None, doc="a real drive as the world's place (links with model: drive)")
    coverage_map: str | None = field(
        None, doc="a coverage map file (romanus coverage build) the vehicle looks ahead in; null: none"
    )
    capacity_library: str | None = field(
        None,
        doc="a capacity library (romanus coverage paths): uplink paths of other drives the risk estimate "
        "draws beside its own history, a population prior (romanus.vehicle.population); null: none",
    )

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise Invalid("name", f"must be letters, digits and underscores starting with a letter, got {self.name!r}")
        if self.env.episode_s < self.period_ms / 1000.0:
            raise Invalid("env.episode_s", f"must cover at least one period ({self.period_ms} ms)")
        if self.abandon_after_ms is not None and self.abandon_after_ms < self.max_deadline_ms:
            what = "deadline_ms" if self.deadlines.model == "fixed" else "the longest dynamic deadline"
            raise Invalid(
                "abandon_after_ms", f"must be >= {what} ({self.max_deadline_ms:g}), got {self.abandon_after_ms}"
            )
        for link in ("uplink", "downlink"):
            if getattr(self, link).model == "drive" and self.drive is None:
                raise Invalid(f"{link}.model", "model drive needs a drive section (drive: {file: LOG})")
        if self.drive is not None and self.uplink.model != "drive":
            raise Invalid("uplink.model", "a preset with a drive section takes its uplink from it: use model drive")
        for scene in self.scene.mix:
            if scene not in self.pipeline.robustness:
                raise Invalid(f"scene.mix.{scene}", "scene type has no row in pipeline.robustness")
        if self.deadlines.model == "scene":
            for scene in self.deadlines.scene_ms:
                if scene not in self.pipeline.robustness and scene not in DEFAULT_SCENE_DEADLINES_MS:
                    raise Invalid(f"deadlines.scene_ms.{scene}", "scene type has no row in pipeline.robustness")
        # Work per simulated frame stays bounded (a run of N frames takes time and memory in
        # proportion to N): requests, frames in flight and acknowledgements per period.
        if self.abandon_ms / self.period_ms > MAX_FRAMES_IN_FLIGHT:
            key = "abandon_after_ms" if self.abandon_after_ms is not None else "deadline_ms"
            raise Invalid(
                key, f"{self.abandon_ms:g} ms is more than {MAX_FRAMES_IN_FLIGHT} periods of {self.period_ms:g} ms"
            )
        if self.estimate_window_ms / self.period_ms > MAX_ESTIMATE_FRAMES:
            raise Invalid(
                "estimate_window_ms",
                f"{self.estimate_window_ms:g} ms is more than {MAX_ESTIMATE_FRAMES} periods of {self.period_ms:g} ms",
            )
        bg = self.server.background
        per_frame = self.server.workers * max(bg.levels.values()) / bg.service_ms * self.period_ms
        if self.server.enabled and per_frame > MAX_BACKGROUND_PER_FRAME:
            raise Invalid(
                "server.background.service_ms",
                f"{per_frame:.3g} background requests per {self.period_ms:g} ms period at the busiest level "
                f"(at most {MAX_BACKGROUND_PER_FRAME:g}); raise service_ms or lower workers or period_ms",
            )

    @property
    def gym_id(self) -> str:
        return f"romanus/{self.name}-v{self.version}"

    @property
    def max_deadline_ms(self) -> float:
        """The longest deadline a frame can have (``deadline_ms`` with fixed deadlines)."""
        d = self.deadlines
        if d.model == "scene":
            return max([self.deadline_ms, *(d.scene_ms.get(s, self.deadline_ms) for s in self.scene.mix)])
        if d.model == "speed":
            return max(self.deadline_ms, d.max_ms)
        return self.deadline_ms

    @property
    def abandon_ms(self) -> float:
        """The longest a frame may stay unresolved: ``abandon_after_ms``, else the longest
        deadline (a frame's own abandon time is its deadline then)."""
        return self.max_deadline_ms if self.abandon_after_ms is None else self.abandon_after_ms

    def replace(self, **changes: Any) -> Preset:
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------- loading


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml's parser where available) that rejects duplicate keys instead of
    silently keeping the last one."""


MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Largest configuration file read (the shipped presets are a few kB)."""
MAX_YAML_NODES = 100_000
"""Most values a configuration file may hold once its aliases are expanded. A tiny file of
nested aliases (a "billion laughs") would otherwise expand to gigabytes in memory."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists (aliases expanded)."""
MAX_EXTENDS_DEPTH = 32
"""Longest ``extends`` chain."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

MAX_INT_CHARS = 40
"""An integer spelled with more characters is no configuration value (Python refuses to
parse more than 4300 digits with a bare ValueError)."""


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    if len(str(node.value)) > MAX_INT_CHARS:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of more than {MAX_INT_CHARS} characters", node.start_mark
        )
    return int(yaml.constructor.SafeConstructor.construct_yaml_int(loader, node))  # type: ignore[arg-type]


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand beyond :data:`MAX_YAML_NODES` values or
    :data:`MAX_YAML_DEPTH` levels, or refer to themselves, before anything is constructed.

    Each node's expanded size is computed once (aliases share node objects), iteratively, so
    the check itself costs time and memory in proportion to the file, not to its expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_YAML_NODES or depth[key] > MAX_YAML_DEPTH:
                line = node.start_mark.line + 1
                raise ConfigError(
                    source,
                    f"line {line}",
                    f"expands to more than {MAX_YAML_NODES:,} values or {MAX_YAML_DEPTH} levels "
                    "(nested aliases?); refused",
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(source, f"line {node.start_mark.line + 1}", "an alias refers to itself; refused")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _mark_line(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    return f"line {mark.line + 1}" if mark is not None else ""


def read_text_bounded(path: Path | str, what: str = "file", limit: int = MAX_CONFIG_BYTES) -> str:
    """A UTF-8 text file of at most ``limit`` bytes; any failure is a one-line
    :class:`ConfigError` naming the file."""
    source = str(path)
    try:
        data = read_bytes_bounded(path, limit)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(source, "", f"larger than {limit // 1024} kB; not a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(source, f"line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def read_yaml(path: Path | str, text: str | None = None) -> Any:
    """Parse YAML safely; syntax errors name the file and line. Aliases may not expand
    beyond :data:`MAX_YAML_NODES` values; keys must be plain values."""
    source = str(path)
    if text is None:
        text = read_text_bounded(path)
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(source, "", f"larger than {MAX_CONFIG_BYTES // 1024} kB; not a configuration file")
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(source, _mark_line(exc), " ".join(f"{exc.problem or exc.context}".split())) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(source, "", f"nested deeper than {MAX_YAML_DEPTH} levels; refused") from None
    finally:
        loader.dispose()


def _catalogue() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("romanus.presets")


def list_presets() -> list[str]:
    """Names of the shipped presets (file stems in the ``romanus.presets`` package)."""
    return sorted(p.name[: -len(".yaml")] for p in _catalogue().iterdir() if p.name.endswith(".yaml"))


def _resolve(name_or_path: str) -> tuple[str, str]:
    """(source label, YAML text) of a preset given by shipped name or file path."""
    candidate = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or candidate.is_file():
        return str(candidate), read_text_bounded(candidate, "preset file")
    wanted = name_or_path.lower()
    for p in _catalogue().iterdir():
        if p.name.endswith(".yaml") and p.name[: -len(".yaml")].lower() == wanted:
            return f"{p.name}", p.read_text(encoding="utf-8")
    raise ConfigError(
        name_or_path, "", f"no such preset (shipped presets: {', '.join(list_presets())}; or give a .yaml path)"
    )


def _parent(extends: Any, source: str) -> str | None:
    """The preset an ``extends`` value of the file ``source`` names (a relative YAML path is
    relative to that file), or None."""
    if extends is None:
        return None
    if not isinstance(extends, str):
        raise ConfigError(source, "extends", f"expected a preset name or path, got {extends!r}")
    if not Path(extends).is_absolute() and extends.endswith((".yaml", ".yml")) and Path(source).is_file():
        return str(Path(source).parent / extends)
    return extends


def _load_raw(name_or_path: str, chain: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, str], str]:
    source, text = _resolve(name_or_path)
    if source in chain:
        raise ConfigError(source, "extends", f"circular extends: {' -> '.join((*chain, source))}")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ConfigError(chain[0], "extends", f"chain of more than {MAX_EXTENDS_DEPTH} presets (now at {source})")
    data = read_yaml(source, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"expected a mapping at the top level, got {type(data).__name__}")
    parent = _parent(data.pop("extends", None), source)
    if parent is None:
        # Every key of a preset without a parent comes from its file: one origin per section
        # is enough (origins are looked up by the longest recorded prefix of a key), and a
        # walk over every leaf would expand nested aliases.
        return data, {str(k): source for k in data}, source
    base, base_origins, _ = _load_raw(parent, (*chain, source))
    merged, origins = deep_merge(base, data, base_origins, source, Preset)
    return merged, origins, source


def preset_header(name: str) -> tuple[str, int]:
    """(name, version) of a shipped preset without building it (for registering ids)."""
    data, _, source = _load_raw(name)
    preset_name, version = data.get("name"), data.get("version", 0)
    if not isinstance(preset_name, str) or not isinstance(version, int):
        raise ConfigError(source, "name", "a preset needs a string name and an integer version")
    return preset_name, version


def preset_lineage(name_or_path: str) -> list[str]:
    """The Gymnasium ids of the presets ``name_or_path`` extends, nearest first (its own not
    included): where a preset has no entry of its own (hyper-parameters), an ancestor's applies."""
    ids: list[str] = []
    ref: str | None = name_or_path
    while ref is not None and len(ids) <= MAX_EXTENDS_DEPTH:
        source, text = _resolve(ref)
        data = read_yaml(source, text)
        ref = _parent(data.get("extends") if isinstance(data, dict) else None, source)
        if ref is not None:
            name, version = preset_header(ref)  # also refuses a circular or too long chain
            ids.append(f"romanus/{name}-v{version}")
    return ids


def load_preset(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """Load a preset by shipped name (case-insensitive) or YAML path, then apply ``overrides``.

    ``overrides`` is a nested mapping merged last (its errors are reported as ``overrides``).
    """
    data, origins, source = _load_raw(name_or_path)
    if overrides:
        data, origins = deep_merge(data, overrides, origins, "overrides", Preset)
    _anchor_trace_paths(data, origins)
    preset = build(Preset, data, source=source, origins=origins)
    _check_place_files(preset, origins, source)
    return preset


def _check_place_files(preset: Preset, origins: Mapping[str, str], source: str) -> None:
    """A drive section's log and a coverage map must be readable now, not at the first
    episode: a :class:`ConfigError` naming the preset file and the field otherwise."""
    if preset.drive is not None:
        from romanus.drives import DriveError, load_drive_cached

        where = origin_of(origins, "drive.file", source)
        path = Path(preset.drive.file)
        if not path.is_file():
            raise ConfigError(where, "drive.file", f"no such file: {preset.drive.file}")
        try:
            drive = load_drive_cached(path)
        except DriveError as exc:
            raise ConfigError(where, "drive.file", f"not a usable G-NetTrack log ({exc})") from None
        if preset.drive.start_s is not None and preset.drive.start_s >= drive.duration_s:
            raise ConfigError(
                origin_of(origins, "drive.start_s", source),
                "drive.start_s",
                f"{preset.drive.start_s:g} s is past the end of the drive ({drive.duration_s:g} s)",
            )
    if preset.capacity_library is not None:
        from romanus.coverage import load_library

        try:
            load_library(preset.capacity_library)
        except ValueError as exc:
            raise ConfigError(origin_of(origins, "capacity_library", source), "capacity_library", str(exc)) from None
    if preset.coverage_map is not None:
        from romanus.coverage import load_coverage

        try:
            load_coverage(preset.coverage_map)
        except ValueError as exc:
            raise ConfigError(origin_of(origins, "coverage_map", source), "coverage_map", str(exc)) from None


def _anchor_trace_paths(data: dict[str, Any], origins: Mapping[str, str]) -> None:
    """Make relative trace and profile paths relative to the preset file that names them."""
    for section_name, key in (
        ("uplink", "trace"),
        ("downlink", "trace"),
        ("pipeline", "profile"),
        ("server", "profile"),
        ("drive", "file"),
    ):
        section = data.get(section_name)
        if not isinstance(section, dict) or not isinstance(section.get(key), str):
            continue
        value = section[key]
        origin = origin_of(origins, f"{section_name}.{key}")
        if value and not value.startswith("builtin:") and not Path(value).is_absolute() and Path(origin).is_file():
            data[section_name] = {**section, key: str(Path(origin).parent / value)}
    for key in ("coverage_map", "capacity_library"):
        value = data.get(key)
        origin = origin_of(origins, key)
        if isinstance(value, str) and value and not Path(value).is_absolute() and Path(origin).is_file():
            data[key] = str(Path(origin).parent / value)
