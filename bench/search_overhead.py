"""Benchmark of evosearch: what the engine and the ledger cost per candidate, and how well
sleeping evaluations spread over 1, 2, 4 and 8 workers of the process pool and of Ray.

Baselines measured in the same run: the no-op evaluation called directly in a loop (the engine's
overhead is the search's time above it), and the ideal schedule of the sleeping evaluations
(``ceil(children / workers)`` sleeps per generation; efficiency = ideal time / measured time).
Worker start-up is not timed: the process pool is started, and Ray's workers warmed, before.

Run: cd /work/main && hatch run python bench/search_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local Ray on 127.0.0.1 only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from evosearch import (
    Executor,
    Ledger,
    ProcessExecutor,
    RayExecutor,
    Search,
    SearchConfig,
    SerialExecutor,
)
from evosearch.contract import EvalRequest
from evosearch.ledger import NewCandidate
from evosearch.toy import IntVectorSpace, ToyEvaluation

SPACE = IntVectorSpace(length=12, low=0, high=99)
NOOP = ToyEvaluation(target=(0,) * 12, write_artifact=False)


def loss_only(metrics: dict[str, float]) -> float:
    """Fitness of the benchmark: the toy loss."""
    return metrics["val_loss"]


def run_search(
    workdir: Path, name: str, config: SearchConfig, evaluation: object, executor: Executor
) -> tuple[float, int]:
    """Wall time of one search (executor already started) and how many candidates it evaluated."""
    search = Search(
        SPACE,
        evaluation,
        workdir / name / "ledger.sqlite",
        config,
        fitness=loss_only,
        executor=executor,
        progress=False,
        handle_interrupt=False,
    )
    start = time.perf_counter()
    result = search.run()
    return time.perf_counter() - start, result.evaluations


def direct_calls(count: int, workdir: Path) -> float:
    """Seconds per direct call of the no-op evaluation (the baseline)."""
    request = EvalRequest(1, SPACE.ancestor(), 1, None, None, str(workdir), 1, 0)
    start = time.perf_counter()
    for _ in range(count):
        NOOP(request)
    return (time.perf_counter() - start) / count


def ledger_writes(count: int, workdir: Path) -> float:
    """Seconds per candidate of the ledger's own transactions (add, running, done)."""
    with Ledger(workdir / "ledger-only.sqlite") as ledger:
        start = time.perf_counter()
        for i in range(count):
            (c,) = ledger.add_candidates([NewCandidate(1, i, None, [i], 1, 0, "x")])
            ledger.mark_running(c.id)
            ledger.mark_done(
                c.id,
                metrics={"val_loss": 1.0},
                info={},
                fitness=1.0,
                artifact=None,
                device="cpu",
                eval_seconds=0.0,
            )
        return (time.perf_counter() - start) / count


class Ray:
    """One local Ray cluster for the whole benchmark (8 slots of a custom resource)."""

    def __init__(self) -> None:
        self.owner = None
        for _ in range(2):  # Ray gives its agents 15 s to start; a busy machine can miss that.
            owner = RayExecutor(
                resources={"slot": 1},
                init_options={"num_cpus": 8, "resources": {"slot": 8}, "log_to_driver": False},
            )
            try:
                owner.start()
            except Exception as exc:
                print(f"Ray did not start ({exc}); trying again")
                import ray

                ray.shutdown()
                continue
            self.owner = owner
            return
        raise SystemExit("a local Ray cluster did not start twice; is the machine overloaded?")

    def executor(self, workers: int) -> RayExecutor:
        """An executor of ``workers`` slots joining the cluster."""
        executor = RayExecutor(resources={"slot": 1}, max_in_flight=workers)
        executor.start()
        return executor

    def round_trip(self, count: int) -> float:
        """Seconds per sequential trivial Ray task with the same request (Ray's own latency)."""
        import ray

        remote = ray.remote(_nothing).options(num_cpus=1, resources={"slot": 1})
        ray.get(remote.remote())
        start = time.perf_counter()
        for _ in range(count):
            ray.get(remote.remote())
        return (time.perf_counter() - start) / count

    def warm(self, workers: int, timeout: float = 180.0) -> None:
        """Wait until ``workers`` Ray worker processes serve tasks at the same time."""
        import ray

        remote = ray.remote(_pid_after_a_nap).options(num_cpus=1, resources={"slot": 1})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(ray.get([remote.remote() for _ in range(workers)]))) == workers:
                return
        raise SystemExit(f"Ray did not start {workers} workers in {timeout} s")

    def close(self) -> None:
        """Stop the cluster."""
        self.owner.close()


def _nothing() -> None:
    return None


def _pid_after_a_nap() -> int:
    time.sleep(0.3)
    return os.getpid()


def pool(workers: int) -> ProcessExecutor:
    """A started process pool of ``workers`` CPU devices."""
    executor = ProcessExecutor(workers)
    executor.start()
    return executor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    args = parser.parse_args()
    noop_config = SearchConfig(
        parents=4, children=20 if args.quick else 50, generations=10 if args.quick else 20
    )
    sleep = 0.1 if args.quick else 0.4
    sleep_config = SearchConfig(parents=4, children=16, generations=1 if args.quick else 2)
    workers = [1, 2, 4, 8]

    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        per_call = direct_calls(2000, workdir)
        per_ledger = ledger_writes(300 if args.quick else 1000, workdir)
        ray = Ray()
        try:
            print("\nEngine and ledger overhead per candidate, no-op evaluation")
            print("| executor | candidates | wall s | per candidate ms | x direct call |")
            print("| --- | ---: | ---: | ---: | ---: |")
            print(f"| direct call (baseline) | 2000 | - | {per_call * 1e3:.3f} | 1.0 |")
            print(f"| ledger transactions only | - | - | {per_ledger * 1e3:.3f} | - |")
            ray.warm(2)
            per_task = ray.round_trip(100)
            print(f"| bare Ray task round trip | 100 | - | {per_task * 1e3:.3f} | - |")
            for label, make in [
                ("serial", SerialExecutor),
                ("process pool, 2 workers", lambda: pool(2)),
                ("Ray, 2 slots", lambda: ray.executor(2)),
            ]:
                wall, count = run_search(workdir, f"noop-{label}", noop_config, NOOP, make())
                each = wall / count
                print(
                    f"| {label} | {count} | {wall:.2f} | {each * 1e3:.3f} | {each / per_call:.0f} |"
                )

            sleeper = ToyEvaluation(target=(0,) * 12, sleep=sleep, write_artifact=False)
            print(
                f"\nParallel efficiency: {sleep_config.children} children x "
                f"{sleep_config.generations} generations (+ the ancestor) sleeping {sleep} s each"
            )
            print("| executor | workers | wall s | ideal s | efficiency | speed-up vs 1 worker |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for label, make in [("process pool", pool), ("Ray", ray.executor)]:
                single = None
                for count in workers:
                    name = f"sleep-{label}-{count}"
                    if label == "Ray":  # start Ray's worker processes before the timing, as
                        ray.warm(count)  # the process pool's are started before it
                    wall, _ = run_search(workdir, name, sleep_config, sleeper, make(count))
                    rounds = 1 + sleep_config.generations * math.ceil(sleep_config.children / count)
                    ideal = rounds * sleep
                    single = single or wall
                    print(
                        f"| {label} | {count} | {wall:.2f} | {ideal:.2f} | "
                        f"{ideal / wall:.0%} | {single / wall:.2f} |"
                    )
        finally:
            ray.close()


if __name__ == "__main__":
    main()
