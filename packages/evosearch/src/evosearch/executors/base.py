"""The executor interface: where evaluations run. The engine keeps at most `slots` in flight."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from evosearch.contract import EvalTask, Outcome


@runtime_checkable
class Executor(Protocol):
    """Runs evaluation tasks: serially, in one process per device, or as Ray tasks."""

    @property
    def slots(self) -> int:
        """How many evaluations may run at once (valid after `start`)."""
        ...

    def start(self) -> None:
        """Acquire workers or connect to a cluster; `ExecutorError` when that fails."""
        ...

    def submit(self, task: EvalTask) -> str:
        """Start ``task`` on a free slot; returns the device it was given (or where it went)."""
        ...

    def wait(self, timeout: float | None = None) -> list:
        """Outcomes of tasks that ended, waiting up to ``timeout`` seconds for at least one."""
        ...

    def close(self, *, abort: bool = False) -> None:
        """Release workers: wait for idle ones to exit, or end them at once with ``abort``."""
        ...


__all__ = ["EvalTask", "Executor", "Outcome"]
