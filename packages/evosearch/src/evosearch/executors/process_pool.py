"""The process-pool executor: one spawned worker process per device, each told its device.

A worker that dies (segfault, OOM kill, ``os._exit``) fails only the evaluation it was running,
as a transient error the engine retries; the worker is replaced before its next task. Workers
ignore SIGINT, so Ctrl-C in a terminal lets the engine stop cleanly while they finish.
Workers die with the process that started them, however it ends (SIGKILL included): on Linux
the kernel sends them SIGKILL (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread in each
worker ends it within ``PARENT_POLL_SECONDS`` once its parent is gone, so no orphan goes on
training (and writing) after a killed search.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evosearch.contract import EvalTask, Outcome, execute, failure
from evosearch.errors import ExecutorError

log = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 1.0
"""How often a worker's watchdog checks that the process that started it still lives."""

WorkerSetup = Callable[[str], None]
"""Called once in each new worker with its device, before any task (e.g. to pin a GPU)."""


@dataclass(frozen=True)
class VisibleDevices:
    """A worker setup that shows a worker only its own accelerator through an environment
    variable: device ``"GPU:1"`` sets ``CUDA_VISIBLE_DEVICES=1``; a ``"cpu..."`` device sets it
    empty (no accelerator). Runs before the evaluation imports its framework."""

    variable: str = "CUDA_VISIBLE_DEVICES"

    def __call__(self, device: str) -> None:
        """Set the variable for ``device``; `ValueError` for a device without an index."""
        kind, _, index = device.rpartition(":")
        if device.lower().startswith("cpu"):
            value = ""
        elif kind and index and all(part.isdigit() for part in index.split(",")):
            value = index
        else:
            raise ValueError(
                f"device {device!r} has no accelerator index; name devices like 'GPU:0' or 'cpu:0'"
            )
        os.environ[self.variable] = value


@dataclass
class _Worker:
    device: str
    process: Any = None
    conn: Any = None
    task: EvalTask | None = None
    ready: bool = False


class ProcessExecutor:
    """Runs evaluations in spawned processes, one per device; ``devices=4`` means
    ``cpu:0 .. cpu:3``. ``worker_setup(device)`` runs first in every worker."""

    def __init__(
        self,
        devices: Sequence[str] | int = 1,
        *,
        worker_setup: WorkerSetup | None = None,
        start_timeout: float = 300.0,
    ) -> None:
        if isinstance(devices, int):
            if devices < 1:
                raise ExecutorError(f"ProcessExecutor needs at least one device, got {devices}")
            devices = [f"cpu:{i}" for i in range(devices)]
        devices = [str(d) for d in devices]
        if not devices:
            raise ExecutorError("ProcessExecutor needs at least one device, got an empty list")
        if len(set(devices)) != len(devices):
            raise ExecutorError(f"ProcessExecutor devices must be distinct, got {devices}")
        self.devices = tuple(devices)
        self.worker_setup = worker_setup
        self.start_timeout = start_timeout
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    @property
    def slots(self) -> int:
        """One evaluation per device."""
        return len(self.devices)

    def start(self) -> None:
        """Spawn one worker per device and wait until each has run ``worker_setup``."""
        if self._workers:
            return
        self._workers = [_Worker(device) for device in self.devices]
        try:
            for worker in self._workers:
                self._spawn(worker)
            for worker in self._workers:
                self._handshake(worker)
        except BaseException:
            self.close(abort=True)
            raise

    def submit(self, task: EvalTask) -> str:
        """Send ``task`` to an idle worker (respawned first if it died); returns its device."""
        idle = [w for w in self._workers if w.task is None]
        if not idle:
            raise ExecutorError(f"all {self.slots} ProcessExecutor workers are busy; wait() first")
        worker = idle[0]
        try:
            payload = pickle.dumps(task)
        except Exception as exc:
            raise ExecutorError(
                f"cannot send the evaluation {task.evaluate!r} to a worker process ({exc}); "
                "use a top-level function or an instance of a top-level class"
            ) from None
        if worker.process is None or not worker.process.is_alive():
            self._spawn(worker)
        if not worker.ready:
            self._handshake(worker)
        worker.conn.send_bytes(payload)
        worker.task = task
        return worker.device

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Outcomes of finished tasks; a dead worker yields a transient failure for its task."""
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return []
        watched = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(multiprocessing.connection.wait(watched, timeout))
        outcomes = []
        for worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            task, worker.task = worker.task, None
            outcome = self._receive(worker, task)
            outcomes.append(outcome)
        return outcomes

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers: idle ones exit when asked, busy ones (all with ``abort``) are ended."""
        for worker in self._workers:
            if worker.process is None or worker.conn is None:
                continue
            if not abort and worker.task is None and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.conn.send_bytes(pickle.dumps(None))
                worker.process.join(timeout=10)
            _end(worker.process)
            worker.conn.close()
        self._workers = []

    def __repr__(self) -> str:
        return f"ProcessExecutor(devices={list(self.devices)!r})"

    def _spawn(self, worker: _Worker) -> None:
        if worker.conn is not None:
            worker.conn.close()
        worker.conn = worker.process = None
        worker.ready = False
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            args=(child_conn, worker.device, self.worker_setup, os.getpid()),
            name=f"evosearch-worker-{worker.device}",
        )
        try:
            process.start()
        except Exception as exc:
            parent_conn.close()
            raise ExecutorError(
                f"cannot start a worker process for device {worker.device}: {exc} "
                "(worker_setup must be a top-level function or picklable object)"
            ) from None
        finally:
            child_conn.close()
        worker.process, worker.conn = process, parent_conn

    def _handshake(self, worker: _Worker) -> None:
        ready = multiprocessing.connection.wait(
            [worker.conn, worker.process.sentinel], self.start_timeout
        )
        if not ready:
            raise ExecutorError(
                f"worker for device {worker.device} did not start within {self.start_timeout} s"
            )
        try:
            kind, detail = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            raise ExecutorError(
                f"worker for device {worker.device} died while starting "
                f"(exit code {worker.process.exitcode})"
            ) from None
        if kind != "ready":
            raise ExecutorError(f"worker setup for device {worker.device} failed: {detail}")
        worker.ready = True

    def _receive(self, worker: _Worker, task: EvalTask) -> Outcome:
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
                if isinstance(message, Outcome):
                    return message
                return failure(task, worker.device, str(message), transient=False)
        except (EOFError, OSError):
            pass
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        log.warning(
            "worker for device %s died (exit code %s); starting another", worker.device, code
        )
        self._spawn(worker)
        return failure(
            task,
            worker.device,
            f"WorkerDiedError: the worker process for device {worker.device} died "
            f"(exit code {code}) while evaluating candidate {task.request.candidate_id}",
            transient=True,
        )


def _end(process: Any) -> None:
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def die_with_parent(parent_pid: int, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """Ends this process when process ``parent_pid`` (its parent) ends: at once through the
    kernel on Linux (``PR_SET_PDEATHSIG``), else within ``poll_seconds`` through a watchdog
    thread; ends it now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="evosearch-parent-watchdog", daemon=True).start()


def _worker_main(
    conn: Any, device: str, worker_setup: WorkerSetup | None, parent_pid: int | None = None
) -> None:
    if parent_pid is not None:
        die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if worker_setup is not None:
            worker_setup(device)
    except Exception as exc:
        conn.send(("setup_failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            task = pickle.loads(payload)
        except Exception as exc:
            message: object = f"the worker for {device} cannot load the task: {exc}"
        else:
            if task is None:
                return
            message = execute(task, device)
        try:
            conn.send(message)
        except (BrokenPipeError, OSError):
            return
