"""Training augmentation settings: the values, their bounds (the one place they are checked; the
evopose app's config delegates here) and the presets. Plain Python: no TensorFlow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from posedata.errors import DataError

HalfBodySelection = Literal["balanced", "reference"]
"""How half-body picks its half: `balanced` (this project's) takes the upper body half the time
when it has more than two visible keypoints, else the lower body when it has more than two, else
the upper body; `reference` (the authors' code) takes the upper body half the time when it has
more than two, otherwise the lower body when the upper has more than two, else the upper body
(so a person with few visible upper-body keypoints is cropped around them, not around the legs)."""

HALF_BODY_SELECTIONS: tuple[str, ...] = ("balanced", "reference")

# name: (low, high, high included); None for no bound on that side.
_BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "flip_prob": (0.0, 1.0, True),
    "scale_factor": (0.0, 1.0, False),
    "rotation_prob": (0.0, 1.0, True),
    "rotation_std": (0.0, None, True),
    "rotation_max": (0.0, 180.0, True),
    "half_body_prob": (0.0, 1.0, True),
    "half_body_min_keypoints": (0, None, True),
    "shift_factor": (0.0, 0.5, True),
}


def augment_problem(name: str, value: object) -> str | None:
    """What is wrong with `value` for the `AugmentConfig` field `name` (e.g. "must be in
    [0, 1)"), or None when it is allowed. The one statement of the bounds."""
    if name == "half_body_selection":
        if value not in HALF_BODY_SELECTIONS:
            return "must be one of " + ", ".join(repr(s) for s in HALF_BODY_SELECTIONS)
        return None
    if name == "half_body_padding":
        return None if _is_number(value) and value > 0 else "must be > 0"
    if name not in _BOUNDS:
        return f"is not an augmentation setting (known: {', '.join(AUGMENT_FIELDS)})"
    low, high, high_included = _BOUNDS[name]
    if name == "half_body_min_keypoints" and not (isinstance(value, int) and value >= 0):
        return "must be a whole number >= 0"
    if not _is_number(value):
        return "must be a number"
    if high is None:
        return None if value >= low else f"must be >= {low:g}"
    inside = low <= value <= high if high_included else low <= value < high
    return None if inside else f"must be in [{low:g}, {high:g}{']' if high_included else ')'}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


@dataclass(frozen=True)
class AugmentConfig:
    """SPEC.md's augmentation; the defaults are the paper's training recipe (`paper()`).

    Flip with probability `flip_prob` (left/right keypoints swapped); crop scale
    `1 + clip(N(0, 1) * scale_factor, +-scale_factor)`; with probability `rotation_prob` a
    rotation of `clip(N(0, rotation_std), +-rotation_max)` degrees; half-body with probability
    `half_body_prob` when more than `half_body_min_keypoints` keypoints are visible: the crop
    is the box of the chosen half's visible keypoints (`half_body_selection`) padded by
    `half_body_padding` in place of the usual 1.25. `shift_factor` (not in the paper's recipe,
    0 there) moves the crop's centre by `clip(N(0, 1) * shift_factor, +-2 shift_factor)` of the
    box's width and height on each axis, as a person detector's boxes are off-centre; it makes a
    network that is evaluated on detector boxes robust to them (the demo uses it).
    """

    flip_prob: float = 0.5
    scale_factor: float = 0.3
    rotation_prob: float = 0.6
    rotation_std: float = 40.0
    rotation_max: float = 80.0
    half_body_prob: float = 0.0
    half_body_min_keypoints: int = 8
    half_body_padding: float = 1.5
    half_body_selection: HalfBodySelection = "balanced"
    shift_factor: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            problem = augment_problem(f.name, value)
            if problem is not None:
                raise DataError(f"AugmentConfig.{f.name}={value!r}: {problem}")

    @classmethod
    def paper(cls) -> AugmentConfig:
        """The paper's recipe (SPEC.md section 5): flip, scale, rotation, no half-body."""
        return cls()

    @classmethod
    def reference(cls) -> AugmentConfig:
        """The authors' actual training (their code, which the published models were trained
        with): the paper's recipe plus half-body for about half of the instances with more than
        8 visible keypoints (their `normal() < 0` test), the half's box padded by 1.875
        (1.25 x 1.5) and their upper/lower choice."""
        return cls(half_body_prob=0.5, half_body_padding=1.875, half_body_selection="reference")

    @classmethod
    def flip_only(cls) -> AugmentConfig:
        """Horizontal flip as the only augmentation (the search's setting)."""
        return cls(scale_factor=0.0, rotation_prob=0.0)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(flip_prob=0.0, scale_factor=0.0, rotation_prob=0.0)


AUGMENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AugmentConfig))
"""The names of `AugmentConfig`'s settings."""

AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    "paper": AugmentConfig.paper(),
    "reference": AugmentConfig.reference(),
    "flip_only": AugmentConfig.flip_only(),
    "none": AugmentConfig.none(),
}
"""The named presets: `paper` (the default), `reference`, `flip_only`, `none`."""
