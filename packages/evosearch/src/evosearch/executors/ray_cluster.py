"""The Ray executor: each evaluation is a Ray task with its own resource request.

Ray (the ``ray`` extra) is imported only when the executor starts. The executor joins the Ray
session already running in this process, connects to a cluster by ``address`` (``"auto"``,
``"ray://host:10001"``), or starts a local one (``address`` None or ``"local"``) from
``init_options``. A local cluster started here listens on 127.0.0.1 only
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` unless set otherwise, and node address 127.0.0.1).
Ray reads that switch once, when it is first imported: if Ray was imported before it was set,
the executor cannot keep a new local cluster on loopback and refuses to start one (one line
saying how to fix it); it also checks the started cluster's addresses and stops it if they
are not loopback.
Ray re-runs a task whose worker process died up to ``max_retries`` times; if it still fails,
the engine sees a transient error and applies its own attempt limit.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from evosearch.contract import EvalTask, Outcome, execute, failure
from evosearch.errors import ExecutorError

log = logging.getLogger(__name__)

LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOCAL_ADDRESSES = (None, "local")
"""The addresses that start a new local cluster (Ray's own name for it is "local")."""
LOOPBACK = "127.0.0.1"


class RayExecutor:
    """Sends evaluations to Ray as tasks asking for ``num_cpus``, ``num_gpus`` and custom
    ``resources`` (e.g. ``{"TPU": 4}`` or ``{"accelerator": 1}``); ``slots`` defaults to how
    many such tasks the cluster holds at once."""

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
        max_retries: int = 3,
        max_in_flight: int | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if num_cpus < 0 or num_gpus < 0 or any(v <= 0 for v in (resources or {}).values()):
            raise ExecutorError(
                f"RayExecutor resource requests must be positive, got num_cpus={num_cpus}, "
                f"num_gpus={num_gpus}, resources={dict(resources or {})}"
            )
        if max_in_flight is not None and max_in_flight < 1:
            raise ExecutorError(f"RayExecutor max_in_flight must be >= 1, got {max_in_flight}")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.init_options = dict(init_options or {})
        self._ray: Any = None
        self._remote: Any = None
        self._owns_session = False
        self._slots = 0
        self._pending: dict[Any, EvalTask] = {}

    @property
    def slots(self) -> int:
        """Tasks kept in flight: ``max_in_flight``, else how many fit in the cluster."""
        return self._slots

    def request(self) -> dict[str, float]:
        """The resources each task asks for, in Ray's names (``CPU``, ``GPU``, custom)."""
        wanted = {"CPU": float(self.num_cpus), "GPU": float(self.num_gpus), **self.resources}
        return {name: amount for name, amount in wanted.items() if amount > 0}

    def start(self) -> None:
        """Join or start a Ray session and size ``slots`` from the cluster's resources."""
        if self._remote is not None:
            return
        local = self.address in LOCAL_ADDRESSES
        if local:  # before Ray is imported, which reads it (and for the processes it starts)
            os.environ.setdefault(LOCAL_ONLY_ENV, "0")
        loopback = local and os.environ[LOCAL_ONLY_ENV].lower() not in ("1", "true")
        try:
            import ray
        except ImportError:
            raise ExecutorError("RayExecutor needs Ray: pip install 'evosearch[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            if loopback:
                _check_loopback_possible(ray)
            options = {"include_dashboard": False, **self.init_options}
            if local:
                options.setdefault("_node_ip_address", LOOPBACK)
            if self.address is not None:
                options["address"] = self.address
            try:
                ray.init(**options)
            except Exception as exc:
                where = self.address or "a new local cluster"
                raise ExecutorError(f"cannot start Ray on {where}: {exc}") from None
            self._owns_session = True
            if loopback:
                self._check_loopback()
        self._remote = ray.remote(_run_in_ray).options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            resources=self.resources or None,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        self._slots = self.max_in_flight or _fitting(ray.cluster_resources(), self.request())
        if self._slots < 1:
            self.close()
            raise ExecutorError(
                f"the Ray cluster has {ray.cluster_resources()} and cannot run one task "
                f"asking for {self.request()}; lower the request or add nodes"
            )
        log.info("Ray executor: %d slots, each task asks for %s", self._slots, self.request())

    def _check_loopback(self) -> None:
        """Stops the local cluster just started unless its node and GCS are on 127.0.0.1."""
        ray = self._ray
        addresses = [ray.get_runtime_context().gcs_address, ray.util.get_node_ip_address()]
        if all(address.startswith(LOOPBACK) for address in addresses):
            return
        self.close()
        raise ExecutorError(
            f"the local Ray cluster started at {', '.join(addresses)}, not on {LOOPBACK} only; "
            f"stopped it. Set {LOCAL_ONLY_ENV}=0 before Ray is imported"
        )

    def submit(self, task: EvalTask) -> str:
        """Send ``task`` as a Ray task; the device is known when it ends (``"ray"`` until then)."""
        if self._remote is None:
            raise ExecutorError("RayExecutor.submit called before start()")
        try:
            ref = self._remote.remote(task)
        except Exception as exc:
            raise ExecutorError(
                f"cannot send the evaluation {task.evaluate!r} to Ray ({exc}); "
                "use a top-level function or an instance of a top-level class"
            ) from None
        self._pending[ref] = task
        return "ray"

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Outcomes of the tasks that ended; a task Ray gave up on is a transient failure."""
        if not self._pending:
            return []
        ray = self._ray
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        outcomes = []
        for ref in ready:
            task = self._pending.pop(ref)
            try:
                outcomes.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                summary = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                outcomes.append(
                    failure(
                        task,
                        "ray",
                        f"{type(exc).__name__}: Ray task for candidate "
                        f"{task.request.candidate_id} failed: {summary}",
                        transient=True,
                    )
                )
        return outcomes

    def close(self, *, abort: bool = False) -> None:
        """Cancel tasks still running and leave the Ray session if this executor started it."""
        ray = self._ray
        if ray is None:
            return
        for ref in self._pending:
            try:
                ray.cancel(ref, force=True)
            except Exception as exc:
                log.debug("cannot cancel a Ray task: %s", exc)
        self._pending.clear()
        if self._owns_session and ray.is_initialized():
            ray.shutdown()
        self._owns_session = False
        self._remote = None

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, request={self.request()})"


def _check_loopback_possible(ray: Any) -> None:
    """An ExecutorError when Ray was imported before the loopback-only switch was set: it read
    the switch then, and a new local cluster would listen on this machine's network address."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if getattr(constants, "ENABLE_RAY_CLUSTER", False):
        raise ExecutorError(
            f"Ray was imported before {LOCAL_ONLY_ENV}=0 was set, so a local cluster would "
            f"not listen on {LOOPBACK} only; set {LOCAL_ONLY_ENV}=0 in the environment (or "
            "before importing ray), or start a cluster yourself (ray start --head "
            f"--node-ip-address {LOOPBACK}) and pass its address"
        )


def _fitting(available: Mapping[str, float], request: Mapping[str, float]) -> int:
    """How many tasks asking for ``request`` the ``available`` resources hold at once."""
    if not request:
        return 1
    return min(
        math.floor(available.get(name, 0.0) / amount + 1e-9) for name, amount in request.items()
    )


def _run_in_ray(task: EvalTask) -> Outcome:
    import ray

    accelerators = ray.get_runtime_context().get_accelerator_ids()
    device = ";".join(
        f"{kind}:{','.join(ids)}" for kind, ids in sorted(accelerators.items()) if ids
    )
    return execute(task, device or "cpu")
