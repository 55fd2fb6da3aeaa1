"""The edge server against queueing theory and against a plain SimPy FCFS resource."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from romanus.config import BackgroundLoadConfig, ServerConfig
from romanus.rng import SeedPlan
from romanus.sim.server import EdgeServer
from romanus.sim.world import SyntheticBackground


def make_server(
    utilisation: float, workers: int = 1, service_ms: float = 8.0, cv: float = 0.0, seed: int = 7
) -> EdgeServer:
    cfg = ServerConfig(
        workers=workers,
        background=BackgroundLoadConfig(
            levels={"only": utilisation}, initial="only", service_ms=service_ms, service_cv=cv
        ),
    )
    seeds = SeedPlan(seed)
    background = SyntheticBackground(
        cfg.background,
        workers,
        seeds.generator("server_load"),
        seeds.generator("server_arrivals"),
        seeds.generator("server_service"),
    )
    return EdgeServer(cfg, background)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho: float) -> None:
    service = 0.008
    server = make_server(rho, workers=1, service_ms=service * 1000)
    server.advance(40_000.0)  # ~2.5M (rho 0.5) to ~4M (rho 0.8) requests
    assert server.background_jobs > 2_000_000
    mean_wait = server.background_wait_s / server.background_jobs
    pk = rho * service / (2.0 * (1.0 - rho))  # M/D/1: W_q = lambda E[S^2] / (2 (1 - rho))
    assert mean_wait == pytest.approx(pk, rel=0.05)


def test_matches_a_simpy_fcfs_resource_job_by_job() -> None:
    """Background and vehicle requests through the workload recursion and through
    simpy.Resource(capacity=k) start at the same instants."""
    workers, horizon = 3, 60.0
    server = make_server(0.85, workers=workers, service_ms=8.0, cv=0.3)
    captured: list[tuple[float, float]] = []
    original = server._generate

    def capture() -> None:
        consumed, n0 = server._i, len(server._arr)
        original()
        first = n0 - (consumed if server._i != consumed else 0)  # consumed ones may be trimmed
        captured.extend(zip(server._arr[first:], server._svc[first:], strict=True))

    server._generate = capture  # type: ignore[method-assign]
    rng = np.random.default_rng(11)
    ours = [
        (float(t), float(s))
        for t, s in zip(np.sort(rng.uniform(0, horizon - 1, 400)), rng.uniform(0.002, 0.03, 400), strict=True)
    ]
    got = [server.submit(t, s) for t, s in ours]
    server.advance(horizon)
    background = [(a, s) for a, s in captured if a < horizon]

    env = simpy.Environment()
    res = simpy.Resource(env, capacity=workers)
    starts: dict[tuple[str, int], float] = {}

    def job(key: tuple[str, int], arrive: float, service: float):  # type: ignore[no-untyped-def]
        yield env.timeout(arrive - env.now)
        with res.request() as req:
            yield req
            starts[key] = env.now
            yield env.timeout(service)

    for i, (a, s) in enumerate(background):
        env.process(job(("bg", i), a, s))
    for i, (a, s) in enumerate(ours):
        env.process(job(("ours", i), a, s))
    env.run()
    for i, (_, s) in enumerate(ours):
        assert got[i] is not None
        assert got[i][0] == pytest.approx(starts[("ours", i)], abs=1e-9)
        assert got[i][1] == pytest.approx(starts[("ours", i)] + s, abs=1e-9)
    waits = [got[i][0] - a for i, (a, _) in enumerate(ours)]
    assert max(waits) > 0.005  # the comparison covered real queueing


def test_request_abandoned_before_service_leaves_the_queue() -> None:
    server = make_server(0.0, workers=1)
    assert server.submit(0.0, 1.0) == (0.0, 1.0)
    assert server.submit(0.1, 1.0, abandon_s=0.5) is None  # would start at 1.0
    assert server.submit(0.2, 1.0) == (1.0, 2.0)  # the abandoned one took no time


def test_telemetry_is_delayed_and_reflects_load() -> None:
    server = make_server(0.0, workers=1)
    server.submit(0.0, 2.0)  # busy until 2.0
    # period 0.5 s, delay 0.25 s: at 0.74 nothing has arrived, at 0.75 the 0.5 s report
    assert server.report(0.74) is None
    rep = server.report(0.75)
    assert rep is not None and rep.time_s == pytest.approx(0.5)
    assert rep.wait_ms == pytest.approx(1500.0) and rep.workload_ms == pytest.approx(1500.0)
    late = server.report(3.0)
    assert late is not None and late.time_s == pytest.approx(2.5) and late.wait_ms == 0.0


def test_load_levels_change_the_arrival_rate() -> None:
    rates = []
    for u in (0.2, 0.8):
        server = make_server(u, workers=4)
        server.advance(200.0)
        rates.append(server.background_jobs / 200.0)
    assert rates[0] == pytest.approx(0.2 * 4 / 0.008, rel=0.05)
    assert rates[1] == pytest.approx(0.8 * 4 / 0.008, rel=0.05)
