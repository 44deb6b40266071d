"""Kill and resume: `evopose train` and `evopose search` (e0 = e = 2) killed with SIGKILL at
random moments, rerun, and compared with a run never interrupted.

For each case the script first runs the command once uninterrupted (the reference) and times
it; then, `--kills` times, starts it in a fresh folder, sends SIGKILL to its whole process group
(the command and any worker it started) at a moment drawn uniformly from (0, the reference's
wall time), and reruns it to the end. Each rerun must end bit-identical to the reference, file
by file (`fingerprint`): the same files (TensorBoard logs and the search's report pictures
aside); every array of every `.keras` model (weights and optimizer state) and `.h5` weights
file equal to the bit, with the same names, shapes and dtypes, and the model's config equal;
`history.json`, `history.csv`, `config.yaml`, `transfer.json`, the loss curve and every other
file equal byte for byte (the run folder's own path replaced by a placeholder); `result.json`
equal but for its wall time; and, for the search, every ledger row equal (genotype, parent,
status, budget, seed, fitness, metrics, info, artifact) but for timings, device and attempt
count, and the generations and settings tables equal.

It also checks that no process of the killed run is left (its process group is empty once the
kill has been delivered, and no process at all has a file of the folder open) and that no
temporary file (`.NAME.PID.tmp*`, `.NAME.PID.old`, `*.partial`) is left in the folder after the
rerun. The search runs with `search.workers=2`, so its candidates train in worker processes
that must die with it. Everything is as small as still tests the point, so that 10 kills of
each case fit in well under an hour on 2 busy cores: `evopose data synth` with 48 training
images, 32x24 networks, batches of 8, 2 steps an epoch (train: 3 epochs of the tiny network
with a drop-connect block; search: the ancestor 2 epochs, one generation of 2 children 2
epochs each, inheriting their parent's weights).

Run: cd /work/main && nice -n 10 hatch run python bench/kill_resume.py [--kills 10] [--seed 0]
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

from machine import describe_machine  # bench/machine.py (the script's folder is on sys.path)

APP = Path(__file__).resolve().parents[1] / "apps" / "evopose"
TINY = APP / "configs" / "tiny_synthetic.yaml"
SEARCH = APP / "configs" / "search-cpu.yaml"
# Module 5 repeats twice at stride 1: its second block has drop-connect, so the run draws
# random numbers while training and a resume must restore that generator too.
GENOTYPE = "[[3,1,1,1],[3,1,1,2],[3,1,2,2],[3,1,2,2],[3,2,3,1],[3,1,4,1],[3,1,4,1]]"
TRAIN_EPOCHS = 3
SMALL = ["model.input_size=[32,24]", "train.batch_size=8", "train.val_batch_size=8",
         "train.steps_per_epoch=2", "train.val_steps=1"]  # fmt: skip
TRAIN_SETS = [*SMALL, f"train.epochs={TRAIN_EPOCHS}", f"model.genotype={GENOTYPE}"]
SEARCH_SETS = [*SMALL, "search.generations=1", "search.children=2", "search.parents=2",
               "search.ancestor_epochs=2", "search.child_epochs=2", "search.workers=2"]  # fmt: skip
# What may differ between a resumed run and the reference: when and where things ran.
LEDGER_VOLATILE = {"created_at", "started_at", "finished_at", "eval_seconds", "device",
                   "attempts"}  # fmt: skip
METRICS_VOLATILE = {"train_seconds", "resumed_from_epoch"}
RESULT_VOLATILE = {"wall_seconds_last_call"}
UNCOMPARED = {"tensorboard", "report"}  # event files named by time; the report's timings


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


def h5_arrays(source: object) -> dict[str, tuple]:
    """Every dataset of an HDF5 file (a path or a file object): name -> (dtype, shape, bytes)."""
    import h5py

    arrays: dict[str, tuple] = {}

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            value = item[()]
            data = value.tobytes() if hasattr(value, "tobytes") else bytes(str(value), "utf-8")
            arrays[name] = (str(item.dtype), item.shape, data)

    with h5py.File(source, "r") as file:
        file.visititems(visit)
    return arrays


def placeholders(text: bytes, folder: Path, data: Path) -> bytes:
    """`text` with the run folder's and the data folder's paths as placeholders."""
    return text.replace(str(folder).encode(), b"<RUN>").replace(str(data).encode(), b"<DATA>")


def keras_file(path: Path, folder: Path, data: Path) -> dict[str, object]:
    """A `.keras` model: its config and keypoints JSON as they are, every array of its weights
    (optimizer state included); not its metadata (the date it was saved)."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {}
        for name in archive.namelist():
            if name == "metadata.json":
                continue
            raw = archive.read(name)
            h5 = name.endswith(".h5")
            members[name] = h5_arrays(io.BytesIO(raw)) if h5 else placeholders(raw, folder, data)
        return members


def ledger_tables(path: Path, folder: Path) -> dict[str, object]:
    """The ledger's rows without the fields that say when and where a candidate ran."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        candidates = []
        for row in db.execute("SELECT * FROM candidates ORDER BY id"):
            item = {k: row[k] for k in row.keys() if k not in LEDGER_VOLATILE}  # noqa: SIM118
            for key in ("artifact", "artifact_dir"):
                if item[key]:
                    item[key] = str(Path(item[key]).relative_to(folder))
            metrics = json.loads(item["metrics"] or "{}")
            item["metrics"] = {k: v for k, v in metrics.items() if k not in METRICS_VOLATILE}
            candidates.append(item)
        generations = [
            (row["generation"], row["survivors"])
            for row in db.execute("SELECT * FROM generations ORDER BY generation")
        ]
        meta = sorted(tuple(row) for row in db.execute("SELECT key, value FROM meta"))
    return {"candidates": candidates, "generations": generations, "meta": meta}


def fingerprint(folder: Path, data: Path) -> dict[str, object]:
    """What a finished run folder holds, file by file, in the form `compare` checks to the bit."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or UNCOMPARED & set(relative.parts):
            continue
        if path.name.endswith(("ledger.sqlite-wal", "ledger.sqlite-shm")):
            continue  # SQLite's journal: the ledger's rows are compared
        if path.suffix == ".keras":
            value: object = keras_file(path, folder, data)
        elif path.suffix == ".h5":
            value = h5_arrays(path)
        elif path.name == "ledger.sqlite":
            value = ledger_tables(path, folder)
        elif path.name == "result.json":
            value = {
                k: v for k, v in json.loads(path.read_text()).items() if k not in RESULT_VOLATILE
            }
        else:  # the folder's own path (a parent's model in config.yaml) as a placeholder
            value = placeholders(path.read_bytes(), folder, data)
        found[str(relative)] = value
    return found


def compare(reference: Path, folder: Path, data: Path, reference_data: Path) -> list[str]:
    """How `folder` differs from `reference` (empty: bit-identical)."""
    a, b = fingerprint(reference, reference_data), fingerprint(folder, data)
    problems = [f"{name} only in the reference" for name in sorted(a.keys() - b.keys())]
    problems += [f"{name} not in the reference" for name in sorted(b.keys() - a.keys())]
    for name in sorted(a.keys() & b.keys()):
        if a[name] != b[name]:
            detail = ""
            if isinstance(a[name], dict) and isinstance(b[name], dict):
                keys = sorted(k for k in a[name].keys() | b[name].keys()
                              if a[name].get(k) != b[name].get(k))  # fmt: skip
                detail = f" ({len(keys)} entries: {', '.join(map(str, keys[:4]))})"
            problems.append(f"{name} differs{detail}")
    return problems


def progress(case: str, folder: Path) -> str:
    """What a killed run had finished (what its rerun resumes from)."""
    if case == "train":
        with contextlib.suppress(OSError, ValueError, KeyError):
            epoch = json.loads((folder / "checkpoint" / "state.json").read_text())["epoch"]
            return f"checkpoint after epoch {epoch}"
        return "finished" if (folder / "result.json").exists() else "no checkpoint"
    import sqlite3

    with contextlib.suppress(sqlite3.Error):
        uri = f"file:{folder / 'ledger.sqlite'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = list(db.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status"))
        checkpoints = len(list(folder.glob("candidates/*/*/checkpoint/state.json")))
        states = ", ".join(f"{count} {status}" for status, count in rows) or "no candidate"
        return f"{states}; {checkpoints} candidate checkpoints"
    return "no ledger"


def holders(folder: Path) -> list[int]:
    """Pids of processes (any, not only the killed group) with a file of `folder` open or their
    working directory in it."""
    inside = str(folder.resolve())
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        links = [proc / "cwd", *proc.glob("fd/*")] if os.access(proc / "fd", os.R_OK) else []
        for link in links:
            with contextlib.suppress(OSError):
                if os.readlink(link).startswith(inside + os.sep):
                    found.append(int(proc.name))
                    break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--cases", default="train,search")
    parser.add_argument(
        "--reference",
        type=Path,
        help="compare with this finished reference run folder of the (one) case instead of "
        "running one (with --reference-data and --reference-seconds)",
    )
    parser.add_argument("--reference-data", type=Path, help="the data --reference trained on")
    parser.add_argument(
        "--reference-seconds", type=float, help="--reference's wall time (for the kill moments)"
    )
    parser.add_argument(
        "--start", type=int, default=0, help="number of the first kill (to add kills to a --keep)"
    )
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
        run_to_end(evopose("data", "synth", "--out", str(data), "--train", "48", "--val",
                           "8", "--image-size", "64", "48", "--overwrite"), log)  # fmt: skip
    print(f"machine: {describe_machine()}; Python {platform.python_version()}")
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"folder: {root}; seed {args.seed}; {args.kills} kills per case")
    summary = {}
    started_all = time.monotonic()
    for case in args.cases.split(","):
        # Every run folder is named `run` (in its own parent), as the loss curve's title is.
        reference = root / f"{case}-reference" / "run"
        timing = root / f"{case}-reference.seconds"
        reference_data = args.reference_data or data
        if args.reference is not None:
            reference, wall = args.reference, args.reference_seconds
        elif timing.exists():  # a finished reference of an earlier call with --keep
            wall = float(timing.read_text())
        else:
            shutil.rmtree(reference.parent, ignore_errors=True)
            wall = run_to_end(command(case, reference, data), log)
            timing.write_text(f"{wall:.3f}\n")
        print(f"{case}: reference run {wall:.1f} s")
        counts = {"kills": 0, "killed_while_running": 0, "identical": 0, "orphans": 0,
                  "leftovers": 0}  # fmt: skip
        for index in range(args.start, args.start + args.kills):
            folder = root / f"{case}-{index:02d}" / "run"
            shutil.rmtree(folder.parent, ignore_errors=True)
            checkpoint = None
            if args.after_checkpoint and case == "train":
                epoch = rng.randint(1, TRAIN_EPOCHS - 1)
                checkpoint = (folder / "checkpoint" / "state.json", epoch)
                moment = rng.uniform(0.0, 8.0)
            else:
                moment = rng.uniform(0.0, wall)
            running, group = run_and_kill(command(case, folder, data), moment, log, checkpoint)
            orphans = sorted(set(group_alive(group)) | set(holders(folder)))
            for pid in orphans:  # do not let an orphan spoil the next runs
                os.kill(pid, signal.SIGKILL)
            state = progress(case, folder)
            resumed = time.monotonic()
            run_to_end(command(case, folder, data), log)
            problems = compare(reference, folder, data, reference_data)
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
                f"{'' if running else ' (had already ended)'} ({state}), rerun {rerun:5.1f} s: "
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
