"""Run configuration: frozen dataclasses read from YAML, validated strictly, with `a.b=v` overrides.

A config file has the sections `model`, `data`, `train`, `eval` and `search`; every key is declared
below with its type, default and allowed range. Unknown keys, wrong types and out-of-range
values are errors naming the key and the file. Relative paths are relative to the working
directory of the command.
"""

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

import posedata  # plain Python at import (TensorFlow loads on first use of its pipeline)
from evopose.errors import ConfigFileError


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


@dataclass(frozen=True)
class ModelSection:
    """The network: a posenets model name, its input size and, for EvoPose2D, its genotype."""

    name: str
    input_size: tuple[int, int] | None = None  # (height, width); None: the model's own
    # posenets.Genotype, written out: importing posenets would load TensorFlow. 7 genes
    # (kernel, repeats, channels/8, stride).
    genotype: tuple[tuple[int, int, int, int], ...] | None = None
    transfer_from: str | None = None  # a .keras model whose weights are transferred (WT)
    # What a transfer (model.transfer_from, a search child from its parent) leaves in the batch-
    # norm entries the parent cannot give: the child's own init (the paper) or the mean of the
    # parent's vector (the authors' code; SPEC section 1).
    transfer_batch_norm_fill: Literal["child", "parent_mean"] = "child"
    # EvoPose2D: the (height, width) the genotype was searched at; compound scaling (Eq. 3) is
    # relative to it, so the genes are built as written there. None: the paper's 256x192.
    search_resolution: tuple[int, int] | None = None
    # EvoPose2D from a genotype: the head's width at phi = 0. None: the paper's 128.
    head_channels: int | None = field(default=None, metadata=_range(1))


AugmentPreset = Literal["paper", "reference", "flip_only", "none"]  # posedata.AUGMENT_PRESETS


def _augment(name: str) -> Any:
    """An augmentation key: posedata's default, checked by posedata's bounds (one statement)."""
    return field(
        default=getattr(posedata.AugmentConfig.paper(), name),
        metadata={"check": functools.partial(posedata.augment_problem, name)},
    )


@dataclass(frozen=True)
class AugmentSection:
    """Training augmentation (SPEC section 5): posedata's `AugmentConfig`, whose bounds check
    every value. `preset` supplies the keys the section leaves out: `paper` (the default: flip,
    scale, rotation), `reference` (the authors' actual training: also half-body for about half
    of the people, padding 1.875, their upper/lower choice), `flip_only` or `none`. Evaluation
    never augments."""

    preset: AugmentPreset = "paper"
    flip_prob: float = _augment("flip_prob")
    scale_factor: float = _augment("scale_factor")
    rotation_prob: float = _augment("rotation_prob")
    rotation_std: float = _augment("rotation_std")
    rotation_max: float = _augment("rotation_max")
    half_body_prob: float = _augment("half_body_prob")
    half_body_min_keypoints: int = _augment("half_body_min_keypoints")
    half_body_padding: float = _augment("half_body_padding")
    half_body_selection: Literal["balanced", "reference"] = _augment("half_body_selection")
    shift_factor: float = _augment("shift_factor")  # not the paper's (0): crop-centre jitter

    def __post_init__(self) -> None:
        try:
            self.to_posedata()
        except posedata.DataError as error:
            raise ConfigFileError(f"data.augment: {error}") from None

    def to_posedata(self) -> posedata.AugmentConfig:
        """These settings as posedata's `AugmentConfig` (what the input pipeline draws from)."""
        return posedata.AugmentConfig(
            **{
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if f.name != "preset"
            }
        )

    @staticmethod
    def preset_values(preset: Any) -> dict[str, Any]:
        """The values of the preset called `preset` (none for an unknown name: the `preset`
        key's own check names it)."""
        values = posedata.AUGMENT_PRESETS.get(preset) if isinstance(preset, str) else None
        return dataclasses.asdict(values) if values is not None else {}


@dataclass(frozen=True)
class DataSection:
    """The dataset folder written by `evopose data convert` / `data synth`, and augmentation."""

    root: str | None = None  # holds the split folders train/, val/ and val-dets/
    shuffle_buffer: int = field(default=2048, metadata=_range(1))
    augment: AugmentSection = AugmentSection()


@dataclass(frozen=True)
class TrainSection:
    """The training recipe (SPEC section 3); the defaults are the paper's."""

    epochs: int = field(default=200, metadata=_range(1))
    batch_size: int = field(default=512, metadata=_range(1))  # global, over all replicas
    val_batch_size: int = field(default=256, metadata=_range(1))
    base_lr: float = field(default=2.5e-4, metadata=_range(0.0))
    scale_lr: bool = True  # LR = base_lr * batch_size / 32
    warmup_epochs: float = field(default=5.0, metadata=_range(0.0))  # base_lr -> scaled LR
    weight_decay: float = field(default=1e-5, metadata=_range(0.0))  # L2 on kernels
    precision: Literal["float32", "mixed_bfloat16"] = "float32"
    sync_batch_norm: bool = True  # several replicas: batch-norm statistics of the global batch
    steps_per_epoch: int | None = field(default=None, metadata=_range(1))  # None: one pass
    val_steps: int | None = field(default=None, metadata=_range(1))  # None: the whole split
    seed: int = 0


@dataclass(frozen=True)
class EvalSection:
    """The evaluation protocol (SPEC section 6)."""

    annotations: str | None = None  # COCO keypoints JSON; None: the one stored by `data convert`
    boxes: Literal["detections", "ground_truth"] = "detections"
    flip: bool = True
    batch_size: int = field(default=64, metadata=_range(1))
    keypoint_threshold: float = field(default=0.2, metadata=_range(0.0, 1.0))
    oks_nms: float | None = field(default=None, metadata=_range(0.0, 1.0))  # None: no NMS


@dataclass(frozen=True)
class SearchSection:
    """`evopose search` (SPEC section 4): (mu + lambda) neuroevolution with weight transfer;
    the defaults are search E3's. Children train by `train` but for epochs, warmup and augment."""

    generations: int = field(default=20, metadata=_range(0))  # after generation 0 (the ancestor)
    children: int = field(default=64, metadata=_range(1))  # lambda, per generation
    parents: int = field(default=4, metadata=_range(1))  # mu
    ancestor_epochs: int = field(default=30, metadata=_range(1))  # e0
    child_epochs: int = field(default=5, metadata=_range(1))  # e
    target: float = field(default=5e6, metadata=_range(1.0))  # T of Eq. 2, in units of `cost`
    gamma: float = -0.07  # Gamma of Eq. 2
    cost: Literal["params", "flops", "latency"] = "params"  # flops: multiply-adds; latency: ms
    warmup_epochs: float = field(default=0.0, metadata=_range(0.0))  # children: no warmup
    flip_only: bool = True  # children: the flip of data.augment is the only augmentation
    patience: int | None = field(default=None, metadata=_range(1))  # stop after a plateau
    workers: int | None = field(default=None, metadata=_range(1))  # None: serial on CPU
    seed: int = 0
    # (height, width) every candidate trains at, built as written there (phi = 0); exported
    # networks scale relative to it. None: model.input_size.
    resolution: tuple[int, int] | None = None
    # A local EfficientNet-B0 weights file (keras.applications' .h5, or any .keras / .h5 model
    # with EfficientNet's layer names) the ancestor inherits from; None: from scratch.
    ancestor_weights: str | None = None


@dataclass(frozen=True)
class Config:
    """A whole run: model, data, training and evaluation settings, and the file they came from."""

    model: ModelSection
    data: DataSection = DataSection()
    train: TrainSection = TrainSection()
    eval: EvalSection = EvalSection()
    search: SearchSection = SearchSection()
    source: str = field(default="<python>", compare=False, metadata={"internal": True})


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Reads a YAML config, applies `section.key=value` overrides and validates the result."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigFileError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigFileError(f"{where}: YAML syntax error: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of sections, got {raw!r}")
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, source=str(path))


def config_from_dict(data: Mapping[str, Any], source: str = "<python>") -> Config:
    """Validates a plain dict (as read from YAML) into a `Config`; `source` names it in errors."""
    values = _convert_dataclass(Config, data, "", source)
    return dataclasses.replace(values, source=source)


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Returns a copy of `data` with each `a.b=value` override set (value parsed as YAML)."""
    result = _deep_copy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigFileError(
                f"override '{item}': expected KEY=VALUE, e.g. train.batch_size=64"
            )
        parts = key.split(".")
        _check_key_path(Config, parts, f"override '{item}'")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return result


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain YAML-ready data (tuples become lists), without its source."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if not f.metadata.get("internal")
            }
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


def dump_config(config: Config) -> str:
    """The config as YAML text, loadable again by `load_config`."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def require_path(config: Config, key: str, *, kind: Literal["file", "dir"]) -> str:
    """The path at dotted `key` (local, or a URL such as gs://... for TPUs); a ConfigFileError
    naming the key and file when it is unset or missing."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    if value is None:
        raise ConfigFileError(
            f"{config.source}: {key} is not set; set it in the file or with --set"
        )
    if "://" in value:  # remote storage: only TensorFlow's file system reaches it
        import tensorflow as tf

        exists = tf.io.gfile.isdir(value) if kind == "dir" else tf.io.gfile.exists(value)
    else:
        exists = Path(value).is_file() if kind == "file" else Path(value).is_dir()
    if not exists:
        what = "file" if kind == "file" else "folder"
        raise ConfigFileError(f"{config.source}: {key}: no such {what} '{value}'")
    return value


# --- validation -------------------------------------------------------------------------


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


def _check_key_path(cls: type, parts: list[str], where: str) -> None:
    hints = typing.get_type_hints(cls)
    fields = _fields(cls)
    head = parts[0]
    if head not in fields:
        raise ConfigFileError(f"{where}: unknown key '{head}' (known: {', '.join(fields)})")
    if len(parts) > 1:
        hint = hints[head]
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            raise ConfigFileError(f"{where}: '{head}' is a value, not a section")
        _check_key_path(hint, parts[1:], where)


def _convert_dataclass(cls: type, data: Any, prefix: str, source: str) -> Any:
    section = prefix.rstrip(".") or "the top level"
    if not isinstance(data, Mapping):
        raise ConfigFileError(f"{source}: {section}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = _fields(cls)
    for key in data:
        if key not in fields:
            raise ConfigFileError(
                f"{source}: unknown key '{prefix}{key}' (known in {section}: {', '.join(fields)})"
            )
    preset_values = getattr(cls, "preset_values", None)  # keys the section leaves out
    defaults = preset_values(data.get("preset")) if preset_values is not None else {}
    values = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in data:
            if name in defaults:
                values[name] = defaults[name]
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigFileError(f"{source}: missing required key '{key}'")
            continue
        value = _convert(data[name], hints[name], key, source)
        _check_range(value, f, key, source)
        values[name] = value
    return cls(**values)


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _convert_dataclass(hint, value if value is not None else {}, f"{key}.", source)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        if len(arms) == 1:
            return _convert(value, arms[0], key, source)
    elif origin is Literal:
        if value in args:
            return value
        choices = ", ".join(repr(a) for a in args)
        raise ConfigFileError(f"{source}: {key}: expected one of {choices}, got {value!r}")
    elif origin is tuple:
        if isinstance(value, list | tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(
                    _convert(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value)
                )
            if len(value) == len(args):
                return tuple(
                    _convert(v, a, f"{key}[{i}]", source)
                    for i, (v, a) in enumerate(zip(value, args, strict=True))
                )
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    raise ConfigFileError(f"{source}: {key}: expected {_describe(hint)}, got {value!r}")


def _check_range(value: Any, f: dataclasses.Field, key: str, source: str) -> None:
    check = f.metadata.get("check")  # a function saying what is wrong with a value, or None
    problem = check(value) if check is not None and value is not None else None
    if problem is not None:
        raise ConfigFileError(f"{source}: {key}: {value!r} {problem}")
    low, high = f.metadata.get("range", (None, None))
    if value is None or not isinstance(value, int | float):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigFileError(f"{source}: {key}: {value!r} is out of range, expected {bounds}")


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of ({_describe(args[0])})"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
