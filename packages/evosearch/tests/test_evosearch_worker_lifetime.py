"""Workers die with the search that started them, and a local Ray cluster listens on loopback."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SEARCH_WITH_A_SLOW_WORKER = """
import sys
from evosearch import ProcessExecutor, Search, SearchConfig
from evosearch.toy import IntVectorSpace, ToyEvaluation

Search(
    IntVectorSpace(),
    ToyEvaluation(sleep=300, journal=sys.argv[2]),
    sys.argv[1],
    SearchConfig(parents=1, children=1, generations=1),
    executor=ProcessExecutor(1),
    progress=False,
).run()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_search_takes_its_busy_worker_with_it(tmp_path):
    journal = tmp_path / "journal.txt"
    search = subprocess.Popen(
        [sys.executable, "-c", SEARCH_WITH_A_SLOW_WORKER, str(tmp_path / "l.sqlite"), str(journal)]
    )
    deadline = time.monotonic() + 120
    while not (journal.exists() and journal.read_text().strip()) and time.monotonic() < deadline:
        assert search.poll() is None, "the search ended before its worker started"
        time.sleep(0.1)
    worker = int(journal.read_text().split()[3])  # "start <id> <attempt> <pid> <time>"
    assert worker != search.pid and _alive(worker)
    search.send_signal(signal.SIGKILL)
    search.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived the search that started it"


def test_a_worker_whose_parent_is_gone_ends_itself():
    code = textwrap.dedent(
        """
        import sys, time
        from evosearch.executors.process_pool import die_with_parent
        die_with_parent(int(sys.argv[1]), poll_seconds=0.1)
        time.sleep(30)
        """
    )
    started = time.monotonic()
    # A parent pid that is not this child's parent: as if the parent died before the check.
    done = subprocess.run([sys.executable, "-c", code, "1"], timeout=60, check=False)
    assert done.returncode == 1
    assert time.monotonic() - started < 25


LOCAL_RAY = """
import os, shutil, subprocess, sys
from pathlib import Path
from evosearch import ExecutorError, RayExecutor


def descendants(root):
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {root}, [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


for attempt in range(2):  # Ray gives its agents 15 s to start, which a busy machine can miss
    executor = RayExecutor("local", init_options={"num_cpus": 1, "log_to_driver": False})
    try:
        executor.start()
        break
    except ExecutorError:
        sys.modules["ray"].shutdown()
        if attempt:
            raise
import ray  # only now: the executor sets Ray's loopback-only switch before Ray loads

try:
    if shutil.which("ss") and Path("/proc").is_dir():
        pids = descendants(os.getpid())
        table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        for line in table.splitlines():
            if any(f"pid={pid}," in line for pid in pids):
                print("listen", line.split()[3])
    print(ray.get_runtime_context().gcs_address)
    print(ray.util.get_node_ip_address())
    print(sorted({node["NodeManagerAddress"] for node in ray.nodes()}))
finally:
    executor.close()
"""


def test_ray_address_local_starts_a_cluster_on_loopback():
    pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_RAY], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    gcs, node, nodes = done.stdout.strip().splitlines()[-3:]
    assert gcs.startswith("127.0.0.1:")
    assert node == "127.0.0.1"
    assert nodes == "['127.0.0.1']"
    listening = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("listen")]
    if shutil.which("ss"):
        assert listening, "ss shows no port of the Ray processes"
    loopback = ("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:")
    assert [address for address in listening if not address.startswith(loopback)] == []


RAY_IMPORTED_FIRST = """
import ray  # before the executor could set the loopback-only switch: Ray has read it
from evosearch import ExecutorError, RayExecutor

try:
    RayExecutor("local", init_options={"num_cpus": 1, "log_to_driver": False}).start()
except ExecutorError as exc:
    print(exc)
print(ray.is_initialized())
"""


def test_a_local_cluster_is_refused_when_ray_was_imported_before_the_loopback_switch():
    pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", RAY_IMPORTED_FIRST],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    message, initialized = done.stdout.strip().splitlines()[-2:]
    assert message.startswith(
        "Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set, so a local "
        "cluster would not listen on 127.0.0.1 only"
    ), message
    assert initialized == "False"  # no cluster was started
