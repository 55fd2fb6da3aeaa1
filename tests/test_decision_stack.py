"""A trained agent evaluated as a policy decides exactly as it did in training.

The environment and :class:`romanus.train.agent.AgentPolicy` share one decision stack
(observation + risk assessor + shield); here both run the same model on the same recorded
scenario and every observation, mask and shield decision is compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from romanus.config import load_preset
from romanus.env.core import RomanusEnv
from romanus.policies import make_policy
from romanus.scenario import Scenario, record_scenario
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_an_agent_sees_in_evaluation_what_it_saw_in_training(tmp_path: Path, algo: str) -> None:
    from romanus.train.agent import algo_class

    sc_path = record_scenario(load_preset("default_shielded"), 11, 20.0).save(tmp_path / "s.scenario")
    sc = Scenario.load(sc_path)
    env = RomanusEnv("default_shielded", scenario=sc)
    model = algo_class(algo)("MlpPolicy", env, seed=3, policy_kwargs={"net_arch": [8]}, device="cpu")
    run = tmp_path / "run"
    run.mkdir()
    model.save(str(run / "best_model.zip"))
    stack = env.stack
    config = {
        "algo": algo,
        "env_config": {
            "observation": stack.observation.name,
            "energy_scale_mj": stack.energy_scale_mj,
            "shield": stack.shield_budget,
        },
    }
    (run / "config.yml").write_text(yaml.safe_dump(config))

    # training: the env's own loop
    trained: list[tuple[Any, ...]] = []
    obs, _ = env.reset()
    truncated = False
    while not truncated:
        mask = env.action_masks()
        kw = {"action_masks": mask} if algo == "maskable_ppo" else {}
        action, _ = model.predict(obs, deterministic=True, **kw)
        next_obs, _, _, truncated, info = env.step(int(action))
        trained.append((obs, mask, info["action"], info["shielded"]))
        obs = next_obs

    # evaluation: the same model as a policy, through the simulator
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    policy = make_policy(f"{algo}:{run}", sim.catalogue, sim.preset)
    seen: list[tuple[Any, ...]] = []
    s = policy.stack  # type: ignore[attr-defined]
    observe, mask_of, apply = s.observe, s.mask, s.apply
    cur: dict[str, Any] = {}
    s.observe = lambda v: cur.__setitem__("obs", observe(v)) or cur["obs"]
    s.mask = lambda v: cur.__setitem__("mask", mask_of(v)) or cur["mask"]

    def record_apply(v: Any, a: int) -> tuple[int, bool]:
        mode, shielded = apply(v, a)
        seen.append((cur["obs"], cur["mask"], mode, int(shielded)))
        return mode, shielded

    s.apply = record_apply
    policy.reset()
    drive(sim, policy, sc.frames)

    assert len(seen) == len(trained) == sc.frames
    for i, (a, b) in enumerate(zip(trained, seen, strict=True)):
        assert np.array_equal(a[0], b[0]), f"frame {i}: observations differ"
        assert np.array_equal(a[1], b[1]), f"frame {i}: masks differ"
        assert a[2:] == b[2:], f"frame {i}: actions / shield decisions differ"
    shielded = sum(t[3] for t in trained)
    if algo == "ppo":  # an unmasked learner gets replaced: the comparison covers the shield
        assert shielded > 0
    assert not np.all([t[1] for t in trained])  # the shield did narrow some masks
