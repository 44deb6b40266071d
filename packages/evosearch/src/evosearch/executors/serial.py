"""The in-process serial executor: one evaluation at a time, in the engine's own process."""

from __future__ import annotations

from collections import deque

from evosearch.contract import EvalTask, Outcome, execute
from evosearch.errors import ExecutorError


class SerialExecutor:
    """Runs each evaluation in this process when the engine waits for it (one slot)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._queue: deque[EvalTask] = deque()

    @property
    def slots(self) -> int:
        """One evaluation at a time."""
        return 1

    def start(self) -> None:
        """Nothing to start."""

    def submit(self, task: EvalTask) -> str:
        """Queue ``task``; it runs inside the next `wait`."""
        if self._queue:
            raise ExecutorError("SerialExecutor runs one evaluation at a time; wait() first")
        self._queue.append(task)
        return self.device

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Run the queued evaluation to its end (``timeout`` does not apply) and return it."""
        if not self._queue:
            return []
        return [execute(self._queue.popleft(), self.device)]

    def close(self, *, abort: bool = False) -> None:
        """Drop anything queued."""
        self._queue.clear()

    def __repr__(self) -> str:
        return f"SerialExecutor(device={self.device!r})"
