"""Ablations of the risk estimate's server-wait term (issue 16): which part makes a preset's
calibration wrong? Each variant replaces how the vehicle's risk estimate forms its server
queueing-delay distribution; the calibration table is then computed as in calibration.py.

    python experiments/calibration/ablation.py --preset adverse_weather --seeds 300:340 --variant oracle

Tune on seeds 300-339 only (issue 16's data discipline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import calibration as cal

from romanus.vehicle import estimates as est

VARIANTS: dict[str, dict] = {}


def _surv_from(self: est.RiskEstimator, waits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    rtt = self._survival()
    if weights is None:
        weights = np.ones(len(waits))
    weights = weights / weights.sum()
    cells = np.minimum(np.round(np.asarray(waits) / est._GRID_MS).astype(np.intp), len(rtt) - 1)
    out = np.zeros(len(rtt))
    body = rtt[:-1]
    for shift, wgt in zip(cells.tolist(), weights.tolist(), strict=True):
        out[: len(body)] += wgt * np.concatenate([np.ones(shift), body[: len(body) - shift]])
    out[-1] = 1.0
    return out


def install(variant: str, **kw: float) -> None:
    base_observe = est.RiskEstimator.observe
    base_qs = est.RiskEstimator._queue_survival

    if variant == "base":

        def qs0(self):  # type: ignore[no-untyped-def]
            out = base_qs(self)
            rep = self._view.server_report if hasattr(self, "_view") else None
            if out is None:
                self._wait_samples = None if rep is None else np.array([rep.wait_ms])
            else:
                self._wait_samples = np.array([b for _, b in self._waits])
            return out

        def observe0(self, view):  # type: ignore[no-untyped-def]
            self._view = view
            base_observe(self, view)

        est.RiskEstimator._queue_survival = qs0
        est.RiskEstimator.observe = observe0
        return
    if variant == "oracle":  # the true wait now (a point), RTT survival shifted by it

        def observe(self, view):  # type: ignore[no-untyped-def]
            base_observe(self, view)
            srv = view._sim.server
            self._true_w = 0.0 if srv is None else srv.true_wait_s(view.time_s) * 1000.0

        def qs(self):  # type: ignore[no-untyped-def]
            self._wait_samples = np.array([self._true_w])
            return _surv_from(self, self._wait_samples)

        est.RiskEstimator.observe = observe
        est.RiskEstimator._queue_survival = qs
        return
    if variant == "recency":  # own waits, weighted exp(-age / tau)
        tau = kw.get("tau", 1.0)

        def qs(self):  # type: ignore[no-untyped-def]
            if len(self._waits) < est.MIN_WAITS:
                return None
            t = np.array([a for a, _ in self._waits])
            w = np.array([b for _, b in self._waits])
            self._wait_samples = w
            return _surv_from(self, w, np.exp((t - t.max()) / tau))

        est.RiskEstimator._queue_survival = qs
        return
    if variant in (
        "reportnn",
        "reportmix",
        "report2d",
        "level",
        "levelr",
        "reportinc",
        "reportincmix",
    ):  # the report series' next values after reports near the latest
        k = int(kw.get("k", 40))
        hist_s = kw.get("hist", 60.0)

        def observe(self, view):  # type: ignore[no-untyped-def]
            base_observe(self, view)
            rep = view.server_report
            if not hasattr(self, "_reps"):
                self._reps = []
            if rep is not None and (not self._reps or self._reps[-1][0] != rep.time_s):
                self._reps.append((rep.time_s, rep.wait_ms, rep.utilisation, rep.arrival_rate_hz))
            while self._reps and self._reps[0][0] < view.time_s - hist_s:
                self._reps.pop(0)
            self._rep_now = None if rep is None else rep.wait_ms
            self._rep_u = None if rep is None else rep.utilisation

        def qs(self):  # type: ignore[no-untyped-def]
            reps = getattr(self, "_reps", [])
            self._wait_samples = None
            if len(reps) < 12 or self._rep_now is None:
                return base_qs(self)
            r = np.array([x[1] for x in reps])
            u = np.array([x[2] for x in reps])
            prev, nxt = r[:-1], r[1:]
            d = np.abs(prev - self._rep_now)
            if variant in ("level", "levelr"):
                a = np.array([x[3] for x in reps])
                sm = int(kw.get("sm", 4))
                ca = np.convolve(a, np.ones(sm) / sm, mode="full")[: len(a)]  # trailing mean
                ca[: sm - 1] = np.cumsum(a[: sm - 1]) / np.arange(1, sm)
                dist = np.abs(ca - ca[-1]) / max(ca[-1], 1e-9)
                if variant == "levelr":
                    dist = dist[:-1] / kw.get("as", 0.05) + np.abs(prev - self._rep_now) / kw.get("ws", 20.0)
                    keep = np.argsort(dist, kind="stable")[:k]
                    samples = nxt[keep]
                else:
                    keep = np.argsort(dist, kind="stable")[:k]
                    samples = r[keep]
                self._wait_samples = samples
                return _surv_from(self, samples)
            if variant == "report2d":
                d = d / kw.get("ws", 10.0) + np.abs(u[:-1] - self._rep_u) / kw.get("us", 0.05)
            keep = np.argsort(d, kind="stable")[:k]
            samples = nxt[keep]
            if variant in ("reportinc", "reportincmix"):
                samples = np.maximum(0.0, self._rep_now + nxt[keep] - prev[keep])
            if variant in ("reportmix", "reportincmix") and len(self._waits) >= est.MIN_WAITS:
                own = np.array([b for _, b in self._waits])
                samples = np.concatenate([samples, own])
            self._wait_samples = samples
            return _surv_from(self, samples)

        est.RiskEstimator.observe = observe
        est.RiskEstimator._queue_survival = qs
        return
    if variant == "onsetslot":  # onsets counted after periods whose last uplink slot is like now's
        base_onsets = est.RiskEstimator._onsets

        def onsets(self, up, down):  # type: ignore[no-untyped-def]
            stay, _ = base_onsets(self, up, down)
            live = (up > 0.0) & (down > 0.0)
            last = self._ordered(self._up_slots)[:, -1]
            ok = live[:-1] & ((last[:-1] > 0.0) == (last[-1] > 0.0))
            onset = ok & ~live[1:]
            return stay, (float(onset.sum()) + 1.0) / (float(ok.sum()) + self._prior_periods)

        est.RiskEstimator._onsets = onsets
        return
    raise SystemExit(f"unknown variant {variant}")


class AllProbe(cal.Probe):
    """The calibration probe, also logging every offloaded frame's prediction and wait PIT."""

    def act(self, view):  # type: ignore[no-untyped-def]
        m = super().act(view)
        if self.cat.offload_mask[m]:
            p, _ = self.assess(view)
            self.all_p[view.frame] = float(p[m])
            e = self.assess.estimator
            self.samples[view.frame] = getattr(e, "_wait_samples", None)
        return m


def run(preset: str, seed: int, seconds: float, scenario: Path | None) -> dict:
    from romanus.vehicle.view import drive

    sim, frames = cal.simulator_for(preset, seed, seconds, scenario)
    pol = AllProbe(sim, 0.002, 0.2, np.random.default_rng([seed, 7]))
    pol.all_p, pol.samples = {}, {}
    log = drive(sim, pol, frames)
    fr = {int(f): i for i, f in enumerate(log["frame"])}
    met, wait = log["deadline_met"], log["server_wait_ms"]
    out = {"pred": [], "miss": [], "allp": [], "allmiss": [], "pit": [], "pit_in": []}
    for f in sorted(pol.predicted):
        out["pred"].append(pol.predicted[f])
        out["miss"].append(not bool(met[fr[f]]))
    for f in sorted(pol.all_p):
        out["allp"].append(pol.all_p[f])
        out["allmiss"].append(not bool(met[fr[f]]))
        smp = pol.samples[f]
        if smp is not None and len(smp):
            w = float(wait[fr[f]])
            out["pit"].append(float(np.mean(smp > w) + 0.5 * np.mean(smp == w)))
            if f in pol.predicted:
                out["pit_in"].append(out["pit"][-1])
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="adverse_weather")
    ap.add_argument("--seeds", default="300:340")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--variant", default="base")
    ap.add_argument("--kw", default="", help="k=v,k=v")
    ap.add_argument("--suite", type=Path)
    args = ap.parse_args()
    kw = {a: float(b) for a, b in (x.split("=") for x in args.kw.split(",") if x)}
    install(args.variant, **kw)
    a, _, b = args.seeds.partition(":")
    if args.suite:
        from romanus.scenario import load_suite

        res = [run("", i, 0, f) for i, f in enumerate(load_suite(args.suite))]
    else:
        res = [run(args.preset, s, args.seconds, None) for s in range(int(a), int(b))]
    if hasattr(cal, "Run"):
        runs = [cal.Run(r["pred"], r["miss"].astype(bool), r["allp"], r["allmiss"].astype(bool)) for r in res]
    else:  # calibration.py before issue 16's changes
        runs = [(r["pred"], r["miss"].astype(bool)) for r in res]
    rows = cal.table(runs, np.random.default_rng(0))
    ap_ = np.concatenate([r["allp"] for r in res])
    am = np.concatenate([r["allmiss"] for r in res])
    pit = np.concatenate([r["pit"] for r in res])
    pin = np.concatenate([r["pit_in"] for r in res])
    print(
        f"{args.preset} {args.variant} {kw} offloads={len(ap_)} brier_all={np.mean((ap_ - am) ** 2):.5f} "
        f"mean_p={ap_.mean():.4f} miss={am.mean():.4f} | wait PIT n={len(pit)} "
        + " ".join(f"P(pit<{q})={np.mean(pit < q):.4f}" for q in (0.01, 0.05, 0.1, 0.5))
        + f" | in range n={len(pin)} "
        + " ".join(f"P(pit<{q})={np.mean(pin < q):.4f}" for q in (0.01, 0.05, 0.1, 0.5))
    )
    for r in rows:
        print(
            f"  {r['bucket']:>16} n={r['frames']:5d} pred={r['predicted']:.2%} obs={r['observed']:.2%} "
            f"ratio={r['ratio']:.2f} [{r['ratio_ci'][0]:.2f}, {r['ratio_ci'][1]:.2f}]",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
