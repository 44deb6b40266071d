"""Executors: where evaluations run (in-process, one process per device, or Ray tasks)."""

from evosearch.executors.base import Executor
from evosearch.executors.process_pool import ProcessExecutor, VisibleDevices, WorkerSetup
from evosearch.executors.ray_cluster import RayExecutor
from evosearch.executors.serial import SerialExecutor

__all__ = [
    "Executor",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "VisibleDevices",
    "WorkerSetup",
]
