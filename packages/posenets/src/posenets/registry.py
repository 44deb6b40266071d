"""The model registry: `create_model(name, ...)` and `list_models(pattern)`, timm-style.

Every entry is written out below, in one visible table; nothing registers itself on import.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import keras

from posenets.errors import InvalidModelArgumentError, UnknownModelError
from posenets.evopose2d import EvoPose2D
from posenets.hrnet import HRNet
from posenets.search_space import EVOPOSE2D_S, EVOPOSE2D_XS, GenotypeLike
from posenets.simple_baseline import SimpleBaseline

_OPTION_HINTS = {
    "genotype": "e.g. genotype=posenets.SearchSpace().ancestor",
    "backbone_weights": "a local Keras ResNet weights file",
    "scaling_size": "the (height, width) EvoPose2D's compound scaling is computed from",
    "search_resolution": "the (height, width) an EvoPose2D genotype was searched at (phi = 0)",
    "head_channels": "the width of a searched EvoPose2D's head at phi = 0 (the paper's 128)",
}


@dataclass(frozen=True)
class ModelEntry:
    """One registered network: its class, fixed constructor arguments and default input size.

    `options` are the keyword arguments of `create_model` it accepts beyond the common ones;
    `required` those it cannot do without.
    """

    name: str
    description: str
    network: type[keras.Model]
    arguments: Mapping[str, object]
    input_size: tuple[int, int] = (256, 192)
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


_EVOPOSE2D_OPTIONS = {
    "options": ("genotype", "scaling_size", "search_resolution", "head_channels"),
    "required": ("genotype",),
}
_SCALING_OPTIONS = {"options": ("scaling_size", "search_resolution")}
_RESNET_OPTIONS = {"options": ("backbone_weights",)}
_ENTRIES = (
    ModelEntry(
        "evopose2d_xs",
        "EvoPose2D-S, stride 2 in module 6",
        EvoPose2D,
        {"genotype": EVOPOSE2D_XS},
        **_SCALING_OPTIONS,
    ),
    ModelEntry(
        "evopose2d_s",
        "EvoPose2D-S (search E3)",
        EvoPose2D,
        {"genotype": EVOPOSE2D_S},
        **_SCALING_OPTIONS,
    ),
    ModelEntry(
        "evopose2d_m",
        "EvoPose2D-S at 384x288",
        EvoPose2D,
        {"genotype": EVOPOSE2D_S},
        (384, 288),
        **_SCALING_OPTIONS,
    ),
    ModelEntry(
        "evopose2d_l",
        "EvoPose2D-S at 512x384",
        EvoPose2D,
        {"genotype": EVOPOSE2D_S},
        (512, 384),
        **_SCALING_OPTIONS,
    ),
    ModelEntry("evopose2d", "EvoPose2D from a genotype", EvoPose2D, {}, **_EVOPOSE2D_OPTIONS),
    ModelEntry(
        "simple_baseline_r50",
        "SimpleBaseline ResNet-50",
        SimpleBaseline,
        {"depth": 50},
        **_RESNET_OPTIONS,
    ),
    ModelEntry(
        "simple_baseline_r101",
        "SimpleBaseline ResNet-101",
        SimpleBaseline,
        {"depth": 101},
        **_RESNET_OPTIONS,
    ),
    ModelEntry(
        "simple_baseline_r152",
        "SimpleBaseline ResNet-152",
        SimpleBaseline,
        {"depth": 152},
        **_RESNET_OPTIONS,
    ),
    ModelEntry("hrnet_w32", "HRNet-W32", HRNet, {"width": 32}),
    ModelEntry("hrnet_w48", "HRNet-W48", HRNet, {"width": 48}),
)
MODELS: Mapping[str, ModelEntry] = MappingProxyType({entry.name: entry for entry in _ENTRIES})


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style `pattern` (e.g. 'evopose2d_*'), in order."""
    return [name for name in MODELS if fnmatch.fnmatchcase(name, pattern)]


def model_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; UnknownModelError lists the names allowed."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name]


def create_model(
    name: str,
    *,
    input_shape: Sequence[int] | None = None,
    num_keypoints: int = 17,
    genotype: GenotypeLike | None = None,
    backbone_weights: str | os.PathLike | None = None,
    scaling_size: Sequence[int] | None = None,
    search_resolution: Sequence[int] | None = None,
    head_channels: int | None = None,
) -> keras.Model:
    """Build a registered network with fresh weights.

    `input_shape` is `(height, width)` or `(height, width, channels)` (default: the entry's
    size); `genotype` only for 'evopose2d' (where it is required); `scaling_size` (the
    `(h, w)` compound scaling is computed from) and `search_resolution` (the `(h, w)` the
    genotype was searched at, phi = 0 there; default 256x192) only for 'evopose2d*';
    `head_channels` (the head's width at phi = 0, default the paper's 128) only for 'evopose2d';
    `backbone_weights` (a local Keras ResNet weights file) only for 'simple_baseline_*'.
    """
    entry = model_entry(name)
    given = {
        "genotype": genotype,
        "backbone_weights": backbone_weights,
        "scaling_size": scaling_size,
        "search_resolution": search_resolution,
        "head_channels": head_channels,
    }
    options = {key: value for key, value in given.items() if value is not None}
    for key in sorted(options.keys() - set(entry.options)):
        takers = [other.name for other in MODELS.values() if key in other.options]
        raise InvalidModelArgumentError(
            f"{name} takes no {key} ({_OPTION_HINTS[key]}); models that do: {', '.join(takers)}"
        )
    for key in sorted(set(entry.required) - options.keys()):
        raise InvalidModelArgumentError(f"{name}: {key} is required ({_OPTION_HINTS[key]})")
    return entry.network(
        **entry.arguments,
        **options,
        input_shape=entry.input_size if input_shape is None else input_shape,
        num_keypoints=num_keypoints,
        name=name,
    )
