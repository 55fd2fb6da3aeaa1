"""Register every shipped preset as the Gymnasium id ``romanus/<Name>-v<version>``.

Called when ``romanus`` is imported (Gymnasium 1.x ignores plugin entry points), so
``gym.make("romanus:romanus/Default-v0")`` works in any process, spawned ones included.
Idempotent: ids already registered are left alone.
"""

from __future__ import annotations

import gymnasium

from romanus.config import list_presets, preset_header

ENTRY_POINT = "romanus.env.core:RomanusEnv"


def register_envs() -> list[str]:
    """Register the shipped presets; returns their ids."""
    ids = []
    for name in list_presets():
        preset_name, version = preset_header(name)
        env_id = f"romanus/{preset_name}-v{version}"
        ids.append(env_id)
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"preset": name})
    return ids
