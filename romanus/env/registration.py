"""Register every shipped preset as the Gymnasium id ``romanus/<Name>-v<version>``.

Called as soon as gymnasium is imported alongside romanus (Gymnasium 1.x ignores plugin
entry points; see :mod:`romanus`), so ``gym.make("romanus:romanus/Default-v2")`` works in any
process, spawned ones included. Idempotent: ids already registered are left alone.

:func:`preset_ref` reads every form an ``--env`` takes.
"""

from __future__ import annotations

from pathlib import Path

from romanus.config import list_presets, preset_header

__all__ = ["ENTRY_POINT", "preset_ref", "register_envs"]

ENTRY_POINT = "romanus.env.core:RomanusEnv"


def register_envs() -> list[str]:
    """Register the shipped presets; returns their ids."""
    import gymnasium

    ids = []
    for name in list_presets():
        preset_name, version = preset_header(name)
        env_id = f"romanus/{preset_name}-v{version}"
        ids.append(env_id)
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"preset": name})
    return ids


def preset_ref(env: str) -> str:
    """The preset (shipped name or YAML path) that ``env`` names: a shipped preset name
    (any case), a YAML path, or a registered Gymnasium id of a romanus environment (with or
    without the ``module:`` prefix, e.g. ``romanus/Default-v2``)."""
    if env.endswith((".yaml", ".yml")) or Path(env).is_file():
        return env
    shipped = list_presets()
    if env.lower() in shipped:
        return env
    env_id = env.split(":", 1)[1] if ":" in env else env
    for name in shipped:  # shipped ids without importing gymnasium
        preset_name, version = preset_header(name)
        if env_id == f"romanus/{preset_name}-v{version}":
            return name
    import gymnasium

    spec = gymnasium.registry.get(env_id)
    if spec is not None:
        preset = (spec.kwargs or {}).get("preset")
        if spec.entry_point != ENTRY_POINT or not isinstance(preset, str):
            raise ValueError(f"{env}: a Gymnasium id, but not of a romanus environment with a preset")
        return preset
    raise ValueError(
        f"--env {env!r}: not a shipped preset ({', '.join(shipped)}), a YAML file or a registered Gymnasium id "
        "(e.g. romanus/Default-v2)"
    )
