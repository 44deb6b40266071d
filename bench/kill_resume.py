"""Kill and resume: `evopose train` and `evopose search` (e0 = e = 2) killed with SIGKILL at
random moments, rerun, and compared with a run never interrupted.

For each case the script first runs the command once uninterrupted (the reference) and times
it; then, `--kills` times, starts it in a fresh folder, sends SIGKILL to its whole process group
(the command and any worker it started) at a moment drawn uniformly from (0, the reference's
wall time), and reruns it to the end. Each rerun must end bit-identical to the reference:

- train: every weight of `model.keras` and `best.keras`, and `history.json`, equal to the bit;
- search: every candidate in the ledger (genotype, parent, status, fitness, val_loss, params)
  equal to the bit, and every candidate's `best.keras` weights equal to the bit.

It also checks that no process of the killed run is left (its process group is empty once the
kill has been delivered, and no process still has the folder open) and that no temporary file
(`.NAME.PID.tmp*`, `.NAME.PID.old`, `*.partial`) is left in the folder after the rerun.
The search runs with `search.workers=2`, so its candidates train in worker processes that
must die with it. The data is `evopose data synth` (tiny), the network the 64x48 tiny one.

Run: cd /work/main && hatch run python bench/kill_resume.py [--kills 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "apps" / "evopose"
TINY = APP / "configs" / "tiny_synthetic.yaml"
SEARCH = APP / "configs" / "search-cpu.yaml"
# Module 5 repeats twice at stride 1: its second block has drop-connect, so the run draws
# random numbers while training and a resume must restore that generator too.
GENOTYPE = "[[3,1,1,1],[3,1,1,2],[3,1,2,2],[3,1,2,2],[3,2,3,1],[3,1,4,1],[3,1,4,1]]"
TRAIN_EPOCHS = 3
TRAIN_SETS = [f"train.epochs={TRAIN_EPOCHS}", "train.steps_per_epoch=3", "train.val_steps=1",
              f"model.genotype={GENOTYPE}"]  # fmt: skip
SEARCH_SETS = ["search.generations=1", "search.children=2", "search.parents=2",
               "search.ancestor_epochs=2", "search.child_epochs=2", "search.workers=2",
               "train.steps_per_epoch=3", "train.val_steps=1"]  # fmt: skip
LEDGER_FIELDS = ("id", "generation", "parent_id", "genotype", "status", "fitness")
LEDGER_METRICS = ("val_loss", "params", "flops", "best_epoch", "epochs")


def evopose(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("evopose")
    return [str(script) if script.exists() else sys.executable, *([] if script.exists() else
            ["-m", "evopose"]), *args]  # fmt: skip


def command(case: str, folder: Path, data: Path) -> list[str]:
    if case == "train":
        sets = [*TRAIN_SETS, f"data.root={data}"]
        head = ["train", str(TINY), "--run-dir", str(folder)]
    else:
        sets = [*SEARCH_SETS, f"data.root={data}"]
        head = ["search", str(SEARCH), "--work-dir", str(folder)]
    return evopose(*head, *[arg for item in sets for arg in ("--set", item)])


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_USAGE_STATS_ENABLED": "0"}


def run_to_end(cmd: list[str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=out, env=ENV, check=False)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({done.returncode}):\n{tail}")
    return time.monotonic() - started


def run_and_kill(
    cmd: list[str], after: float, log: Path, checkpoint: tuple[Path, int] | None = None
) -> tuple[bool, int]:
    """Starts `cmd` in its own process group, SIGKILLs the group `after` seconds later (after
    the run's `checkpoint` state file holds epoch k or more, when `checkpoint` = (file, k));
    returns (whether it was still running, the group id)."""
    with open(log, "a") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=out, env=ENV, start_new_session=True)
    if checkpoint is not None:
        state, epochs = checkpoint
        while process.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(state.read_text())["epoch"] >= epochs:
                    break
            time.sleep(0.05)
    deadline = time.monotonic() + after
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    running = process.poll() is None
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()
    return running, group


def group_alive(group: int, timeout: float = 10.0) -> list[int]:
    """Pids still in process group `group` after `timeout` seconds (workers that outlived it)."""
    deadline = time.monotonic() + timeout
    while True:
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.2)


def leftovers(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        name = path.name
        parts = name.split(".")
        temp = (name.startswith(".") and len(parts) >= 4 and parts[-3].isdigit()) or ".tmp" in name
        if temp or name.endswith((".partial", ".old")):
            found.append(str(path.relative_to(folder)))
    return found


def weights(path: Path) -> list:
    import keras

    import posenets  # noqa: F401 (registers the networks' classes for loading)

    return keras.saving.load_model(path, compile=False).get_weights()


def same_weights(a: Path, b: Path) -> bool:
    import numpy as np

    wa, wb = weights(a), weights(b)
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


def fingerprint_train(folder: Path) -> dict:
    return {"history": json.loads((folder / "history.json").read_text())}


def compare_train(reference: Path, folder: Path) -> list[str]:
    problems = []
    if fingerprint_train(reference) != fingerprint_train(folder):
        problems.append("history.json differs")
    for name in ("model.keras", "best.keras"):
        if not same_weights(reference / name, folder / name):
            problems.append(f"{name} weights differ")
    return problems


def ledger_rows(folder: Path) -> list[dict]:
    import evosearch

    with evosearch.Ledger(folder / "ledger.sqlite", create=False) as ledger:
        rows = []
        for c in ledger.candidates():
            row = {field: getattr(c, field) for field in LEDGER_FIELDS}
            row.update({m: (c.metrics or {}).get(m) for m in LEDGER_METRICS})
            row["artifact"] = c.artifact and str(Path(c.artifact).relative_to(folder))
            rows.append(row)
        return rows


def compare_search(reference: Path, folder: Path) -> list[str]:
    problems = []
    a, b = ledger_rows(reference), ledger_rows(folder)
    if a != b:
        problems.append(f"ledger differs: {a} vs {b}")
        return problems
    for row in a:
        artifact = row["artifact"]
        if artifact and not same_weights(reference / artifact, folder / artifact):
            problems.append(f"candidate {row['id']}: best.keras weights differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--cases", default="train,search")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of /tmp")
    parser.add_argument(
        "--after-checkpoint",
        action="store_true",
        help="train: kill 0-8 s after a random epoch's checkpoint (so every rerun resumes)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="kill-resume-"))
    root.mkdir(parents=True, exist_ok=True)
    log = root / "log.txt"
    data = root / "data"
    if not (data / "train" / "manifest.json").exists():
        run_to_end(evopose("data", "synth", "--out", str(data), "--train", "200", "--val",
                           "16", "--image-size", "128", "160", "--overwrite"), log)  # fmt: skip
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"folder: {root}; seed {args.seed}; {args.kills} kills per case")
    summary = {}
    started_all = time.monotonic()
    for case in args.cases.split(","):
        reference = root / f"{case}-reference"
        timing = root / f"{case}-reference.seconds"
        if timing.exists():  # a finished reference of an earlier call with --keep
            wall = float(timing.read_text())
        else:
            shutil.rmtree(reference, ignore_errors=True)
            wall = run_to_end(command(case, reference, data), log)
            timing.write_text(f"{wall:.3f}\n")
        print(f"{case}: reference run {wall:.1f} s")
        compare = compare_train if case == "train" else compare_search
        counts = {"kills": 0, "killed_while_running": 0, "identical": 0, "orphans": 0,
                  "leftovers": 0}  # fmt: skip
        for index in range(args.kills):
            folder = root / f"{case}-{index:02d}"
            shutil.rmtree(folder, ignore_errors=True)
            checkpoint = None
            if args.after_checkpoint and case == "train":
                epoch = rng.randint(1, TRAIN_EPOCHS - 1)
                checkpoint = (folder / "checkpoint" / "state.json", epoch)
                moment = rng.uniform(0.0, 8.0)
            else:
                moment = rng.uniform(0.0, wall)
            running, group = run_and_kill(command(case, folder, data), moment, log, checkpoint)
            orphans = group_alive(group)
            for pid in orphans:  # do not let an orphan spoil the next runs
                os.kill(pid, signal.SIGKILL)
            resumed = time.monotonic()
            run_to_end(command(case, folder, data), log)
            problems = compare(reference, folder)
            left = leftovers(folder)
            counts["kills"] += 1
            counts["killed_while_running"] += running
            counts["identical"] += not problems
            counts["orphans"] += len(orphans)
            counts["leftovers"] += len(left)
            verdict = "bit-identical" if not problems else "; ".join(problems)
            rerun = time.monotonic() - resumed
            when = f"epoch {checkpoint[1]}'s checkpoint + " if checkpoint else ""
            print(
                f"{case} #{index}: SIGKILL at {when}{moment:5.1f} s"
                f"{'' if running else ' (had already ended)'}, rerun {rerun:5.1f} s: "
                f"{verdict}; {len(orphans)} processes left; {len(left)} temporary files left"
                + (f" {left}" if left else "")
            )
        summary[case] = counts
        print(
            f"{case}: {counts['identical']}/{counts['kills']} reruns bit-identical "
            f"({counts['killed_while_running']} killed while running), {counts['orphans']} "
            f"processes left behind, {counts['leftovers']} temporary files left"
        )
    print(f"total {time.monotonic() - started_all:.0f} s")
    print(json.dumps(summary))
    ok = all(
        c["identical"] == c["kills"] and not c["orphans"] and not c["leftovers"]
        for c in summary.values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
