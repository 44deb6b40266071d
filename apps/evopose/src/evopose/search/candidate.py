"""The search's evaluation of one candidate: build its network, inherit its parent's weights
(SPEC section 1), train it, and score it by its best validation loss and its cost.

`TrainCandidate` is picklable and imports TensorFlow only when called, so it runs alike in the
search's own process, in a worker process per accelerator, or in a Ray task. What it records in
the ledger is a `CandidateMetrics` and a `CandidateInfo`, the one definition every reader of a
candidate (report, export, the search command, the demo) reads back.
"""

import dataclasses
import logging
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from evopose import atomic
from evopose.config import AugmentSection, Config, SearchSection
from evopose.errors import SearchCommandError, first_line
from evosearch import EvalRequest, EvalResult, TransientEvaluationError

if TYPE_CHECKING:
    from evopose.datasets import TrainingSplits

log = logging.getLogger(__name__)

COST_METRICS = {"params": "params", "flops": "flops", "latency": "latency_ms"}
"""The metric of a candidate each `search.cost` names (Eq. 2's cost)."""
LATENCY_RUNS = 30
TRANSFER_TABLE, TRANSFER_JSON = "transfer.txt", "transfer.json"


@dataclass(frozen=True)
class CandidateMetrics:
    """What training a candidate measured: the ledger's `metrics` of a finished candidate.
    evosearch reads `val_loss` and the cost (`COST_METRICS`) by these names for the fitness
    and the Pareto front."""

    val_loss: float  # the best epoch's validation loss
    params: float
    flops: float  # multiply-adds of one forward pass
    best_epoch: float
    epochs: float
    resumed_from_epoch: float  # 0 unless the training resumed from a checkpoint
    train_seconds: float
    inherited_fraction: float | None = None  # a child, or an ancestor given ImageNet weights
    latency_ms: float | None = None  # only when `search.cost` is `latency`

    def to_json(self) -> dict[str, float]:
        """The metrics for the ledger (fields that are None left out)."""
        return _present(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "a candidate") -> Self:
        """The metrics `to_json` wrote; a `SearchCommandError` naming `where` when a key is
        missing or unknown (a ledger written by another version of evopose)."""
        return cls(**_checked_keys(cls, data, f"{where}'s metrics"))

    @classmethod
    def of(cls, candidate: Any) -> Self:
        """The metrics of a finished `evosearch.Candidate`."""
        return cls.from_json(candidate.metrics, f"candidate {candidate.id}")


@dataclass(frozen=True)
class CandidateInfo:
    """What a candidate is, beside its genotype: the ledger's `info` of a candidate."""

    genotype: str  # the short form, e.g. `r1_k3_s1_c16-r2_k3_s2_c24-...`
    # None in a ledger written before evopose recorded them:
    input_size: tuple[int, int] | None = None
    search_resolution: tuple[int, int] | None = None
    mutation: str | None = None  # a child: what changed from its parent (`describe_mutation`)
    inherited_from: str | None = None  # an ancestor given `search.ancestor_weights`
    transfer: dict[str, Any] | None = None  # what it inherited (`transfer_summary`)

    def to_json(self) -> dict[str, Any]:
        """The info for the ledger (fields that are None left out, sizes as lists)."""
        data = _present(self)
        for key in ("input_size", "search_resolution"):
            if key in data:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "a candidate") -> Self:
        """The info `to_json` wrote; a `SearchCommandError` naming `where` when a key is
        missing or unknown (a ledger written by another version of evopose)."""
        data = _checked_keys(cls, data, f"{where}'s info")
        for key in ("input_size", "search_resolution"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def of(cls, candidate: Any) -> Self:
        """The info of an `evosearch.Candidate`."""
        return cls.from_json(candidate.info, f"candidate {candidate.id}")


def _present(record: Any) -> dict[str, Any]:
    return {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if getattr(record, f.name) is not None
    }


def _checked_keys(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    fields = dataclasses.fields(cls)
    unknown = sorted(set(data) - {f.name for f in fields})
    missing = [
        f.name
        for f in fields
        if f.name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if unknown or missing:
        what_is_wrong = ", ".join(
            [f"lack {', '.join(missing)}"] * bool(missing)
            + [f"hold unknown {', '.join(unknown)}"] * bool(unknown)
        )
        raise SearchCommandError(
            f"{what} {what_is_wrong}: the ledger was written by another version of evopose"
        )
    return dict(data)


@dataclass(frozen=True)
class TrainCandidate:
    """Trains one candidate of a search: the network of `request.genotype`, its parent's
    weights transferred in (children), `request.budget` epochs; returns its metrics
    (`val_loss`, `params`, `flops`, ...), its transfer report and its best model's path."""

    config: Config
    verbose: int | str = 2  # Keras' progress: one line per epoch
    splits: "TrainingSplits | None" = None  # opened once by the search (default: per candidate)

    def __call__(self, request: EvalRequest) -> EvalResult:
        """Builds, transfers into, trains and measures the candidate of `request`."""
        import keras
        import tensorflow as tf

        import posenets
        from evopose.datasets import open_training_splits
        from evopose.models import build_model, load_model, transfer_weights
        from evopose.search.evopose_space import EvoPoseSpace, describe_mutation
        from evopose.training import dtype_policy, train

        keras.backend.clear_session()
        config = candidate_config(
            self.config, request.genotype, request.budget, request.seed, request.parent_artifact
        )
        run_dir = Path(request.artifact_dir)
        strategy = _strategy(request.device)
        splits = self.splits or open_training_splits(config)
        keypoints = splits.dataset_info.num_keypoints
        keras.utils.set_random_seed(config.train.seed)
        with strategy.scope() if strategy else nullcontext(), dtype_policy(config.train.precision):
            network = dataclasses.replace(config.model, transfer_from=None)
            model = build_model(network, keypoints)
        mutation = inherited_from = transfer = None
        report = None
        if request.parent_artifact is None and self.config.search.ancestor_weights is not None:
            inherited_from = self.config.search.ancestor_weights
            report = _inherit_ancestor_weights(inherited_from, model)
            transfer = transfer_summary(report)
        elif request.parent_artifact is not None:
            parent = load_model(request.parent_artifact)
            fill = config.model.transfer_batch_norm_fill
            report = transfer_weights(parent, model, batch_norm_fill=fill)
            mutation = describe_mutation(parent.genotype, request.genotype)
            transfer = transfer_summary(report)
            del parent
            log.info(
                "candidate %d (%s): inherits %.1f%% of its parameters from candidate %s",
                request.candidate_id,
                mutation,
                100 * report.inherited_fraction,
                request.parent_id,
            )
        info = CandidateInfo(
            genotype=EvoPoseSpace().describe(request.genotype),
            input_size=config.model.input_size,
            search_resolution=config.model.search_resolution,
            mutation=mutation,
            inherited_from=inherited_from,
            transfer=transfer,
        )
        started = time.monotonic()
        try:
            # A child is never extended: no last-state file beside its best weights.
            result = train(
                config,
                run_dir,
                model=model,
                strategy=strategy,
                verbose=self.verbose,
                keep_last_state=False,
                splits=splits,
            )
        except (tf.errors.UnavailableError, tf.errors.AbortedError) as error:
            # A preempted TPU or a lost worker: the next attempt resumes from the checkpoint.
            raise TransientEvaluationError(
                f"candidate {request.candidate_id}: {type(error).__name__}: {first_line(error)}"
            ) from error
        if report is not None:
            atomic.write_text(run_dir / TRANSFER_TABLE, report.table() + "\n")
            atomic.write_json(run_dir / TRANSFER_JSON, report.as_dict())
        metrics = CandidateMetrics(
            val_loss=result.best_val_loss,
            params=float(posenets.count_params(model)),
            flops=float(posenets.count_flops(model)),
            best_epoch=float(result.best_epoch),
            epochs=float(result.epochs),
            resumed_from_epoch=float(result.resumed_from_epoch),
            train_seconds=round(time.monotonic() - started, 2),
            inherited_fraction=None if report is None else report.inherited_fraction,
            latency_ms=measure_latency(model) if self.config.search.cost == "latency" else None,
        )
        return EvalResult(
            metrics=metrics.to_json(), info=info.to_json(), artifact=str(result.best_model)
        )


def candidate_config(
    config: Config,
    genotype: list[list[int]],
    epochs: int,
    seed: int,
    parent_model: str | None = None,
) -> Config:
    """The training config of one candidate: the network of `genotype` at the search resolution,
    built as written there (phi = 0); the search's `train` recipe with the candidate's epochs,
    seed and the search's warmup; flip-only augmentation when `search.flip_only`; the parent's
    model recorded as `model.transfer_from`; no search section."""
    search = config.search
    resolution = search_resolution(config)
    augment = config.data.augment
    genes = tuple(tuple(int(value) for value in gene) for gene in genotype)
    if search.flip_only:
        augment = AugmentSection(
            flip_prob=augment.flip_prob, scale_factor=0.0, rotation_prob=0.0, half_body_prob=0.0
        )
    return dataclasses.replace(
        config,
        model=dataclasses.replace(
            config.model,
            genotype=genes,
            input_size=resolution,
            search_resolution=resolution,
            transfer_from=parent_model,
        ),
        data=dataclasses.replace(config.data, augment=augment),
        train=dataclasses.replace(
            config.train,
            epochs=epochs,
            warmup_epochs=search.warmup_epochs,
            seed=int(seed) % 2**31,
        ),
        search=SearchSection(),
    )


def search_resolution(config: Config) -> tuple[int, int]:
    """The `(height, width)` a search trains its candidates at: `search.resolution`, else
    `model.input_size`, else the network's default input size (256x192)."""
    if config.search.resolution is not None:
        return config.search.resolution
    if config.model.input_size is not None:
        return config.model.input_size
    import posenets

    return posenets.model_entry(config.model.name).input_size


def _inherit_ancestor_weights(path: str, model: Any) -> Any:
    from evopose.search.ancestor import inherit_weights, read_weight_file

    report = inherit_weights(read_weight_file(path), model)
    log.info(
        "the ancestor inherits %.1f%% of its parameters from %s (%d of %d layers in full)",
        100 * report.inherited_fraction,
        path,
        sum(layer.status == "full" for layer in report.layers),
        len(report.layers),
    )
    return report


def transfer_summary(report: Any) -> dict[str, Any]:
    """A weightxfer report for the ledger: its totals, and the layers not inherited fully or
    inherited from another layer, as `[name, source, status, inherited, total]`."""
    layers = [
        [layer.name, layer.source, layer.status, layer.inherited_params, layer.total_params]
        for layer in report.layers
        if layer.status != "full" or layer.by_fallback
    ]
    return {
        **report.totals(),
        "changed_layers": layers,
        "unused_parent_layers": list(report.unused_parent_layers),
    }


def measure_latency(model: Any, runs: int = LATENCY_RUNS) -> float:
    """Median milliseconds of one forward pass at batch 1 on this process's device."""
    import numpy as np
    import tensorflow as tf

    image = tf.zeros((1, *model.input_shape[1:]), tf.float32)
    forward = tf.function(lambda x: model(x, training=False))
    for _ in range(3):
        forward(image).numpy()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward(image).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def _strategy(device: str) -> Any:
    """TPUStrategy for an executor device `TPU:name`; None (the default strategy) otherwise."""
    kind, _, name = device.partition(":")
    if kind.lower() != "tpu":
        return None
    from evopose.distribute import tpu_strategy

    return tpu_strategy(name or "local")
