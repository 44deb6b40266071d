"""Where a search's candidates train: in this process, one worker process per accelerator
(GPU ids or TPU names) or per share of the CPU, or as Ray tasks (evosearch's executors).

A candidate whose training found the disk full stops the search with one line instead of
failing for good: it stays unfinished in the ledger, so the rerun (after space was freed)
trains it again, resuming from its last checkpoint (`stop_on_full_disk`).
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import evosearch
from evopose.atomic import DiskFullError
from evopose.config import SearchConfig
from evopose.errors import SearchError

log = logging.getLogger(__name__)

_LOGGERS = ("evopose", "evosearch", "posedata", "posenets", "weightxfer")


@dataclass(frozen=True)
class WorkerSetup:
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
    training ended with a full disk: that stops the search and leaves the candidate (and any
    other unfinished one) to the rerun, instead of marking it failed for good."""
    wait = executor.wait
    prefix = f"{DiskFullError.__name__}: "

    def wait_or_stop(timeout: float | None = None) -> list:
        outcomes = wait(timeout)
        for outcome in outcomes:
            if outcome.error and outcome.error.startswith(prefix):
                raise DiskFullError(outcome.error[len(prefix) :])
        return outcomes

    executor.wait = wait_or_stop
    return executor


def make_executor(
    search: SearchConfig,
    *,
    gpus: Sequence[str] = (),
    tpus: Sequence[str] = (),
    ray_address: str | None = None,
    ray_gpus: float = 0.0,
) -> evosearch.Executor:
    """The executor for a search: Ray at `ray_address` (each child asking for `ray_gpus`), one
    worker per TPU in `tpus` or per GPU id in `gpus`, else `search.workers` processes sharing
    the CPU; serial in this process when `search.workers` is unset or 1. Each stops the
    search when a candidate finds the disk full (`stop_on_full_disk`)."""
    return stop_on_full_disk(
        _executor(search, gpus=gpus, tpus=tpus, ray_address=ray_address, ray_gpus=ray_gpus)
    )


def _executor(
    search: SearchConfig,
    *,
    gpus: Sequence[str],
    tpus: Sequence[str],
    ray_address: str | None,
    ray_gpus: float,
) -> evosearch.Executor:
    chosen = [name for name, given in (("--gpus", gpus), ("--tpus", tpus)) if given]
    if ray_address is not None:
        chosen.append("--ray-address")
    if len(chosen) > 1:
        raise SearchError(f"{' and '.join(chosen)} cannot be combined; choose one")
    if ray_address is not None:
        return evosearch.RayExecutor(ray_address, num_cpus=1, num_gpus=ray_gpus)
    if tpus:
        return evosearch.ProcessExecutor(
            [f"TPU:{name}" for name in tpus], worker_setup=WorkerSetup()
        )
    if gpus:
        bad = [gpu for gpu in gpus if not gpu.isdigit()]
        if bad:
            raise SearchError(f"--gpus takes GPU ids like 0,1,2; got {', '.join(bad)}")
        return evosearch.ProcessExecutor([f"GPU:{gpu}" for gpu in gpus], worker_setup=WorkerSetup())
    workers = search.workers or 1
    if workers == 1:
        return evosearch.SerialExecutor()
    threads = max(1, (os.cpu_count() or 1) // workers)
    log.info("%d worker processes on the CPU, %d threads each", workers, threads)
    return evosearch.ProcessExecutor(workers, worker_setup=WorkerSetup(cpu_threads=threads))
