"""The Ray executor against a real local Ray cluster (127.0.0.1 only, custom resources)."""

import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")

from evosearch import ExecutorError, Ledger, RayExecutor, SearchConfig  # noqa: E402
from evosearch.toy import ToyEvaluation  # noqa: E402

CONFIG = SearchConfig(parents=2, children=4, generations=2, seed=5, max_attempts=2)


@pytest.fixture(scope="module")
def cluster():
    """A local cluster (2 CPUs, 2 units of a custom ``accel`` resource) that a RayExecutor
    starts with ``ray.init``; the executors of the tests join it."""
    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    failures = []
    for _ in range(2):  # Ray gives its agents 15 s to start, which a busy machine can miss.
        owner = RayExecutor(
            resources={"accel": 1},
            init_options={"num_cpus": 2, "resources": {"accel": 2}, "log_to_driver": False},
        )
        try:
            owner.start()
            break
        except ExecutorError as exc:
            failures.append(str(exc))
            ray.shutdown()
    else:
        pytest.fail(f"a local Ray cluster did not start: {failures}")
    yield owner
    owner.close()


def starts(journal):
    lines = journal.read_text().splitlines()
    return Counter(int(line.split()[1]) for line in lines if line.startswith("start"))


def test_the_executor_starts_a_local_cluster_on_loopback(cluster):
    assert ray.is_initialized()
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert ray.cluster_resources()["accel"] == 2


def test_the_executor_fits_its_slots_to_the_custom_resource(cluster):
    executors = [RayExecutor(resources={"accel": 1}), RayExecutor(resources={"accel": 2})]
    for executor in executors:
        executor.start()
    assert [e.slots for e in executors] == [2, 1]
    assert executors[0].request() == {"CPU": 1.0, "accel": 1}
    for executor in executors:
        executor.close()
    assert ray.is_initialized(), "an executor that joined a session must leave it running"


def test_a_request_the_cluster_cannot_hold_is_refused(cluster):
    with pytest.raises(ExecutorError, match=r"cannot run one task asking for .*'accel': 3"):
        RayExecutor(resources={"accel": 3}).start()


def test_a_ray_search_gives_the_same_ledger_as_a_serial_search(cluster, run_toy, snapshot):
    _, serial = run_toy("serial", config=CONFIG)
    executor = RayExecutor(resources={"accel": 1})
    _, distributed = run_toy("ray", config=CONFIG, executor=executor)
    assert snapshot(distributed) == snapshot(serial)
    with Ledger(distributed) as ledger:
        devices = {c.info["device"] for c in ledger.candidates()}
    assert devices == {"cpu"}
    assert ray.is_initialized(), "the executor must leave a session it joined running"


def test_ray_retries_a_task_whose_worker_died_mid_task(cluster, run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    evaluation = ToyEvaluation(faults={3: "die_once"}, journal=str(journal))
    executor = RayExecutor(resources={"accel": 1}, max_retries=2)
    result, path = run_toy(config=CONFIG, evaluation=evaluation, executor=executor)
    with Ledger(path) as ledger:
        retried = ledger.candidate(3)
    assert (retried.status, retried.attempts) == ("done", 1)
    assert starts(journal)[3] == 2
    assert result.reason == "generations"


def test_a_task_whose_worker_always_dies_fails_its_candidate(cluster, run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    evaluation = ToyEvaluation(faults={4: "die"}, journal=str(journal))
    executor = RayExecutor(resources={"accel": 1}, max_retries=0)
    result, path = run_toy(config=CONFIG, evaluation=evaluation, executor=executor)
    with Ledger(path) as ledger:
        failed = ledger.candidate(4)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "Ray task for candidate 4 failed" in failed.error
    assert failed.error.endswith("(gave up after 2 attempts)")
    assert starts(journal)[4] == 2
    assert result.reason == "generations"


def test_the_executor_connects_to_a_running_cluster_by_address(cluster):
    code = textwrap.dedent(
        """
        import sys
        import ray
        from evosearch import RayExecutor
        from evosearch.contract import EvalRequest, EvalTask
        from evosearch.toy import ToyEvaluation

        executor = RayExecutor(sys.argv[1], resources={"accel": 1})
        executor.start()
        request = EvalRequest(1, [1, 2], 0, None, None, "unused", 3, 0)
        executor.submit(EvalTask(ToyEvaluation(write_artifact=False), request))
        outcomes = []
        while not outcomes:
            outcomes = executor.wait(timeout=30)
        executor.close()
        print(executor.slots, outcomes[0].ok, ray.is_initialized())
        """
    )
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")
    done = subprocess.run(
        [sys.executable, "-c", code, address], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "True", "False"]


def test_the_executor_that_started_the_cluster_stops_it(cluster):
    """Runs last in this module: it ends the module's cluster."""
    cluster.close()
    assert not ray.is_initialized()
