"""Make the shipped default profile, romanus/data/profiles/px2.json, with `romanus profile`.

Module latencies (``latency_ms``) are scaled by FLOPs to the DRIVE PX2 calibration points of
the default preset; FLOPs, parameters, shapes and bytes come from the pure-torch modules; the
measured CPU latencies record the machine this ran on (they are informative only and differ
between machines; tests compare everything else exactly).

    python scripts/make_default_profile.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from romanus.cli import main

OUT = Path(__file__).resolve().parent.parent / "romanus" / "data" / "profiles" / "px2.json"

if __name__ == "__main__":
    sys.exit(main(["profile", "--env", "default", "--calibrate", "px2", "--repeats", "5", "--out", str(OUT), "-q"]))
