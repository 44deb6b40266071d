"""Where a CPU training step of EvoPose2D-S (256x192, batch 16) spends its time, by op: the
forward pass, the backward pass and the optimizer update, by kind of layer and by TF op type.

    cd /work/main && nice -n 10 hatch run python bench/training_profile.py [--steps 2]

The step is the training's: a `tf.function` of the model's forward pass (training=True), mean
squared error, `GradientTape` gradients and Adam's update, traced and run once before the
profile. `tf.profiler.experimental` traces `--steps` steps on the host; the trace (an XSpace
protobuf, `*.xplane.pb`) is parsed here: every TF op kernel executed is an event `scope/op:Type`
on an executor thread, with its duration. An op whose name holds `gradient_tape/` belongs to the
backward pass, one under the optimizer's scope (`adam/`) to the update, the rest to the forward
pass; the layer an op belongs to is the model's layer named in its scope. Swish
(`tf.nn.silu`, a `custom_gradient` function) runs its forward and backward ops in functions of
its own, outside the layers' scopes and the tape's: they are counted apart, as "forward +
backward" with the loss (a few small ops). `--keras-batch-norm` profiles the network with
Keras's own batch norms instead of posenets' fused ones (bench/training_fixes.py).

"ms/image" is the ops' kernel time (wall time from the op's start to its end on its executor
thread, intra-op threads included, summed over the ops and divided by the images); "% ops" is
the share of all ops' kernel time. Up to two ops run at once (TensorFlow's inter-op pool), so
the sum can exceed the step's wall time, printed with it. "GMAC/s" is multiply-adds per second
of kernel time for convolutions: forward multiply-adds for the forward pass, twice (gradient of
the input and of the weights) for the backward pass.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
import numpy as np
import tensorflow as tf
from machine import describe_machine

import posenets

UNSCOPED = "forward + backward"
PHASES = ("forward", "backward", UNSCOPED, "update")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="evopose2d_s")
    parser.add_argument("--input", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2, help="profiled steps")
    parser.add_argument("--top", type=int, default=25, help="op types listed")
    parser.add_argument("--keras-batch-norm", action="store_true")
    args = parser.parse_args()

    print(f"# {describe_machine()}")
    print(
        f"# TensorFlow {tf.__version__}, Keras {keras.__version__}, {args.model} at "
        f"{args.input[0]}x{args.input[1]}, batch {args.batch}, {args.steps} profiled steps"
    )
    keras.utils.set_random_seed(0)
    model = posenets.create_model(args.model, input_shape=(*args.input, 3))
    if args.keras_batch_norm:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.__class__ = keras.layers.BatchNormalization
    print(f"# batch norms: {'Keras' if args.keras_batch_norm else 'posenets (fused)'}")
    step = make_train_step(model, keras.optimizers.Adam(1e-4))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, *args.input, 3)).astype(np.float32))
    targets = tf.constant(rng.uniform(size=(args.batch, *model.output_shape[1:])), tf.float32)
    for _ in range(2):  # tracing, and a second call that still costs more than the rest
        step(images, targets)
    events, wall = profile(step, images, targets, args.steps)
    images_seen = args.steps * args.batch
    print(
        f"# step wall time {1000 * wall / args.steps:.0f} ms ({1000 * wall / images_seen:.1f} "
        "ms per image)"
    )
    print_tables(model, events, images_seen, args.top)
    print(f"# {describe_machine()} (at the end)")
    return 0


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """The training step: forward (training=True), MSE, gradients, the optimizer's update."""

    @tf.function
    def step(images, targets):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            loss = tf.reduce_mean(tf.square(outputs - targets))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    return step


def profile(step, images, targets, steps: int) -> tuple[list[tuple[str, str, float]], float]:
    """(op name, op type, seconds) of every op kernel of `steps` steps, and their wall time."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    folder = Path(tempfile.mkdtemp(prefix="training_profile_"))
    try:
        options = tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=2, python_tracer_level=0, device_tracer_level=0
        )
        tf.profiler.experimental.start(str(folder), options=options)
        started = time.perf_counter()
        for _ in range(steps):
            step(images, targets).numpy()
        wall = time.perf_counter() - started
        tf.profiler.experimental.stop()
        (path,) = folder.rglob("*.xplane.pb")
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    events = []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue  # executor threads; Eigen's intra-op threads carry no op events
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith(("ExecutorState:", "ThreadpoolListener:")):
                    continue
                op, kind = name.rsplit(":", 1)
                events.append((op, kind, event.duration_ps * 1e-12))
    return events, wall


def layer_kinds(model: keras.Model) -> dict[str, tuple[str, float]]:
    """Each layer's kind (what the tables group by) and forward multiply-adds per image."""
    kinds = {}
    for layer in model.layers:
        macs = 0.0
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kind = "depthwise conv"
            _, h, w, c = layer.output.shape
            macs = h * w * c * np.prod(layer.kernel_size) * layer.depth_multiplier
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kind = "transposed conv (head)"
            _, h, w, c = layer.input.shape
            macs = h * w * c * layer.filters * np.prod(layer.kernel_size)
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c = layer.input.shape
            _, ho, wo, _ = layer.output.shape
            macs = ho * wo * c * layer.filters * np.prod(layer.kernel_size)
            if "_se_" in layer.name:
                kind = "squeeze-excite conv"
            elif tuple(layer.kernel_size) == (1, 1):
                kind = "1x1 conv"
            else:
                kind = f"{layer.kernel_size[0]}x{layer.kernel_size[1]} conv"
        elif isinstance(layer, keras.layers.BatchNormalization):
            kind = "batch norm"
        elif isinstance(layer, keras.layers.Activation):
            kind = "swish"
        elif isinstance(layer, keras.layers.Multiply | keras.layers.GlobalAveragePooling2D):
            kind = "squeeze-excite pool/multiply"
        else:
            kind = type(layer).__name__
        kinds[layer.name] = (kind, float(macs))
    return kinds


def classify(op: str, kinds: dict[str, tuple[str, float]]) -> tuple[str, str, str | None]:
    """(phase, layer kind, layer name) of an op by its scope."""
    if "gradient_tape/" in op:
        phase = "backward"
    elif op.startswith(("adam/", "Adam/")):
        return "update", "optimizer", None
    else:
        phase = "forward"
    for part in op.split("/"):
        for name in (part, re.sub(r"_\d+$", "", part)):
            if name in kinds:
                return phase, kinds[name][0], name
    if phase == "forward":  # tf.nn.silu's custom-gradient function runs its ops unscoped
        return UNSCOPED, "swish (tf.nn.silu's own function) and the loss", None
    return phase, "loss and other", None


CONV_TYPES = re.compile(r"Conv|conv")


def print_tables(model, events, images: int, top: int) -> None:
    kinds = layer_kinds(model)
    total = sum(seconds for _, _, seconds in events)
    by_kind = collections.defaultdict(float)
    by_type = collections.defaultdict(float)
    by_phase = collections.defaultdict(float)
    macs_by_kind = collections.defaultdict(float)
    seen_layers = collections.defaultdict(set)
    for op, op_type, seconds in events:
        phase, kind, layer = classify(op, kinds)
        by_phase[phase] += seconds
        by_kind[phase, kind] += seconds
        by_type[phase, op_type] += seconds
        if layer is not None and CONV_TYPES.search(op_type):
            seen_layers[phase, kind].add(layer)
    for (phase, kind), layers in seen_layers.items():
        per_layer = sum(kinds[layer][1] for layer in layers)
        macs_by_kind[phase, kind] = per_layer * (2 if phase == "backward" else 1) * images

    def ms(seconds: float) -> str:
        return f"{1000 * seconds / images:.1f}"

    print(
        f"\nAll ops' kernel time: {ms(total)} ms per image; by phase: "
        + ", ".join(
            f"{phase} {ms(by_phase[phase])} ({100 * by_phase[phase] / total:.0f}%)"
            for phase in PHASES
        )
    )
    print("\n| phase | layer kind | ms/image | % ops | GMAC/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for (phase, kind), seconds in sorted(
        by_kind.items(), key=lambda item: (PHASES.index(item[0][0]), -item[1])
    ):
        rate = macs_by_kind.get((phase, kind), 0) / seconds / 1e9 if seconds else 0
        print(
            f"| {phase} | {kind} | {ms(seconds)} | {100 * seconds / total:.1f} | "
            f"{f'{rate:.1f}' if rate else ''} |"
        )
    print(f"\n| phase | TF op type | ms/image | % ops |  (the {top} largest)")
    print("| --- | --- | ---: | ---: |")
    for (phase, op_type), seconds in sorted(by_type.items(), key=lambda item: -item[1])[:top]:
        print(f"| {phase} | {op_type} | {ms(seconds)} | {100 * seconds / total:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
