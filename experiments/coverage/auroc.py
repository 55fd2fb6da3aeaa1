"""Does a coverage map predict a weak uplink? Leave-one-day-out over the irish-5g drives.

For each held-out day: a map is built from the other days; a logistic model is fitted on the
other days' samples, each with features from a map that never saw that sample's own day
(nested leave-one-day-out), and scored on the held-out day. Target: the derived uplink
``horizon`` seconds ahead below ``--threshold-mbps`` (3.8 Mbit/s: a two-stem bottleneck
payload, ~47 kB, in one 100 ms period). Prints pooled and per-day AUROC, current
measurements only vs current measurements + the map ahead on the route.

    python experiments/coverage/auroc.py ../shared/traces/irish-5g --horizons 1 5 10

:func:`held_out_auroc` asks the place study's question (``experiments/place/study.py``) on the
held-out day only: one second ahead, is the sample's uplink too low to carry the offload
payload in time (:func:`romanus.vehicle.mapaware.needed_uplink_mbps` at the frame deadline
the speed deadline model gives there, the same definition ``map-aware-greedy`` uses); a map and
a model from the earlier days only; without the map (the vehicle's own measurements and its
delayed modem KPIs), with it (+ the cells ahead), and the map's own shortfall probability as a
score with nothing fitted; intervals from a block bootstrap over minutes of driving.

    python experiments/coverage/auroc.py ../shared/traces/irish-5g --held-out 2020-02-14
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from romanus.config import DeadlineConfig
from romanus.coverage import CoverageMap, build_coverage
from romanus.drives import (
    KPI_DELAY_S,
    Drive,
    find_drives,
    handovers,
    load_drive,
    mode_family,
    positions,
    uplink_samples,
)
from romanus.sim.place import Place
from romanus.vehicle.mapaware import needed_uplink_mbps, shortfall_probability

#: the offload payload of the question (Mbit): the default preset's bottleneck payload of the
#: robust tier at the default split (``offload-all``'s, ~47 kB), 0.379 Mbit
PAYLOAD_MBIT = 0.379008


def auroc(score: np.ndarray, y: np.ndarray) -> float:
    r = rankdata(score)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def features(m: CoverageMap, drives: list[Drive], horizon: int, thr: float) -> tuple[np.ndarray, np.ndarray]:
    rows, target = [], []
    for d in drives:
        up = uplink_samples(d)
        lon, lat = positions(d)
        for i in range(2, len(up) - horizon):
            c = m.ahead(lon, lat, i, float(d.speed_kmh[i]), float(horizon), float(horizon))[-1]
            mapped = c is not None
            rows.append(
                [
                    np.log1p(up[i]),
                    np.log1p(up[i - 1]),
                    float(mapped),
                    c.outage_share if c else 0.0,
                    np.log1p(c.uplink_p50_mbps) if c else 0.0,
                    np.log1p(c.uplink_p10_mbps) if c else 0.0,
                ]
            )
            target.append(up[i + horizon] < thr)
    return np.array(rows), np.array(target, bool)


def speed_deadlines_ms(d: Drive, cfg: DeadlineConfig | None = None) -> np.ndarray:
    """Per sample, the frame deadline of the ``speed`` model (as ``Simulator.deadline_ms_at``)."""
    cfg = cfg or DeadlineConfig(model="speed")
    place = Place.from_drive(d)
    v = np.array([place.speed_mps(float(t)) for t in d.time_s])
    with np.errstate(divide="ignore"):
        ms = np.where(v > 0, cfg.budget_m / np.maximum(v, 1e-12) * 1000.0, np.inf)
    return np.clip(ms, cfg.min_ms, cfg.max_ms)


#: names of :func:`payload_features`' columns: the vehicle's own (no map) ...
OWN = (
    "uplink_now",
    "uplink_prev",
    "needed",
    "rsrp",
    "rsrq",
    "snr",
    "cqi",
    "kpi_missing",
    "nr",
    "lte",
    "3g",
    "since_ho",
)
#: ... then the map's (the cell 1 s ahead; zeros when unseen)
MAP = ("mapped", "outage", "p10", "p50", "handovers", "shortfall")


def payload_features(
    m: CoverageMap, drives: list[Drive], horizon: int = 1, payload_mbit: float = PAYLOAD_MBIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, target, block id) per sample ``i`` of each drive: what the vehicle knows at
    ``t_i`` (its uplink measurements now and one sample back, the needed rate, the modem KPIs
    ``KPI_DELAY_S`` late, the time since the last handover reported by then), then the map's
    cell ``horizon`` s ahead along the route at the current speed; target: sample ``i +
    horizon``'s uplink below :func:`needed_uplink_mbps` at that sample's deadline. Blocks are
    minutes of one drive (for a block bootstrap)."""
    rows, target, block = [], [], []
    for k, d in enumerate(drives):
        up = uplink_samples(d)
        lon, lat = positions(d)
        need = np.array([float(needed_uplink_mbps(payload_mbit, x)) for x in speed_deadlines_ms(d)])
        hos = np.array([h.time_s for h in handovers(d)])
        seen = np.searchsorted(d.time_s, d.time_s - KPI_DELAY_S, side="right") - 1
        for i in range(2, len(up) - horizon):
            j = seen[i]
            kpi = [d.rsrp_dbm[j], d.rsrq_db[j], d.snr_db[j], d.cqi[j]] if j >= 0 else [np.nan] * 4
            fam = mode_family(d.mode_names[int(d.network_mode[j])]) if j >= 0 else ""
            past = hos[hos <= d.time_s[i] - KPI_DELAY_S]
            since = min(d.time_s[i] - past[-1], 60.0) if len(past) else 60.0
            c = m.ahead(lon, lat, i, float(d.speed_kmh[i]), float(horizon), float(horizon))[-1]
            short = float(shortfall_probability(c, m.outage_mbps, np.array(need[i + horizon]))) if c else 0.0
            rows.append(
                [
                    np.log1p(up[i]),
                    np.log1p(up[i - 1]),
                    np.log1p(need[i]),
                    (np.nan_to_num(kpi[0], nan=-140.0) + 140.0) / 100.0,
                    (np.nan_to_num(kpi[1], nan=-30.0) + 30.0) / 30.0,
                    (np.nan_to_num(kpi[2], nan=-10.0) + 10.0) / 40.0,
                    np.nan_to_num(kpi[3], nan=0.0) / 15.0,
                    float(np.isnan(kpi).any()),
                    float(fam == "nr"),
                    float(fam == "lte"),
                    float(fam == "3g"),
                    since / 60.0,
                    float(c is not None),
                    c.outage_share if c else 0.0,
                    np.log1p(c.uplink_p10_mbps) if c else 0.0,
                    np.log1p(c.uplink_p50_mbps) if c else 0.0,
                    min(c.handovers_per_s, 1.0) if c else 0.0,
                    short,
                ]
            )
            target.append(up[i + horizon] < need[i + horizon])
            block.append(k * 100_000 + int(d.time_s[i] // 60.0))
    return np.array(rows), np.array(target, bool), np.array(block)


def _block_bootstrap(
    scores: dict[str, np.ndarray], y: np.ndarray, block: np.ndarray, n: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """AUROC of each score on ``n`` resamples of whole blocks (the same resamples for all)."""
    rng = np.random.default_rng(seed)
    ids, inverse = np.unique(block, return_inverse=True)
    members = [np.flatnonzero(inverse == b) for b in range(len(ids))]
    out: dict[str, list[float]] = {k: [] for k in scores}
    for _ in range(n):
        pick = np.concatenate([members[b] for b in rng.integers(len(ids), size=len(ids))])
        yy = y[pick]
        if yy.all() or not yy.any():
            continue
        for k, sc in scores.items():
            out[k].append(auroc(sc[pick], yy))
    return {k: np.array(v) for k, v in out.items()}


def held_out_auroc(
    drives: list[Drive],
    test_day: str,
    *,
    horizon: int = 1,
    payload_mbit: float = PAYLOAD_MBIT,
    cell_m: float = 100.0,
    resamples: int = 1000,
) -> dict[str, dict[str, float]]:
    """AUROC on ``test_day`` of four scores: ``rates only`` (logistic on the vehicle's uplink
    measurements and the needed rate: :data:`OWN` up to the KPIs), ``without map`` (logistic
    on :data:`OWN`, which adds the delayed modem KPIs, network mode and time since handover),
    ``with map`` (logistic on :data:`OWN` + :data:`MAP`), ``map shortfall alone`` (the cell
    ahead's shortfall probability, nothing fitted); the models are fitted on the earlier days,
    each day's map features from a map without that day (nested, as :func:`main`); the test
    day's from a map of all earlier days. Mean and 95 % block-bootstrap interval of each, and
    of the differences with - without map and without map - rates only (what the KPIs add)."""
    train = [d for d in drives if d.day < test_day]
    test = [d for d in drives if d.day == test_day]
    if not train or not test:
        raise ValueError(f"{test_day}: needs drives on that day and before it")
    parts = []
    for inner in sorted({d.day for d in train}):
        inner_map = build_coverage([d for d in train if d.day != inner], cell_m)
        parts.append(payload_features(inner_map, [d for d in train if d.day == inner], horizon, payload_mbit))
    xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    m = build_coverage(train, cell_m)
    xte, yte, block = payload_features(m, test, horizon, payload_mbit)
    own = len(OWN)
    rate = OWN.index("rsrp")  # the vehicle's own rate measurements and the needed rate only
    scores = {
        "rates only": np.c_[np.ones(len(xte)), xte[:, :rate]] @ fit(xtr[:, :rate], ytr),
        "without map": np.c_[np.ones(len(xte)), xte[:, :own]] @ fit(xtr[:, :own], ytr),
        "with map": np.c_[np.ones(len(xte)), xte] @ fit(xtr, ytr),
        "map shortfall alone": xte[:, -1],  # ties share their ranks (rankdata)
    }
    boot = _block_bootstrap(scores, yte, block, resamples)
    out: dict[str, dict[str, float]] = {}
    for k, sc in scores.items():
        lo, hi = np.quantile(boot[k], [0.025, 0.975])
        out[k] = {"mean": auroc(sc, yte), "low": float(lo), "high": float(hi)}
    for name, a, b in (
        ("with - without map", "with map", "without map"),
        ("KPIs: without map - rates only", "without map", "rates only"),
    ):
        lo, hi = np.quantile(boot[a] - boot[b], [0.025, 0.975])
        out[name] = {"mean": out[a]["mean"] - out[b]["mean"], "low": float(lo), "high": float(hi)}
    out["samples"] = {"mean": float(len(yte)), "low": math.nan, "high": math.nan}
    out["positive share"] = {"mean": float(yte.mean()), "low": math.nan, "high": math.nan}
    out["mapped share"] = {"mean": float(xte[:, own].mean()), "low": math.nan, "high": math.nan}
    return out


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xb = np.c_[np.ones(len(x)), x]

    def nll(w: np.ndarray) -> float:
        z = xb @ w
        return float(np.sum(np.logaddexp(0, z) - y * z) + 1e-3 * w @ w)

    def grad(w: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(xb @ w)))
        return xb.T @ (p - y) + 2e-3 * w

    return minimize(nll, np.zeros(xb.shape[1]), jac=grad, method="L-BFGS-B").x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("drives")
    ap.add_argument("--horizons", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--threshold-mbps", type=float, default=3.8)
    ap.add_argument("--cell-m", type=float, default=100.0)
    ap.add_argument("--held-out", metavar="DAY", help="the place study's question on this day only")
    args = ap.parse_args()
    drives = [load_drive(p) for p in find_drives(args.drives)]
    if args.held_out:
        for k, v in held_out_auroc(drives, args.held_out, cell_m=args.cell_m).items():
            print(f"{k:>22}: {v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]")
        return
    days = sorted({d.day for d in drives})
    thr = args.threshold_mbps
    for h in args.horizons:
        now, both, ys = [], [], []
        for held in days:
            train = [d for d in drives if d.day != held]
            parts = []
            for inner in sorted({d.day for d in train}):
                inner_map = build_coverage([d for d in train if d.day != inner], args.cell_m, outage_mbps=thr)
                parts.append(features(inner_map, [d for d in train if d.day == inner], h, thr))
            xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            m = build_coverage(train, args.cell_m, outage_mbps=thr)
            xte, yte = features(m, [d for d in drives if d.day == held], h, thr)
            now.append(np.c_[np.ones(len(xte)), xte[:, :2]] @ fit(xtr[:, :2], ytr))
            both.append(np.c_[np.ones(len(xte)), xte] @ fit(xtr, ytr))
            ys.append(yte)
        y = np.concatenate(ys)
        print(
            f"{h:>3} s ahead: AUROC now {auroc(np.concatenate(now), y):.3f}, now + map "
            f"{auroc(np.concatenate(both), y):.3f} ({len(y)} samples, {y.mean():.0%} positive); per day "
            + ", ".join(
                f"{d} {auroc(a, b):.3f}/{auroc(c, b):.3f}" for d, a, c, b in zip(days, now, both, ys, strict=True)
            )
        )


if __name__ == "__main__":
    main()
