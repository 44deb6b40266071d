"""Choosing where training runs: a Cloud TPU, several GPUs, N logical CPU devices, or one device."""

import logging

import tensorflow as tf

from evopose.errors import TrainingError, first_line

log = logging.getLogger(__name__)


def split_cpu(count: int) -> list[str]:
    """Splits the CPU into `count` logical devices; call it before TensorFlow sets up devices."""
    if count < 1:
        raise TrainingError(f"device count {count}: must be at least 1")
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == count:
        return [f"/cpu:{i}" for i in range(count)]
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        raise TrainingError(
            f"cannot split the CPU into {count} devices: TensorFlow has already initialised its "
            "devices in this process (split it before any other TensorFlow work)"
        ) from None
    return [f"/cpu:{i}" for i in range(count)]


def select_strategy(
    *, tpu: str | None = None, devices: int | None = None
) -> tf.distribute.Strategy:
    """TPUStrategy for `tpu`, MirroredStrategy over `devices` logical CPUs or several GPUs,
    otherwise TensorFlow's default (one device) strategy."""
    if tpu is not None and devices is not None:
        raise TrainingError(f"a TPU ({tpu}) and a number of devices ({devices}) cannot be combined")
    if tpu is not None:
        return tpu_strategy(tpu)
    if devices is not None:
        names = split_cpu(devices)
        if devices == 1:
            return tf.distribute.get_strategy()
        log.info("MirroredStrategy over %d logical CPU devices", devices)
        return tf.distribute.MirroredStrategy(devices=names)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("MirroredStrategy over %d GPUs", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def tpu_strategy(name: str) -> tf.distribute.Strategy:
    """Resolves, connects to and initialises the Cloud TPU `name` ('local' on a TPU VM)."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise TrainingError(f"cannot reach TPU '{name}': {first_line(error)}") from None
    log.info("TPUStrategy on %s", name)
    return tf.distribute.TPUStrategy(resolver)


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy, key: str) -> int:
    """The per-replica batch size; a TrainingError when `batch_size` does not split evenly."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas != 0:
        raise TrainingError(
            f"{key}={batch_size} cannot be split over {replicas} replicas; "
            f"use a multiple of {replicas}"
        )
    return batch_size // replicas
