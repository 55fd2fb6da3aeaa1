"""Kick-starting a learner from a heuristic teacher: behaviour cloning, then reinforcement learning.

A learner trained from scratch on the drives spends its first epochs offloading nearly
everything behind the fallback and, on some seeds, never leaves that basin (the place study:
seeds at 26-30 % fallen-back frames against the hedged greedy's 1.2 %). Kick-starting (Schmitt
et al., "Kickstarting Deep Reinforcement Learning", arXiv 1803.03835; the "jump-start" of
Uchendu et al., ICML 2023) starts it from a teacher's behaviour instead: the teacher (any
fixed policy, ``risk-budget-greedy+fallback@0.0005`` say) drives every training scenario once,
the learner's policy is fitted to the teacher's decisions (cross-entropy under the action mask)
and its value head to the teacher's discounted returns, and the usual training continues from
there. Whatever the learner then gains over the teacher is what reinforcement learning found
beyond the rule.

Measured on the drives (experiments/place/README.md): a clone of the hedged greedy agrees on
98 % of its decisions and is 12 mJ/frame behind it on the held-out day; learning from the clone
moves it towards the teacher on the training windows, not past it.

:func:`demonstrate` records the teacher's decisions, :func:`pretrain` fits the policy;
:func:`romanus.train.suite.train_on_worlds` (``teacher=``) runs both before learning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from romanus.env.core import RomanusEnv
from romanus.policies import policy_for
from romanus.train.agent import is_agent_spec

__all__ = ["Demonstrations", "demonstrate", "pretrain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Demonstrations:
    """The teacher's decisions: per frame the learner's observation, its action mask, the
    teacher's action and the discounted return from that frame on (the env's reward)."""

    obs: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    #: frames whose teacher action the learner's mask refuses (a shield stricter than the
    #: teacher): stepped as the env applies them, left out of the arrays
    refused: int

    def __len__(self) -> int:
        return len(self.actions)


def demonstrate(worlds: Sequence[tuple[Path, Sequence[Path] | None]], teacher: str, gamma: float) -> Demonstrations:
    """Run ``teacher`` (a policy name of ``romanus compare``) over every scenario of every world,
    in the learner's env (its observation, mask and reward), and return its decisions.
    ``ValueError`` for a live world (no fixed scenarios to imitate on) or a teacher that is
    not a fixed policy."""
    if is_agent_spec(teacher):
        raise ValueError(f"teacher {teacher!r}: expected a fixed policy (a heuristic), not a trained agent")
    obs: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    actions: list[int] = []
    returns: list[np.ndarray] = []
    refused = 0
    for preset, scenarios in worlds:
        if scenarios is None:
            raise ValueError(f"teacher {teacher!r}: world {preset} is live; kick-starting needs recorded scenarios")
        env = RomanusEnv(str(preset), scenario=[str(p) for p in scenarios])
        try:
            for i in range(len(scenarios)):
                o, _ = env.reset(options={"scenario": i})
                assert env.sim is not None
                policy = policy_for(env.sim, teacher)
                if policy.sees_future:
                    raise ValueError(f"teacher {teacher!r} sees the future; a learner cannot imitate it")
                policy.reset()
                rewards: list[float] = []
                kept: list[bool] = []
                while True:
                    mask = env.action_masks()
                    a = policy.act(env.view)
                    ok = bool(mask[a])
                    refused += not ok
                    kept.append(ok)
                    if ok:
                        obs.append(o)
                        masks.append(mask)
                        actions.append(a)
                    o, r, terminated, truncated, _ = env.step(a)
                    rewards.append(float(r))
                    if terminated or truncated:
                        break
                g = np.empty(len(rewards))
                acc = 0.0
                for t in range(len(rewards) - 1, -1, -1):
                    acc = rewards[t] + gamma * acc
                    g[t] = acc
                returns.append(g[np.asarray(kept)])
        finally:
            env.close()
    if not actions:
        raise ValueError(f"teacher {teacher!r}: no decision the learner's mask admits")
    return Demonstrations(
        obs=np.asarray(obs, dtype=np.float32),
        masks=np.asarray(masks, dtype=bool),
        actions=np.asarray(actions, dtype=np.int64),
        returns=np.concatenate(returns).astype(np.float32),
        refused=refused,
    )


def pretrain(
    model: Any,
    demos: Demonstrations,
    *,
    epochs: int,
    rng: np.random.Generator,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    vf_coef: float = 0.5,
) -> dict[str, float]:
    """Fit ``model``'s policy (a MaskablePPO actor-critic) to the teacher: cross-entropy of the
    teacher's action under the masked distribution plus ``vf_coef`` x the squared error of the
    value head against the teacher's returns, ``epochs`` passes in shuffled minibatches (Adam).
    Returns the final epoch's mean losses and the share of frames where the learner's most
    likely action is the teacher's (``agreement``)."""
    import torch as th

    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    policy = model.policy
    policy.set_training_mode(True)
    opt = th.optim.Adam(policy.parameters(), lr=learning_rate)
    obs = th.as_tensor(demos.obs)
    acts = th.as_tensor(demos.actions)
    rets = th.as_tensor(demos.returns)
    n = len(demos)
    ce = vf = 0.0
    for _ in range(epochs):
        order = rng.permutation(n)
        ce = vf = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            dist = policy.get_distribution(obs[idx], action_masks=demos.masks[idx])
            loss_pi = -dist.log_prob(acts[idx]).mean()
            loss_v = th.nn.functional.mse_loss(policy.predict_values(obs[idx]).flatten(), rets[idx])
            loss = loss_pi + vf_coef * loss_v
            opt.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            opt.step()
            ce += float(loss_pi.detach()) * len(idx)
            vf += float(loss_v.detach()) * len(idx)
    policy.set_training_mode(False)
    agree = 0
    with th.no_grad():
        for start in range(0, n, 4096):
            sl = slice(start, start + 4096)
            best = policy.get_distribution(obs[sl], action_masks=demos.masks[sl]).get_actions(deterministic=True)
            agree += int((best == acts[sl]).sum())
    return {"cross_entropy": ce / n, "value_mse": vf / n, "agreement": agree / n, "frames": float(n)}
