import os
import subprocess
import sys

import pytest

from evosearch import (
    ExecutorError,
    Ledger,
    ProcessExecutor,
    SearchConfig,
    SerialExecutor,
    VisibleDevices,
)
from evosearch.contract import EvalRequest, EvalTask
from evosearch.toy import ToyEvaluation


def request(candidate_id=1, artifact_dir="/nonexistent"):
    return EvalRequest(candidate_id, [1, 2], 0, None, None, artifact_dir, 3, 0)


def test_the_process_pool_tells_each_worker_its_device(run_toy):
    config = SearchConfig(parents=2, children=6, generations=1)
    evaluation = ToyEvaluation(sleep=0.2, report_env=("EVOSEARCH_TEST_DEVICE",))
    executor = ProcessExecutor(
        ["GPU:0", "GPU:1"], worker_setup=VisibleDevices("EVOSEARCH_TEST_DEVICE")
    )
    _, path = run_toy(config=config, evaluation=evaluation, executor=executor)
    with Ledger(path) as ledger:
        seen = {
            (c.device, c.info["device"], c.info["env"]["EVOSEARCH_TEST_DEVICE"])
            for c in ledger.candidates()
        }
    assert seen == {("GPU:0", "GPU:0", "0"), ("GPU:1", "GPU:1", "1")}


def test_the_process_pool_gives_the_same_search_as_the_serial_executor(run_toy, snapshot):
    _, serial = run_toy("serial")
    _, pooled = run_toy("pooled", executor=ProcessExecutor(2))
    assert snapshot(pooled) == snapshot(serial)


def test_a_failing_worker_setup_stops_the_pool_from_starting():
    executor = ProcessExecutor(["tpu-without-index"], worker_setup=VisibleDevices())
    with pytest.raises(ExecutorError, match=r"setup for device tpu-without-index failed.*no accel"):
        executor.start()


def test_an_unpicklable_evaluation_is_refused_with_the_fix(tmp_path):
    executor = ProcessExecutor(1)
    executor.start()
    try:
        with pytest.raises(ExecutorError, match=r"top-level function"):
            executor.submit(EvalTask(lambda r: {"val_loss": 1.0}, request()))
        executor.submit(EvalTask(ToyEvaluation(write_artifact=False), request()))
        (outcome,) = executor.wait(timeout=60)
    finally:
        executor.close()
    assert outcome.ok and outcome.device == "cpu:0"


def test_a_worker_setup_that_cannot_be_sent_to_the_worker_is_refused():
    executor = ProcessExecutor(1, worker_setup=lambda device: None)
    with pytest.raises(ExecutorError, match=r"cannot start a worker process for device cpu:0"):
        executor.start()


@pytest.mark.parametrize("devices", [0, [], ["GPU:0", "GPU:0"]])
def test_the_process_pool_refuses_bad_device_lists(devices):
    with pytest.raises(ExecutorError, match=r"ProcessExecutor"):
        ProcessExecutor(devices)


def test_visible_devices_maps_device_names_to_indices(monkeypatch):
    monkeypatch.delenv("EVOSEARCH_X", raising=False)
    for device, value in [("GPU:3", "3"), ("cuda:0,1", "0,1"), ("cpu:2", ""), ("cpu", "")]:
        VisibleDevices("EVOSEARCH_X")(device)
        assert os.environ["EVOSEARCH_X"] == value


def test_the_serial_executor_runs_the_evaluation_in_this_process(tmp_path):
    executor = SerialExecutor(device="cpu:7")
    evaluation = ToyEvaluation(journal=str(tmp_path / "j.txt"), write_artifact=False)
    assert executor.submit(EvalTask(evaluation, request())) == "cpu:7"
    (outcome,) = executor.wait()
    assert outcome.ok and outcome.result.info["device"] == "cpu:7"
    assert (tmp_path / "j.txt").read_text().split()[3] == str(os.getpid())
    assert executor.wait() == []


def test_without_ray_the_ray_executor_says_how_to_install_it():
    code = (
        "import os, sys; sys.modules['ray'] = None\n"
        "import evosearch\n"
        "try:\n"
        "    evosearch.RayExecutor().start()\n"
        "except evosearch.ExecutorError as exc:\n"
        "    print(exc)\n"
        "print(os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    message, local_only = done.stdout.splitlines()
    assert message == "RayExecutor needs Ray: pip install 'evosearch[ray]'"
    # A local cluster the executor starts would listen on 127.0.0.1 only.
    assert local_only == "0"


def test_without_ray_a_search_runs_on_the_process_pool(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from evosearch import ProcessExecutor, Search, SearchConfig\n"
        "from evosearch.toy import IntVectorSpace, ToyEvaluation\n"
        "if __name__ == '__main__':\n"
        "    config = SearchConfig(parents=1, children=2, generations=1)\n"
        "    search = Search(IntVectorSpace(), ToyEvaluation(), sys.argv[1], config,\n"
        "                    fitness=lambda m: m['val_loss'], executor=ProcessExecutor(1),\n"
        "                    progress=False)\n"
        "    print(search.run().reason)\n"
    )
    script = tmp_path / "no_ray.py"
    script.write_text(code)
    ledger = str(tmp_path / "ledger.sqlite")
    done = subprocess.run(
        [sys.executable, str(script), ledger], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "generations"


def test_importing_evosearch_does_not_import_ray():
    code = "import sys, evosearch; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
