"""Fleet scenarios: every exogenous input of a fleet, recorded once, replayed bit for bit.

A fleet's world is one single-vehicle world per vehicle (vehicle ``i`` from the seed
:func:`romanus.sim.fleet.vehicle_seed` gives it), the edge server's background tenants being
vehicle 0's. So a fleet scenario is a folder of ``N`` ordinary scenario files
(:mod:`romanus.scenario`, each checksummed and validated on load) and a ``fleet.json`` index
(format, romanus version, preset name, root seed, duration, vehicles, each file's checksum).
Replaying it (:meth:`FleetScenario.worlds`) gives a :class:`~romanus.sim.fleet.FleetSimulator`
exactly the inputs of the live run: same frame records, bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from romanus import __version__
from romanus.config import Preset
from romanus.fileio import atomic_write_bytes
from romanus.scenario import Scenario, ScenarioError, record_scenario
from romanus.sim.fleet import vehicle_seed
from romanus.sim.world import World

__all__ = ["FLEET_FORMAT", "FleetScenario", "record_fleet_scenario"]

FLEET_FORMAT = "romanus-fleet-scenario"
FLEET_FORMAT_VERSION = 1
_INDEX = "fleet.json"


@dataclass
class FleetScenario:
    """A recorded fleet world: one :class:`Scenario` per vehicle."""

    manifest: dict[str, Any]
    vehicles: list[Scenario]
    path: str | None = None

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def frames(self) -> int:
        return self.vehicles[0].frames

    @property
    def preset(self) -> Preset:
        return self.vehicles[0].preset

    def __len__(self) -> int:
        return len(self.vehicles)

    def worlds(self) -> list[World]:
        """Fresh worlds replaying the recording, one per vehicle (each run needs its own)."""
        return [sc.world() for sc in self.vehicles]

    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        created = self.manifest.get("created_utc")
        for i, sc in enumerate(self.vehicles):
            sc.save(out / f"vehicle-{i:04d}.scenario", created_utc=created)
        atomic_write_bytes(out / _INDEX, json.dumps(self.manifest, indent=1).encode())
        return out

    @classmethod
    def load(cls, folder: str | Path) -> FleetScenario:
        """Read and verify a fleet scenario folder (every vehicle's file is verified by
        :meth:`Scenario.load`, and must be the one the index names)."""
        root = Path(folder)
        source = str(root)
        index = root / _INDEX
        if not index.is_file():
            raise ScenarioError(source, f"not a fleet scenario: no {_INDEX}")
        try:
            m = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ScenarioError(source, f"{_INDEX} is unreadable: {exc}") from None
        if not isinstance(m, dict) or m.get("format") != FLEET_FORMAT:
            raise ScenarioError(source, f"{_INDEX}: format is not {FLEET_FORMAT!r}")
        if not isinstance(m.get("format_version"), int) or m["format_version"] > FLEET_FORMAT_VERSION:
            raise ScenarioError(source, f"{_INDEX}: format_version {m.get('format_version')!r} is not readable here")
        checksums = m.get("checksums")
        n = m.get("vehicles")
        if not isinstance(n, int) or n < 1 or not isinstance(checksums, list) or len(checksums) != n:
            raise ScenarioError(source, f"{_INDEX}: vehicles and checksums must name every vehicle's file")
        vehicles = []
        for i in range(n):
            sc = Scenario.load(root / f"vehicle-{i:04d}.scenario")
            if sc.checksum != checksums[i]:
                raise ScenarioError(source, f"vehicle {i}'s file is not the one the index names (checksum)")
            if sc.seed != vehicle_seed(int(m["seed"]), i):
                raise ScenarioError(source, f"vehicle {i}'s file was recorded from another seed than the fleet's")
            vehicles.append(sc)
        return cls(m, vehicles, source)


def record_fleet_scenario(
    preset: Preset,
    vehicles: int,
    seed: int,
    duration_s: float,
    *,
    progress: Callable[[int], None] | None = None,
) -> FleetScenario:
    """Record the world of a ``vehicles``-vehicle fleet of ``preset`` from ``seed``."""
    if isinstance(vehicles, bool) or not isinstance(vehicles, int) or vehicles < 1:
        raise ValueError(f"vehicles must be a positive integer, got {vehicles!r}")
    scenarios = []
    for i in range(vehicles):
        scenarios.append(record_scenario(preset, vehicle_seed(seed, i), duration_s))
        if progress is not None:
            progress(1)
    manifest = {
        "format": FLEET_FORMAT,
        "format_version": FLEET_FORMAT_VERSION,
        "romanus_version": __version__,
        "preset_name": preset.name,
        "seed": int(seed),
        "vehicles": vehicles,
        "duration_s": float(duration_s),
        "frames": scenarios[0].frames,
        "checksums": [sc.checksum for sc in scenarios],
    }
    return FleetScenario(manifest, scenarios)
