"""Keypoint metadata as plain data: names, left/right pairs, upper body, skeleton, OKS sigmas."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from posedata.errors import DataError

_COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCO's skeleton (the annotation file's 1-based pairs, here 0-based).
_COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
# Per-keypoint OKS sigmas of the COCO keypoint evaluation.
_COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
# Name parts that mark an upper-body keypoint when a dataset does not list its upper body.
_UPPER_BODY_WORDS = ("nose", "eye", "ear", "head", "neck", "shoulder", "elbow", "wrist", "hand")
_SIDES = (("left", "right"), ("l", "r"))
_DEFAULT_SIGMA = 0.05


@dataclass(frozen=True)
class DatasetInfo:
    """What a keypoint dataset is: names, left/right pairs, upper body, skeleton and sigmas.

    Flip indices are derived from the flip pairs, never written by hand.
    """

    keypoint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    upper_body: tuple[int, ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    name: str = "keypoints"
    flip_indices: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        if k == 0:
            raise DataError(f"dataset {self.name!r}: no keypoint names")
        if len(set(self.keypoint_names)) != k:
            raise DataError(f"dataset {self.name!r}: keypoint names repeat: {self.keypoint_names}")
        for what, pairs in (("flip pair", self.flip_pairs), ("skeleton limb", self.skeleton)):
            for pair in pairs:
                if len(pair) != 2 or not all(0 <= int(i) < k for i in pair) or pair[0] == pair[1]:
                    raise DataError(
                        f"dataset {self.name!r}: {what} {tuple(pair)} must be two different "
                        f"keypoint indices in [0, {k})"
                    )
        paired = [i for pair in self.flip_pairs for i in pair]
        if len(set(paired)) != len(paired):
            raise DataError(f"dataset {self.name!r}: a keypoint is in two flip pairs: {paired}")
        if not all(0 <= i < k for i in self.upper_body):
            raise DataError(f"dataset {self.name!r}: upper-body index out of [0, {k})")
        if len(self.sigmas) != k or not all(s > 0 for s in self.sigmas):
            raise DataError(
                f"dataset {self.name!r}: needs {k} positive OKS sigmas, got {len(self.sigmas)}"
            )
        flip = list(range(k))
        for a, b in self.flip_pairs:
            flip[a], flip[b] = b, a
        object.__setattr__(self, "flip_indices", tuple(flip))

    @property
    def num_keypoints(self) -> int:
        """How many keypoints an instance has."""
        return len(self.keypoint_names)

    @property
    def lower_body(self) -> tuple[int, ...]:
        """Every keypoint not in the upper body."""
        return tuple(i for i in range(self.num_keypoints) if i not in self.upper_body)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (what a manifest stores); `from_dict` reads it back."""
        return {
            "name": self.name,
            "keypoint_names": list(self.keypoint_names),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "upper_body": list(self.upper_body),
            "skeleton": [list(p) for p in self.skeleton],
            "sigmas": list(self.sigmas),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "dataset description"
    ) -> DatasetInfo:
        """Build from a small description (the keys of `to_dict`; skeleton and sigmas optional)."""
        try:
            names = tuple(str(n) for n in data["keypoint_names"])
            return cls(
                keypoint_names=names,
                flip_pairs=tuple((int(a), int(b)) for a, b in data["flip_pairs"]),
                upper_body=tuple(int(i) for i in data["upper_body"]),
                skeleton=tuple((int(a), int(b)) for a, b in data.get("skeleton", ())),
                sigmas=tuple(float(s) for s in data.get("sigmas", [_DEFAULT_SIGMA] * len(names))),
                name=str(data.get("name", "keypoints")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(
                f"{source}: needs keypoint_names, flip_pairs and upper_body "
                f"(optional skeleton, sigmas, name); problem: {exc!r}"
            ) from None

    @classmethod
    def from_json(cls, path: str) -> DatasetInfo:
        """Read a small JSON dataset description (see `from_dict`)."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"dataset description {path}: cannot be read as JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(f"dataset description {path}: must be a JSON object")
        return cls.from_dict(data, source=f"dataset description {path}")

    @classmethod
    def from_coco_category(
        cls,
        category: Mapping[str, Any],
        *,
        flip_pairs: Sequence[tuple[int, int]] | None = None,
        upper_body: Sequence[int] | None = None,
        sigmas: Sequence[float] | None = None,
    ) -> DatasetInfo:
        """Describe a COCO annotation file's keypoint category.

        COCO's own person category gives `COCO_PERSON`. For others, flip pairs are found by
        pairing `left_*` / `right_*` names, the upper body by name (head, arms) and sigmas
        default to 0.05, unless given.
        """
        name = str(category.get("name", "keypoints"))
        try:
            names = tuple(str(n) for n in category["keypoints"])
            skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton", ()))
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"category {name!r}: needs a 'keypoints' list of names "
                "(and a 'skeleton' of 1-based index pairs)"
            ) from None
        if names == _COCO_KEYPOINTS and flip_pairs is upper_body is sigmas is None:
            return COCO_PERSON
        if flip_pairs is None:
            flip_pairs = _pair_sides(names)
        if upper_body is None:
            upper_body = tuple(
                i for i, n in enumerate(names) if any(w in n.lower() for w in _UPPER_BODY_WORDS)
            )
        if sigmas is None:
            sigmas = _COCO_SIGMAS if names == _COCO_KEYPOINTS else (_DEFAULT_SIGMA,) * len(names)
        return cls(
            keypoint_names=names,
            flip_pairs=tuple((int(a), int(b)) for a, b in flip_pairs),
            upper_body=tuple(int(i) for i in upper_body),
            skeleton=skeleton,
            sigmas=tuple(float(s) for s in sigmas),
            name=name,
        )


def _pair_sides(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Pair `left_x` with `right_x` (also `l_x` / `r_x`, any case, `_` `-` or space)."""
    index = {n.lower(): i for i, n in enumerate(names)}
    pairs = []
    for i, n in enumerate(names):
        low = n.lower()
        for left, right in _SIDES:
            for sep in ("_", "-", " "):
                if low.startswith(left + sep):
                    j = index.get(right + sep + low[len(left) + len(sep) :])
                    if j is not None:
                        pairs.append((i, j))
    return tuple(pairs)


COCO_PERSON = DatasetInfo(
    keypoint_names=_COCO_KEYPOINTS,
    flip_pairs=_pair_sides(_COCO_KEYPOINTS),
    upper_body=tuple(range(11)),
    skeleton=_COCO_SKELETON,
    sigmas=_COCO_SIGMAS,
    name="person",
)
"""COCO's 17 person keypoints: the default everywhere."""
