"""The vehicle's risk estimate, the risk-budget heuristic and the shield."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from romanus.config import RttConfig, load_preset
from romanus.env.core import RomanusEnv
from romanus.policies import RiskBudgetGreedy, make_policy
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import RiskAssessor, RiskEstimator, rtt_prior_ms
from romanus.vehicle.view import drive, next_view


def test_rtt_prior_has_the_gamma_moments_and_quantiles() -> None:
    cfg = RttConfig(shape=3.5, scale_ms=5.5, shift_ms=10.0)
    q = rtt_prior_ms(cfg, 2000)
    assert np.all(np.diff(q) > 0)
    assert q.mean() == pytest.approx(10.0 + 3.5 * 5.5, rel=2e-3)
    assert q.std() == pytest.approx(math.sqrt(3.5) * 5.5, rel=2e-2)
    # against a large sample (a seeded generator: an outside truth for the quantiles)
    sample = 10.0 + np.random.default_rng(0).gamma(3.5, 5.5, 400_000)
    for p in (0.1, 0.5, 0.9, 0.99):
        assert np.quantile(q, p) == pytest.approx(np.quantile(sample, p), rel=1e-2)
    assert np.all(rtt_prior_ms(RttConfig(shape=2.0, scale_ms=0.0, shift_ms=7.0), 10) == 7.0)


def _constant_world(capacity_mbps: float, rtt: dict[str, float], **extra: object) -> dict[str, object]:
    return {
        "uplink": {"model": "constant", "capacity_mbps": capacity_mbps, "outage": None},
        "downlink": {"model": "constant", "capacity_mbps": 100.0},
        "rtt": rtt,
        "server": {"background": {"levels": {"low": 0.0}, "initial": "low"}},
        **extra,
    }


def _mode(sim: Simulator, name: str) -> int:
    return next(i for i, m in enumerate(sim.catalogue.modes) if m.name == name)


@pytest.mark.slow
def test_estimate_matches_the_simulated_miss_frequency_on_a_steady_link() -> None:
    """Constant capacity, idle server: the miss probability is the RTT tail beyond the slack.
    The estimate (from measured RTTs) must match the frequency the simulator produces."""
    # the RTT is the only random term; a large scale puts the tail near the deadline
    preset = load_preset("default", _constant_world(4.0, {"shape": 2.0, "scale_ms": 20.0, "shift_ms": 5.0}))
    sim = Simulator(preset, 11)
    est = RiskEstimator(preset, sim.catalogue)
    mode = _mode(sim, "camera_right|camera=bottleneck-c6-b8")
    predicted, missed = [], []
    for _ in range(6000):
        ctx = next_view(sim)
        est.observe(ctx)
        p, _ = est.assess(ctx)
        predicted.append(p[mode])
        sim.step(mode)
    sim.drain()
    log = sim.log()
    missed = ~log["deadline_met"]
    settled = slice(400, None)  # once the estimate runs on measured RTTs
    p_hat = float(np.mean(predicted[settled]))
    freq = float(np.mean(missed[settled]))
    assert 0.02 < freq < 0.5  # the test is informative: misses are neither rare nor certain
    se = math.sqrt(freq * (1 - freq) / len(missed[settled]))
    assert abs(p_hat - freq) < 4 * se + 0.01


def test_an_outage_in_the_last_period_makes_every_offload_certain_to_miss() -> None:
    preset = load_preset(
        "default",
        {"uplink": {"model": "constant", "capacity_mbps": 20.0, "outage": {"mean_good_s": 2.0, "mean_bad_s": 1.0}}},
    )
    sim = Simulator(preset, 3)
    est = RiskEstimator(preset, sim.catalogue)
    seen = 0
    for _ in range(600):
        ctx = next_view(sim)
        est.observe(ctx)
        p, energy = est.assess(ctx)
        if ctx.uplink_mbps(0.1) == 0.0:
            seen += 1
            assert np.all(p[sim.catalogue.offload_mask] == 1.0)
        assert np.all((p == 0.0) | (p == 1.0) | sim.catalogue.offload_mask)  # local modes: certain
        assert np.all(energy >= 0.0)
        sim.step(0)
    assert seen > 20


def test_no_offload_before_the_estimate_has_history() -> None:
    sim = Simulator(load_preset("default"), 0)
    est = RiskEstimator(sim.preset, sim.catalogue)
    ctx = next_view(sim)
    est.observe(ctx)
    p, _ = est.assess(ctx)
    assert np.all(p[sim.catalogue.offload_mask] == 1.0)


def test_assessor_reports_non_robust_modes_as_certainly_risky() -> None:
    sim = Simulator(load_preset("default"), 0)
    a = RiskAssessor(sim.preset, sim.catalogue)
    for _ in range(100):
        ctx = next_view(sim)
        p, _ = a(ctx)
        robust = sim.catalogue.robust_ok[:, ctx.scene]
        assert np.all(p[~robust] == 1.0)
        sim.step(sim.catalogue.local_robust(ctx.scene))


def test_risk_budget_greedy_trades_energy_for_risk_and_replays_exactly() -> None:
    """A wider budget offloads more and spends less; the same seed gives the same run.

    With a modem kept connected by other traffic (``radio.accounting: connected``): when
    offloading owns the radio, every offload from idle waits for a 260 ms promotion and so
    misses, and a per-frame budget never lets the first one happen (test_radio.py)."""
    preset = load_preset("default", {"radio": {"accounting": "connected"}})

    def run(budget: float) -> tuple[float, float, float]:
        sim = Simulator(preset, 5)
        log = drive(sim, RiskBudgetGreedy(preset, sim.catalogue, budget), 1500)
        return (
            float((log["compute_mj"] + log["radio_mj"]).mean()),
            float(log["offloaded"].mean()),
            float(log["risky"].mean()),
        )

    tight, wide = run(0.002), run(0.05)
    assert wide[0] < tight[0] and wide[1] > tight[1]
    assert run(0.05) == wide
    assert make_policy("risk-budget-greedy@0.02", Simulator(preset, 0).catalogue, preset).name == (
        "risk-budget-greedy@0.02"
    )
    for bad in ("risk-budget-greedy@0", "risk-budget-greedy@x", "risk-budget-greedy@1.5"):
        with pytest.raises(ValueError, match="risk budget"):
            make_policy(bad, Simulator(preset, 0).catalogue, preset)


def test_shield_masks_and_replaces_actions_beyond_the_budget() -> None:
    env = RomanusEnv("default_shielded")
    assert env.preset.env.shield.risk_budget == 0.002
    env.reset(seed=4)
    shielded = 0
    rng = np.random.default_rng(1)
    for _ in range(1200):
        assert env.stack.shield is not None and env._view is not None
        p, _ = env.stack.shield.assessor.actions(env._view)
        mask = env.action_masks()
        assert mask.any()
        within = (p <= 0.002) & env._view.action_mask
        if within.any():
            assert np.array_equal(mask, within)
        a = int(rng.integers(len(mask)))
        _, _, _, truncated, info = env.step(a)
        if mask[a]:
            assert info["shielded"] == 0 and info["action"] == a
        else:
            shielded += 1
            assert info["shielded"] == 1 and info["requested_mode"] == a and mask[info["action"]]
        if truncated:
            env.reset()
    assert shielded > 100


def test_energy_guard_leaves_out_offloads_expected_to_lose_energy() -> None:
    """With ``energy_guard`` the mask is the risk mask less the offloading actions whose expected
    energy is above the cheapest allowed local action's; ``risk-budget-greedy``'s choice at the
    same budget is always allowed (it is the least-energy action within the budget)."""
    overrides = {"env": {"shield": {"risk_budget": 0.002, "energy_guard": True}}}
    for preset in ("default_shielded", "rural_lte"):
        env = RomanusEnv(preset, overrides=overrides)
        env.reset(seed=3)
        greedy = RiskBudgetGreedy(env.preset, env.catalogue, 0.002, fallback=True)
        greedy.reset()
        rng = np.random.default_rng(2)
        guarded = offloaded = 0
        for _ in range(600):
            view, shield = env._view, env.stack.shield
            assert view is not None and shield is not None and shield.energy_guard
            p, energy = shield.assessor.actions(view)
            offloads = env.catalogue.offload_mask[view.actions.mode]
            risk_ok = view.action_mask & (p <= 0.002)
            mask = env.action_masks()
            local = risk_ok & ~offloads
            if risk_ok.any() and local.any():
                expect = risk_ok & (~offloads | (energy <= energy[local].min()))
                assert np.array_equal(mask, expect)
                guarded += int((risk_ok & ~expect).sum() > 0)
            greedy._assess = shield.assessor  # the same estimate, fed once per frame
            assert mask[greedy.act(view)]
            a = int(rng.choice(np.flatnonzero(mask)))
            offloaded += int(offloads[a])
            _, _, _, truncated, _ = env.step(a)
            if truncated:
                env.reset()
        assert guarded > 0, preset
        if preset == "rural_lte":  # owned radio: offloads from idle pay a promotion and a tail
            assert offloaded < 60


def test_shielded_env_passes_the_checkers_and_replays_after_pickling() -> None:
    import pickle

    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("romanus/DefaultShielded-v2").unwrapped
    check_env(env, skip_render_check=True)
    sb3_check_env(env)
    env.reset(seed=9)
    for a in range(40):
        env.step(a % env.action_space.n)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(40):
        o1, r1, _, _, i1 = env.step(int(np.flatnonzero(env.action_masks())[0]))
        o2, r2, _, _, i2 = clone.step(int(np.flatnonzero(clone.action_masks())[0]))
        assert np.array_equal(o1, o2) and r1 == r2 and i1 == i2


def test_a_history_without_usable_transitions_gives_no_capacity_paths() -> None:
    """Every earlier period in outage: no period to draw the coming path from (not a crash)."""
    preset = load_preset("default")
    sim = Simulator(preset, 0)
    est = RiskEstimator(preset, sim.catalogue)
    est._up[:30] = 0.0
    est._up[29] = 5.0
    est._down[:30] = 20.0
    est._n = 30
    up = est._ordered(est._up)
    stay, p_onset = est._onsets(up, est._ordered(est._down))
    cum = est._paths(5.0, up, stay)
    assert cum.shape[0] == 0 and 0.0 < p_onset < 1.0
