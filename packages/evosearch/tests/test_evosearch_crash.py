"""A search killed with SIGKILL at random moments resumes to the uninterrupted run's ledger."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from evosearch import Ledger, SearchConfig

CHILD = Path(__file__).with_name("evosearch_crash_child.py")
SETTINGS = {"parents": 3, "children": 6, "generations": 8, "seed": 11}
TOTAL = 1 + SETTINGS["children"] * SETTINGS["generations"]


def launch(tmp_path, name, executor):
    args = [
        sys.executable,
        str(CHILD),
        str(tmp_path / name / "ledger.sqlite"),
        str(tmp_path / f"{name}-journal.txt"),
        executor,
        json.dumps(SETTINGS),
    ]
    (tmp_path / name).mkdir(exist_ok=True)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def done_count(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM candidates WHERE status='done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for_progress(process, ledger, target, timeout=60.0):
    """Wait until the ledger holds ``target`` done candidates; False if the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if done_count(ledger) >= target:
            return True
        time.sleep(0.005)
    raise AssertionError(f"no progress to {target} done candidates in {timeout} s")


def journal_starts(journal):
    starts = defaultdict(list)
    for line in journal.read_text().splitlines():
        kind, cid, _attempt, _pid, when = line.split()
        if kind == "start":
            starts[int(cid)].append(float(when))
    return starts


@pytest.fixture
def reference(run_toy):
    """The uninterrupted run, in this process."""
    from evosearch.toy import ToyEvaluation

    _, path = run_toy("reference", config=SearchConfig(**SETTINGS), evaluation=ToyEvaluation())
    return path


@pytest.mark.parametrize(("executor", "kills", "slots"), [("serial", 5, 1), ("2", 2, 2)])
def test_a_search_killed_at_random_moments_resumes_to_the_uninterrupted_result(
    tmp_path, reference, snapshot, executor, kills, slots
):
    ledger = tmp_path / "crashed" / "ledger.sqlite"
    rng = random.Random(2024 + kills)
    targets = sorted(rng.sample(range(1, TOTAL * 2 // 3), kills))
    landed = 0
    for target in targets:
        process = launch(tmp_path, "crashed", executor)
        alive = wait_for_progress(process, ledger, target)
        if alive:
            time.sleep(rng.uniform(0.0, 0.02))
            process.send_signal(signal.SIGKILL)
            landed += process.poll() is None or process.returncode == -signal.SIGKILL
        process.communicate(timeout=60)
    assert landed == kills, "every kill must land while the search still runs"

    process = launch(tmp_path, "crashed", executor)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out) == {"reason": "generations", "generation": SETTINGS["generations"]}

    assert snapshot(ledger) == snapshot(reference)
    with Ledger(ledger, create=False) as resumed:
        finished = {c.id: c.finished_at for c in resumed.candidates(status="done")}
        attempts = {c.id: c.attempts for c in resumed.candidates()}
    assert len(finished) == TOTAL
    starts = journal_starts(tmp_path / "crashed-journal.txt")
    # No candidate starts again once the ledger holds it as done.
    for cid, times in starts.items():
        assert max(times) < finished[cid], f"candidate {cid} ran after it was done"
    # Only evaluations cut short by a kill ran again, at most one per slot per kill.
    reruns = sum(len(times) - 1 for times in starts.values())
    assert reruns <= kills * slots
    assert all(len(starts[cid]) <= attempts[cid] for cid in starts)


def test_ctrl_c_stops_cleanly_and_a_rerun_completes_the_search(tmp_path, reference, snapshot):
    ledger = tmp_path / "interrupted" / "ledger.sqlite"
    process = launch(tmp_path, "interrupted", "serial")
    assert wait_for_progress(process, ledger, 10)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert json.loads(out)["reason"] == "requested"
    assert "press Ctrl-C again to abort now" in err
    with Ledger(ledger, create=False) as stopped:
        counts = stopped.counts()
    assert counts["running"] == 0 and counts["done"] < TOTAL

    process = launch(tmp_path, "interrupted", "serial")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["reason"] == "generations"
    assert snapshot(ledger) == snapshot(reference)
    assert os.path.getsize(tmp_path / "interrupted-journal.txt") > 0
