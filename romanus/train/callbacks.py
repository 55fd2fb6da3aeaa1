"""Training callbacks: romanus KPIs in TensorBoard, evaluation on held-out scenarios,
a progress bar."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback
from tqdm import tqdm

from romanus.env.core import RomanusEnv
from romanus.fileio import atomic_write_bytes
from romanus.train.agent import save_model

__all__ = ["KpiLogger", "ProgressBar", "ScenarioEval"]

_KPI_TAGS = {
    "episode_energy_per_frame_mj": "romanus/energy_per_frame_mj",
    "episode_risky_rate": "romanus/risky_rate",
    "episode_miss_rate": "romanus/miss_rate",
    "episode_latency_p95_ms": "romanus/latency_p95_ms",
    "episode_offload_fraction": "romanus/offload_fraction",
}


class KpiLogger(BaseCallback):
    """Logs the episode KPIs of finished training episodes (means over each rollout)."""

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            if "episode_energy_per_frame_mj" in info:
                for key, tag in _KPI_TAGS.items():
                    self.logger.record_mean(tag, float(info[key]))
        return True


class ProgressBar(BaseCallback):
    """A tqdm bar over the run's total steps (resumed runs start where they left off)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self._total = total
        self._bar: Any = None

    def _on_training_start(self) -> None:
        self._bar = tqdm(total=self._total, initial=self.model.num_timesteps, unit="step", delay=2.0, smoothing=0.05)

    def _on_step(self) -> bool:
        if self._bar is not None:
            self._bar.update(min(self.model.num_timesteps, self._total) - self._bar.n)
        return True

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()


class ScenarioEval(BaseCallback):
    """Every ``eval_freq`` calls, replays each held-out scenario with the deterministic policy,
    logs mean reward and KPIs, and keeps the best model (by mean episode reward)."""

    def __init__(self, run: Path, scenarios: list[str], preset_ref: str, *, maskable: bool, eval_freq: int) -> None:
        super().__init__()
        self._run = run
        self._env = RomanusEnv(preset_ref, scenario=scenarios)
        self._n = len(scenarios)
        self._maskable = maskable
        self._freq = eval_freq
        self._best = -math.inf
        self._history: list[dict[str, Any]] = []
        path = run / "eval.json"
        if path.is_file():  # a resumed run keeps its history and its best so far
            self._history = json.loads(path.read_text())
            self._best = max((h["mean_reward"] for h in self._history), default=-math.inf)

    def _on_step(self) -> bool:
        if self.n_calls % self._freq == 0:
            self.evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self._history or self._history[-1]["timesteps"] != self.model.num_timesteps:
            self.evaluate()
            # SB3 writes what was recorded at its next log point, and there is none after
            # training: write the final evaluation now (on short runs the only one)
            self.logger.dump(self.model.num_timesteps)

    def evaluate(self) -> dict[str, Any]:
        rewards: list[float] = []
        kpis: dict[str, list[float]] = {k: [] for k in _KPI_TAGS}
        for i in range(self._n):
            obs, _ = self._env.reset(seed=0, options={"scenario": i})
            total, truncated, info = 0.0, False, dict[str, Any]()
            while not truncated:
                if self._maskable:
                    masks = self._env.action_masks()
                    action, _ = self.model.predict(obs, deterministic=True, action_masks=masks)  # type: ignore[call-arg]
                else:
                    action, _ = self.model.predict(obs, deterministic=True)
                obs, reward, _, truncated, info = self._env.step(int(action))
                total += float(reward)
            rewards.append(total)
            for k in kpis:
                kpis[k].append(float(info[k]))
        entry = {"timesteps": int(self.model.num_timesteps), "mean_reward": float(np.mean(rewards))}
        entry.update({_KPI_TAGS[k].split("/")[1]: float(np.mean(v)) for k, v in kpis.items()})
        self.logger.record("eval/mean_reward", entry["mean_reward"])
        for key, value in entry.items():
            if key not in ("timesteps", "mean_reward"):
                self.logger.record(f"eval/{key}", value)
        if entry["mean_reward"] > self._best:
            self._best = entry["mean_reward"]
            save_model(self.model, self._run / "best_model.zip")
            entry["best"] = True
        self._history.append(entry)
        atomic_write_bytes(self._run / "eval.json", json.dumps(self._history, indent=1).encode())
        return entry


class AtomicCheckpoints(CheckpointCallback):
    """SB3's CheckpointCallback with every file written atomically (a full disk or a kill leaves
    a missing checkpoint, never a truncated one)."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            save_model(self.model, Path(self._checkpoint_path(extension="zip")))
            buffer = getattr(self.model, "replay_buffer", None)
            if self.save_replay_buffer and buffer is not None:
                out = io.BytesIO()
                self.model.save_replay_buffer(out)  # type: ignore[attr-defined]
                atomic_write_bytes(Path(self._checkpoint_path("replay_buffer_", extension="pkl")), out.getvalue())
        return True
