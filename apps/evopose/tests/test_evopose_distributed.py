"""Multi-replica training: MirroredStrategy over 2 logical CPU devices gives the losses of one
device on the same batches. Runs in a fresh process: logical devices must be set up before
TensorFlow initialises its devices."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from evopose.distribute import select_strategy
    two = select_strategy(devices=2)
    import keras
    import tensorflow as tf
    import posenets
    from evopose.config import config_from_dict
    from evopose.training import TrainData, train

    genotype = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 1],
                [3, 1, 2, 1], [3, 1, 2, 1]]
    config = config_from_dict({
        "model": {"name": "evopose2d", "input_size": [64, 48], "genotype": genotype},
        "train": {"epochs": 2, "batch_size": 8, "val_batch_size": 8, "warmup_epochs": 0,
                  "base_lr": 2e-3},
    })
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 64, 48, 3)).astype("float32")
    heatmaps = rng.uniform(0, 255, size=(32, 32, 24, 17)).astype("float32")
    valid = (rng.random((32, 17)) > 0.3).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((images, heatmaps, valid)).batch(8)

    def data():
        return TrainData(train=batches.repeat(), steps_per_epoch=4, val=batches, val_steps=4)

    keras.utils.set_random_seed(1)
    first = posenets.create_model("evopose2d", genotype=genotype, input_shape=(64, 48))
    weights = first.get_weights()
    histories = {}
    for name, strategy in (("one", tf.distribute.get_strategy()), ("two", two)):
        model = posenets.create_model("evopose2d", genotype=genotype, input_shape=(64, 48))
        model.set_weights(weights)
        result = train(config, sys.argv[1] + "/" + name, model=model, strategy=strategy,
                       data=data(), verbose=0)
        histories[name] = {"replicas": strategy.num_replicas_in_sync, **result.history}
    print("HISTORIES", json.dumps(histories))
    """
)


def test_two_replicas_train_with_the_losses_of_one_device(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=420,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("HISTORIES "))
    histories = json.loads(line.removeprefix("HISTORIES "))
    one, two = histories["one"], histories["two"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    for key in ("loss", "heatmap_loss", "val_loss", "val_heatmap_loss"):
        assert len(one[key]) == len(two[key]) == 2
        for a, b in zip(one[key], two[key], strict=True):
            assert abs(a - b) <= 1e-3 * abs(a), (key, one[key], two[key])
    assert one["loss"][1] != one["loss"][0]  # it did train
