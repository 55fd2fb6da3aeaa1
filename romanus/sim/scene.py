"""The road scene over time: a semi-Markov process over RADIATE scene types."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from romanus.config import SceneConfig

__all__ = ["SceneProcess"]

_BLOCK = 64  # scene changes generated at once


class SceneProcess:
    """Scene index (into ``scenes``) as a function of time.

    The first scene is drawn from ``mix``; each dwell time is Gamma(``dwell_shape``) with mean
    ``mean_dwell_s``; the next scene is drawn from ``mix`` without the current one.
    """

    def __init__(self, cfg: SceneConfig, scenes: tuple[str, ...], rng: np.random.Generator) -> None:
        names = list(cfg.mix)
        self._ids = np.array([scenes.index(n) for n in names], dtype=np.int64)
        w = np.array([cfg.mix[n] for n in names], dtype=np.float64)
        self._weights = w / w.sum()
        self._shape = cfg.dwell_shape
        self._scale = cfg.mean_dwell_s / cfg.dwell_shape
        self._rng = rng
        first = int(rng.choice(len(names), p=self._weights))
        self._starts: list[float] = [0.0]
        self._scene: list[int] = [first]  # position in ``names``
        self._ids_list = self._ids.tolist()

    def _extend(self) -> None:
        dwell = self._rng.gamma(self._shape, self._scale, _BLOCK)
        u = self._rng.random(_BLOCK)
        t, cur = self._starts[-1], self._scene[-1]
        k = len(self._weights)
        for i in range(_BLOCK):
            t += float(dwell[i])
            if k > 1:
                w = self._weights.copy()
                w[cur] = 0.0
                total = w.sum()
                if total > 0:
                    cur = int(np.searchsorted(np.cumsum(w) / total, u[i], side="right"))
                    cur = min(cur, k - 1)
            self._starts.append(t)
            self._scene.append(cur)

    def at(self, t: float) -> int:
        """Scene index (into the ``scenes`` tuple given at construction) at time ``t``."""
        while self._starts[-1] <= t:
            self._extend()
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            raise ValueError(f"time {t} s is before the retained scene history")
        return self._ids_list[self._scene[i]]

    def changes(self, until_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(start times, scene indices) of the scene segments starting before ``until_s``."""
        self.at(until_s)
        n = bisect_right(self._starts, until_s)
        return np.array(self._starts[:n]), self._ids[np.array(self._scene[:n], dtype=np.int64)]

    def forget_before(self, t: float) -> None:
        i = bisect_right(self._starts, t) - 1
        if i > 256:
            del self._starts[:i]
            del self._scene[:i]
