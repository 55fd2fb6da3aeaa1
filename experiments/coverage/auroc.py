"""Does a coverage map predict a weak uplink? Leave-one-day-out over the irish-5g drives.

For each held-out day: a map is built from the other days; a logistic model is fitted on the
other days' samples, each with features from a map that never saw that sample's own day
(nested leave-one-day-out), and scored on the held-out day. Target: the derived uplink
``horizon`` seconds ahead below ``--threshold-mbps`` (3.8 Mbit/s: a two-stem bottleneck
payload, ~47 kB, in one 100 ms period). Prints pooled and per-day AUROC, current
measurements only vs current measurements + the map ahead on the route.

    python experiments/coverage/auroc.py ../shared/traces/irish-5g --horizons 1 5 10
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from romanus.coverage import CoverageMap, build_coverage
from romanus.drives import Drive, find_drives, load_drive, positions, uplink_samples


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
    args = ap.parse_args()
    drives = [load_drive(p) for p in find_drives(args.drives)]
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
