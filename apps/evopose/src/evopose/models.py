"""Model construction and loading for the app: the network a config names, models from files,
and the `info` summary (parameters, GFLOPs, output shape)."""

import logging
import zipfile
from pathlib import Path

import keras

import posenets
from evopose.config import Config, ModelSection, load_config
from evopose.errors import ConfigFileError, InputFileError, first_line
from weightxfer import BatchNormFill, TransferReport

log = logging.getLogger(__name__)

COCO_KEYPOINTS = 17


def build_model(model: ModelSection, num_keypoints: int = COCO_KEYPOINTS) -> keras.Model:
    """The network `model` names (a posenets model, or EvoPose2D from `model.genotype`), with
    `model.transfer_from`'s weights transferred into it when set."""
    kwargs: dict = {"num_keypoints": num_keypoints}
    if model.input_size is not None:
        kwargs["input_shape"] = model.input_size
    if model.genotype is not None:
        kwargs["genotype"] = [list(gene) for gene in model.genotype]
    if model.search_resolution is not None:
        kwargs["search_resolution"] = model.search_resolution
    if model.head_channels is not None:
        kwargs["head_channels"] = model.head_channels
    network = posenets.create_model(model.name, **kwargs)
    if model.transfer_from is not None:
        parent = load_model(model.transfer_from)
        transfer_weights(parent, network, batch_norm_fill=model.transfer_batch_norm_fill)
    return network


def transfer_weights(
    parent: keras.Model, child: keras.Model, *, batch_norm_fill: BatchNormFill = "child"
) -> TransferReport:
    """Transfers `parent`'s weights into `child` by the EvoPose2D rule (SPEC section 1), in
    place; returns weightxfer's report (`inherited_fraction`, per layer). The one path of
    every transfer-then-train: `model.transfer_from` and each search child from its parent.
    `batch_norm_fill` is `model.transfer_batch_norm_fill` (`child` or `parent_mean`)."""
    from weightxfer.keras import transfer_model

    report = transfer_model(parent, child, batch_norm_fill=batch_norm_fill)
    log.info(
        "%s inherited %.1f%% of its parameters from %s",
        child.name,
        100 * report.inherited_fraction,
        parent.name,
    )
    return report


def load_model(
    weights: str | Path, config: Config | None = None, *, num_keypoints: int | None = None
) -> keras.Model:
    """A model from a `.keras` file, or the config's network with `.weights.h5` weights loaded."""
    path = Path(weights)
    if not path.is_file():
        raise InputFileError(f"weights file '{path}': no such file")
    name = path.name.lower()
    try:
        if name.endswith(".keras"):
            return keras.saving.load_model(path, compile=False)
        if name.endswith(".weights.h5"):
            if config is None:
                raise InputFileError(
                    f"weights file '{path}' holds weights only; use the run's .keras model "
                    "(best.keras or model.keras)"
                )
            model = build_model(config.model, num_keypoints or COCO_KEYPOINTS)
            model.load_weights(path)
            return model
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as error:
        if isinstance(error, InputFileError | ConfigFileError):
            raise
        raise InputFileError(
            f"weights file '{path}': cannot be loaded: {first_line(error)}"
        ) from None
    raise InputFileError(
        f"weights file '{path}': must be a .keras model or .weights.h5 weights file"
    )


def describe_model(target: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Parameters, GFLOPs (multiply-adds, batch 1), input and output shape of a `.keras` file,
    a YAML config's network or a posenets model name."""
    path = Path(target)
    keypoints = None
    if path.suffix.lower() in (".yaml", ".yml"):
        config = load_config(path, overrides)
        model = build_model(config.model)
        source = f"{config.model.name} ({path})"
    elif path.suffix.lower() == ".keras":
        model = load_model(path)
        source = str(path)
        from evopose.keypoints import read_keras

        stored = read_keras(path)
        keypoints = stored.summary() if stored is not None else "not stored in the file"
    else:
        if overrides:
            raise ConfigFileError(f"overrides apply to YAML configs only, not to {target!r}")
        model = posenets.create_model(target)
        source = target
    height, out_height = model.input_shape[1], model.output_shape[1]
    info = {
        "model": source,
        "input": "x".join(str(s) for s in model.input_shape[1:]),
        "output": "x".join(str(s) for s in model.output_shape[1:]),
        "output stride": f"{height / out_height:g}",
        "parameters": f"{model.count_params():,} ({model.count_params() / 1e6:.2f}M)",
        "GFLOPs": f"{posenets.count_flops(model) / 1e9:.3f}",
    }
    if keypoints is not None:
        info["keypoints"] = keypoints
    provenance = getattr(model, "provenance", None)  # evopose import-weights records it
    if provenance:
        info["imported from"] = f"{provenance['file']} (sha256 {provenance['sha256']})"
    return info
