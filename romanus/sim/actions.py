"""The action table: operating modes, and offloading modes that carry a local fallback.

An *action* is what a policy picks for a frame: an operating mode, and for an offloading
mode optionally a fallback option (:class:`romanus.config.FallbackConfig`). Actions
``0 .. n_modes - 1`` are the catalogue's modes without a fallback, in catalogue order, so a
mode index is a valid action and every policy written for modes runs unchanged; then, for
each fallback option k = 1 .. K in turn, every offloading mode with that option. A preset
with ``fallback.options_ms: []`` has exactly the catalogue as its actions.
"""

from __future__ import annotations

import numpy as np

from romanus.pipeline.modes import ModeCatalogue

__all__ = ["JUST_IN_TIME", "NO_FALLBACK", "ActionTable"]

#: the fallback option of an action without one
NO_FALLBACK = 0
#: the first fallback option (the just-in-time one in the shipped presets: ``options_ms[0] = 0``)
JUST_IN_TIME = 1


class ActionTable:
    """Every action of a catalogue under a preset's fallback options."""

    def __init__(self, catalogue: ModeCatalogue, options_ms: tuple[float, ...], tier: str = "cheapest") -> None:
        self.catalogue = catalogue
        scenes = range(len(catalogue.scenes))
        #: per scene, the mode a fallback runs (``fallback.tier``)
        self.fallback_mode: list[int] = (
            [catalogue.cheapest_robust_local(s) for s in scenes]
            if tier == "cheapest"
            else [catalogue.local_robust(s) for s in scenes]
        )
        self.n_modes = n = len(catalogue)
        #: ms before the just-in-time time, per fallback option 1 .. K
        self.options_ms = tuple(float(x) for x in options_ms)
        offloading = np.flatnonzero(catalogue.offload_mask)
        modes = [np.arange(n), *(offloading for _ in self.options_ms)]
        options = [
            np.zeros(n, dtype=np.int64),
            *(np.full(len(offloading), k) for k in range(1, len(self.options_ms) + 1)),
        ]
        #: per action: its operating mode and its fallback option (0: none)
        self.mode = np.concatenate(modes).astype(np.int64)
        self.fallback = np.concatenate(options).astype(np.int64)
        self.mode_list: list[int] = self.mode.tolist()
        self.fallback_list: list[int] = self.fallback.tolist()
        self._index = {(m, k): a for a, (m, k) in enumerate(zip(self.mode_list, self.fallback_list, strict=True))}

    def __len__(self) -> int:
        return len(self.mode_list)

    @property
    def has_fallback(self) -> bool:
        return len(self.mode_list) > self.n_modes

    def index(self, mode: int, option: int = NO_FALLBACK) -> int:
        """The action running ``mode`` with fallback ``option`` (0: none)."""
        try:
            return self._index[(int(mode), int(option))]
        except KeyError:
            if option and not self.catalogue.modes[mode].offloaded:
                raise ValueError(f"mode {mode} runs on the vehicle: it has no fallback") from None
            raise ValueError(f"no action for mode {mode} with fallback option {option}") from None

    def option_name(self, option: int) -> str:
        """``""``, ``"+fallback"`` (just in time) or ``"+fallback-20ms"`` (20 ms earlier)."""
        if option == NO_FALLBACK:
            return ""
        early = self.options_ms[option - 1]
        return "+fallback" if early == 0.0 else f"+fallback-{early:g}ms"

    def name(self, action: int) -> str:
        return self.catalogue.modes[self.mode_list[action]].name + self.option_name(self.fallback_list[action])

    def extend(self, per_mode: np.ndarray) -> np.ndarray:
        """A per-mode array as a per-action one (an action takes its mode's value)."""
        return per_mode[self.mode]
