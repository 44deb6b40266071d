"""Where a search's candidates train: in this process, one worker process per accelerator
(GPU ids or TPU names) or per share of the CPU, or as Ray tasks (evosearch's executors).

A candidate whose training found the disk full, or a corrupt TFRecord shard, stops the
search with one line instead of failing for good: it stays unfinished in the ledger, so the
rerun (after space was freed or the conversion re-run) trains it again, resuming from its last
checkpoint (`stop_on_full_disk`).

A candidate's folder still held by a worker of an earlier, killed search (stuck when the
search died, so it outlived it) is freed before the candidate trains: that worker is ended,
and a candidate that still found its folder held is retried, not failed for good
(`end_orphaned_holders`).
"""

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import evosearch
from evopose.atomic import DiskFullError
from evopose.config import SearchSection
from evopose.errors import InputFileError, SearchCommandError
from evopose.folderlock import FolderBusyError, free_folder
from evosearch.executors.ray_cluster import LOCAL_ADDRESSES, LOCAL_ONLY_ENV

log = logging.getLogger(__name__)

CORRUPT_SHARD = "corrupt TFRecord shard"
"""What the training's error for a corrupt shard says (`evopose.training`)."""
_LOGGERS = ("evopose", "evosearch", "posedata", "posenets", "weightxfer")


@dataclass(frozen=True)
class WorkerEnvironment:
    """Prepares a worker process before TensorFlow loads: shows it only its own GPU (none for a
    CPU or TPU worker), caps its CPU threads, and sends its log lines to stderr."""

    cpu_threads: int | None = None

    def __call__(self, device: str) -> None:
        """Sets the environment for `device` (`GPU:1`, `cpu:0`, `TPU:name`)."""
        kind = device.partition(":")[0].lower()
        if kind == "gpu":
            evosearch.VisibleDevices()(device)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if self.cpu_threads is not None:
            threads = str(self.cpu_threads)
            for variable in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
                os.environ[variable] = threads
            os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s [{device}] %(message)s")
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)


def stop_on_full_disk(executor: evosearch.Executor) -> evosearch.Executor:
    """`executor` itself, its `wait` changed to raise `DiskFullError` when a candidate's
    training ended with a full disk, or `InputFileError` when it read a corrupt TFRecord shard: that
    stops the search and leaves the candidate (and any other unfinished one) to the rerun,
    instead of marking it failed for good (the fix is outside the search: free space, re-run
    the conversion)."""
    wait = executor.wait
    full = f"{DiskFullError.__name__}: "
    data = f"{InputFileError.__name__}: "

    def wait_or_stop(timeout: float | None = None) -> list:
        outcomes = wait(timeout)
        for outcome in outcomes:
            error = outcome.error or ""
            if error.startswith(full):
                raise DiskFullError(error[len(full) :])
            if error.startswith(data) and CORRUPT_SHARD in error:
                raise InputFileError(error[len(data) :])
        return outcomes

    executor.wait = wait_or_stop
    return executor


def end_orphaned_holders(executor: evosearch.Executor) -> evosearch.Executor:
    """`executor` itself, changed so that a candidate's folder held by a process of an earlier,
    killed search is freed before the candidate is sent (`evopose.folderlock.free_folder`: the
    search holds its work folder, so no live run can hold a candidate folder inside it), and a
    candidate whose training still found its folder held is retried (a transient error)."""
    submit, wait = executor.submit, executor.wait
    busy = f"{FolderBusyError.__name__}: "

    def submit_freed(task: evosearch.EvalTask) -> str:
        if task.request.artifact_dir:
            try:
                free_folder(task.request.artifact_dir, "candidate folder")
            except FolderBusyError as error:
                log.warning("%s; candidate %d may be retried", error, task.request.candidate_id)
        return submit(task)

    def wait_retrying(timeout: float | None = None) -> list:
        return [
            dataclasses.replace(outcome, transient=True)
            if outcome.error and outcome.error.startswith(busy)
            else outcome
            for outcome in wait(timeout)
        ]

    executor.submit, executor.wait = submit_freed, wait_retrying
    return executor


def make_executor(
    search: SearchSection,
    *,
    gpus: Sequence[str] = (),
    tpus: Sequence[str] = (),
    ray_address: str | None = None,
    ray_gpus: float = 0.0,
) -> evosearch.Executor:
    """The executor for a search: Ray at `ray_address` (each child asking for `ray_gpus`), one
    worker per TPU in `tpus` or per GPU id in `gpus`, else `search.workers` processes sharing
    the CPU; serial in this process when `search.workers` is unset or 1. Each stops the
    search when a candidate finds the disk full (`stop_on_full_disk`) and frees a candidate
    folder a killed search's worker still holds (`end_orphaned_holders`)."""
    return stop_on_full_disk(
        end_orphaned_holders(
            _executor(search, gpus=gpus, tpus=tpus, ray_address=ray_address, ray_gpus=ray_gpus)
        )
    )


def _executor(
    search: SearchSection,
    *,
    gpus: Sequence[str],
    tpus: Sequence[str],
    ray_address: str | None,
    ray_gpus: float,
) -> evosearch.Executor:
    chosen = [name for name, given in (("GPU workers", gpus), ("TPU workers", tpus)) if given]
    if ray_address is not None:
        chosen.append("a Ray cluster")
    if len(chosen) > 1:
        raise SearchCommandError(f"{' and '.join(chosen)} cannot be combined; choose one")
    if ray_address is not None:
        if ray_address in LOCAL_ADDRESSES:  # a new cluster: loopback only, set before Ray loads
            os.environ.setdefault(LOCAL_ONLY_ENV, "0")
        return evosearch.RayExecutor(ray_address, num_cpus=1, num_gpus=ray_gpus)
    if tpus:
        return evosearch.ProcessExecutor(
            [f"TPU:{name}" for name in tpus], worker_setup=WorkerEnvironment()
        )
    if gpus:
        bad = [gpu for gpu in gpus if not gpu.isdigit()]
        if bad:
            raise SearchCommandError(f"GPU ids are numbers like 0,1,2; got {', '.join(bad)}")
        return evosearch.ProcessExecutor(
            [f"GPU:{gpu}" for gpu in gpus], worker_setup=WorkerEnvironment()
        )
    workers = search.workers or 1
    if workers == 1:
        return evosearch.SerialExecutor()
    threads = max(1, (os.cpu_count() or 1) // workers)
    log.info("%d worker processes on the CPU, %d threads each", workers, threads)
    return evosearch.ProcessExecutor(workers, worker_setup=WorkerEnvironment(cpu_threads=threads))
