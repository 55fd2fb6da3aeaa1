"""One seed root, one generator per named stream.

Each stream's generator is derived from the root seed and the stream's *name* (not its
position), so adding a stream never shifts the others, and one stream can be re-seeded alone
(``overrides``) while every other stream's series stays identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

__all__ = ["EXOGENOUS_STREAMS", "SeedPlan"]

#: The world's random streams. Policies draw from their own (``policy``), never from these.
EXOGENOUS_STREAMS: tuple[str, ...] = (
    "scene",
    "uplink",
    "uplink_outage",
    "downlink",
    "downlink_outage",
    "rtt",
    "server_load",
    "server_arrivals",
    "server_service",
    "own_service",
)


def _stream_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class SeedPlan:
    """Seeds for every named stream from one root seed."""

    def __init__(self, root: int, overrides: Mapping[str, int] | None = None) -> None:
        if isinstance(root, bool) or not isinstance(root, int | np.integer) or root < 0:
            raise ValueError(f"seed must be a non-negative integer, got {root!r}")
        self.root = int(root)
        self.overrides = dict(overrides or {})

    def sequence(self, name: str) -> np.random.SeedSequence:
        root = self.overrides.get(name, self.root)
        return np.random.SeedSequence(entropy=root, spawn_key=(_stream_key(name),))

    def generator(self, name: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(self.sequence(name)))
