"""The comparison suite, serially and on a process pool, measured side by side.

The default suite: 20 scenarios x 7 policies (every fixed baseline and the oracle), 60 s of
the default preset each. Recording the suite is timed apart; each compare run writes every
output (results, per-frame Parquet, summary, four plots).

    python benchmarks/bench_compare.py [--scenarios 20] [--duration-s 60] [--workers 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from romanus.compare import compare
from romanus.policies import POLICY_NAMES
from romanus.scenario import record_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = record_suite("default", range(args.scenarios), args.duration_s, Path(tmp) / "suite")
        record_s = time.perf_counter() - t
        times = {}
        for workers in (1, args.workers):
            t = time.perf_counter()
            compare(files, list(POLICY_NAMES), Path(tmp) / f"out{workers}", workers=workers)
            times[workers] = time.perf_counter() - t
        same = (Path(tmp) / "out1" / "results.csv").read_bytes() == (
            Path(tmp) / f"out{args.workers}" / "results.csv"
        ).read_bytes()
    speedup = times[1] / times[args.workers]
    print(
        f"compare: {args.scenarios} scenarios x {len(POLICY_NAMES)} policies x {args.duration_s:g} s "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()})"
    )
    print(f"  recording the suite       {record_s:7.1f} s")
    print(f"  compare, 1 worker         {times[1]:7.1f} s")
    print(f"  compare, {args.workers} workers        {times[args.workers]:7.1f} s  (speed-up {speedup:.2f}x)")
    print(f"  identical results.csv     {same}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "record_s": record_s,
                    "serial_s": times[1],
                    "parallel_s": times[args.workers],
                    "workers": args.workers,
                    "speedup": speedup,
                    "identical": same,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
