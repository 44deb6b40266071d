"""Choosing the distribution strategy (the multi-replica run itself: test_evopose_distributed)."""

import pytest
import tensorflow as tf

from evopose import distribute
from evopose.errors import TrainingError


def test_without_accelerators_or_options_training_uses_the_default_strategy():
    strategy = distribute.select_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_tpu_and_devices_cannot_be_combined():
    with pytest.raises(
        TrainingError, match=r"^a TPU \(my-tpu\) and a number of devices \(2\) cannot be combined$"
    ):
        distribute.select_strategy(tpu="my-tpu", devices=2)


def test_tpu_path_resolves_connects_and_initialises_the_named_tpu(monkeypatch):
    calls = []

    class Resolver:
        def __init__(self, tpu):
            calls.append(("resolve", tpu))

    def connect(resolver):
        calls.append(("connect", type(resolver).__name__))

    def initialize(resolver):
        calls.append(("initialize", type(resolver).__name__))
        raise tf.errors.UnavailableError(None, None, "no TPU here\nsecond line")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", Resolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", connect)
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", initialize)
    with pytest.raises(TrainingError, match=r"^cannot reach TPU 'pod-1': no TPU here$"):
        distribute.select_strategy(tpu="pod-1")
    assert calls == [("resolve", "pod-1"), ("connect", "Resolver"), ("initialize", "Resolver")]


def test_splitting_the_cpu_after_tensorflow_started_is_a_clear_error():
    tf.constant(1.0) + 1.0  # TensorFlow's devices are set up from here on
    with pytest.raises(TrainingError, match="already initialised its devices"):
        distribute.split_cpu(3)


def test_zero_devices_is_refused():
    with pytest.raises(TrainingError, match="at least 1"):
        distribute.split_cpu(0)
