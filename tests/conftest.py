from __future__ import annotations

import pytest

from romanus.config import Preset, load_preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.sim.simulator import build_catalogue


@pytest.fixture(scope="session")
def preset() -> Preset:
    return load_preset("default")


@pytest.fixture(scope="session")
def catalogue(preset: Preset) -> ModeCatalogue:
    return build_catalogue(preset)
