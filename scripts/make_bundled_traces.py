"""Make the small synthetic traces shipped in romanus/data/traces (one per supported format).

They are synthetic (not measurements): they exist so that presets, tests and examples can use
trace-driven links without anything outside the package. Real traces: ../shared/traces.

    python scripts/make_bundled_traces.py [--check]

``--check`` regenerates them in memory and fails if the shipped files differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "romanus" / "data" / "traces"


def lte_urban() -> str:
    """10 minutes of urban LTE uplink, 100 ms samples (cooked 'time_s Mbit/s')."""
    rng = np.random.default_rng(20261128)
    n = 6000
    shadow = np.exp(np.cumsum(rng.normal(0.0, 0.03, n)) * 0.5)  # slow log-normal drift
    shadow /= shadow.mean()
    rho = np.exp(-0.1 / 0.8)
    z = np.empty(n, dtype=np.complex128)
    prev = 0j
    for i in range(n):
        prev = rho * prev + np.sqrt(1 - rho**2) * complex(*rng.normal(0.0, 14.0, 2))
        z[i] = prev
    rate = np.abs(z) * shadow * 1.6
    return "".join(f"{0.1 * i:.1f}\t{r:.4f}\n" for i, r in enumerate(rate))


def rural_holes() -> str:
    """10 minutes of rural LTE with coverage holes, one sample per second (NYU 'value,unit')."""
    rng = np.random.default_rng(1)
    states = np.array([0.0, 0.8, 2.5, 6.0])
    s, out = 2, []
    for _ in range(600):
        if rng.random() < 0.15:
            s = int(rng.integers(len(states)))
        value = states[s] * rng.uniform(0.7, 1.3)
        if value == 0.0:
            out.append("0,bits/sec\n")
        elif value < 1.0:
            out.append(f"{value * 1000:.0f},Kbits/sec\n")
        else:
            out.append(f"{value:.2f},Mbits/sec\n")
    return "".join(out)


def umts_driving() -> str:
    """60 s of a 3G-like uplink around 2.5 Mbit/s (mahimahi delivery opportunities)."""
    rng = np.random.default_rng(3)
    lines = []
    rate_pkts_per_ms = 0.2
    for ms in range(1, 60001):
        if ms % 500 == 0:
            rate_pkts_per_ms = float(np.clip(rate_pkts_per_ms * rng.lognormal(0.0, 0.25), 0.02, 0.6))
        lines.extend([f"{ms}\n"] * int(rng.poisson(rate_pkts_per_ms)))
    if not lines or lines[-1] != "60000\n":
        lines.append("60000\n")  # the period: 60 s
    return "".join(lines)


TRACES = {"lte_urban.cooked": lte_urban, "rural_holes.csv": rural_holes, "umts_driving.up": umts_driving}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped files differ")
    args = parser.parse_args()
    bad = []
    for name, make in TRACES.items():
        text = make()
        path = OUT / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                bad.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"{path} ({len(text) // 1024} KiB)")
    if bad:
        print(f"differ from the generator: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
