"""Keypoint metadata as plain data: names, left/right pairs, upper body, skeleton, OKS sigmas."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from posedata.errors import DataError

logger = logging.getLogger(__name__)

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
# Per-keypoint OKS sigmas of the COCO keypoint evaluation, computed as pycocotools computes them
# (tenths divided by 10) so that the floats equal `COCOeval().params.kpt_oks_sigmas` bit for bit
# (`0.026` and `0.26 / 10` differ in the last bit); tests/test_integration_oks_sigmas.py holds it.
_COCO_SIGMAS = tuple(
    tenths / 10.0
    for tenths in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72,
                   0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89)
)  # fmt: skip
# Name parts that mark an upper-body keypoint when a dataset does not list its upper body.
_UPPER_BODY_WORDS = (
    "nose", "eye", "ear", "head", "neck", "thorax", "shoulder", "elbow", "wrist", "hand",
)  # fmt: skip
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
            default_sigmas = [_DEFAULT_SIGMA] * len(names)
            return cls(
                keypoint_names=names,
                flip_pairs=tuple((int(a), int(b)) for a, b in data["flip_pairs"]),
                upper_body=tuple(int(i) for i in data["upper_body"]),
                skeleton=tuple((int(a), int(b)) for a, b in data.get("skeleton", ())),
                sigmas=_official_sigmas(
                    names, tuple(float(s) for s in data.get("sigmas", default_sigmas))
                ),
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
        source: str = "annotation file",
    ) -> DatasetInfo:
        """Describe a COCO annotation file's keypoint category (`source` names the file in
        warnings).

        A category whose keypoint names are those of a known set (`KEYPOINT_SETS`: COCO,
        CrowdPose, AIC, MPII, PoseTrack18) gets that set's flip pairs, upper body and official
        OKS sigmas. For others, flip pairs are found by pairing `left_*` / `right_*` names, the
        upper body by name (head, arms) and sigmas default to 0.05 (with a warning: AP is then
        not comparable with published figures), unless given. A skeleton that does not fit the
        keypoints (CrowdPose's file ships COCO's) is replaced by the known set's, or dropped,
        with a warning naming the file and field.
        """
        name = str(category.get("name", "keypoints"))
        try:
            names = tuple(str(n) for n in category["keypoints"])
            skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton", ()))
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{source}: category {name!r}: needs a 'keypoints' list of names "
                "(and a 'skeleton' of 1-based index pairs)"
            ) from None
        known = find_keypoint_set(names)
        if names == _COCO_KEYPOINTS and flip_pairs is upper_body is sigmas is None:
            return COCO_PERSON
        if not _skeleton_fits(skeleton, len(names)):
            replacement = known.skeleton if known is not None else ()
            logger.warning(
                "%s: categories[%r].skeleton does not fit its %d keypoints (a limb outside "
                "1..%d or joining a keypoint to itself); %s",
                source,
                name,
                len(names),
                len(names),
                f"using {known.name}'s skeleton instead" if known else "ignored (no skeleton)",
            )
            skeleton = replacement
        if flip_pairs is None:
            flip_pairs = known.flip_pairs if known else _pair_sides(names)
        if upper_body is None:
            upper_body = known.upper_body if known else _guess_upper_body(names)
        if sigmas is None:
            if known is not None:
                sigmas = known.sigmas
            else:
                sigmas = (_DEFAULT_SIGMA,) * len(names)
                logger.warning(
                    "%s: keypoint set %r (%d keypoints) is not one posedata knows (%s); its OKS "
                    "sigmas default to %g each, so its AP is not comparable with published "
                    "figures (give a description with its own sigmas)",
                    source,
                    name,
                    len(names),
                    ", ".join(KEYPOINT_SETS),
                    _DEFAULT_SIGMA,
                )
        return cls(
            keypoint_names=names,
            flip_pairs=tuple((int(a), int(b)) for a, b in flip_pairs),
            upper_body=tuple(int(i) for i in upper_body),
            skeleton=skeleton,
            sigmas=tuple(float(s) for s in sigmas),
            name=known.name if known is not None and name == "person" else name,
        )

    @property
    def default_sigmas(self) -> bool:
        """True when every OKS sigma is the 0.05 default of an unknown keypoint set (its AP is
        then not comparable with published figures)."""
        return all(s == _DEFAULT_SIGMA for s in self.sigmas)

    def summary(self) -> str:
        """One line: the set's name, its keypoint count and names."""
        return f"{self.name} ({self.num_keypoints}: {', '.join(self.keypoint_names)})"


def _skeleton_fits(skeleton: Sequence[tuple[int, int]], k: int) -> bool:
    return all(0 <= a < k and 0 <= b < k and a != b for a, b in skeleton)


def _guess_upper_body(names: Sequence[str]) -> tuple[int, ...]:
    return tuple(i for i, n in enumerate(names) if any(w in n.lower() for w in _UPPER_BODY_WORDS))


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


def _preset(
    name: str,
    names: Sequence[str],
    skeleton_names: Sequence[tuple[str, str]],
    sigmas: Sequence[float],
) -> DatasetInfo:
    index = {n: i for i, n in enumerate(names)}
    return DatasetInfo(
        keypoint_names=tuple(names),
        flip_pairs=_pair_sides(names),
        upper_body=_guess_upper_body(names),
        skeleton=tuple((index[a], index[b]) for a, b in skeleton_names),
        sigmas=tuple(sigmas),
        name=name,
    )


_LIMBS = (  # arm and leg chains shared by the body sets, by keypoint name
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
)  # fmt: skip
_TORSO = (
    ("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_shoulder"),
)  # fmt: skip
_CROWDPOSE_KEYPOINTS = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head",
    "neck",
)  # fmt: skip
CROWDPOSE = _preset(
    "crowdpose",
    _CROWDPOSE_KEYPOINTS,
    (*_LIMBS, *_TORSO, ("head", "neck"), ("right_shoulder", "neck"), ("left_shoulder", "neck")),
    # The CrowdPose API's sigmas (crowdposetools, xtcocotools 'keypoints_crowd'), computed as
    # they compute them (tenths / 10).
    tuple(tenths / 10.0 for tenths in (0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87,
                                        0.87, 0.89, 0.89, 0.79, 0.79)),
)  # fmt: skip
"""CrowdPose's 14 keypoints (its annotation files' names and order) and its OKS sigmas."""

AIC = _preset(
    "aic",
    ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
     "left_ankle", "head_top", "neck"),
    (*_LIMBS, ("right_hip", "left_hip"), ("right_shoulder", "right_hip"),
     ("left_shoulder", "left_hip"), ("right_shoulder", "neck"), ("neck", "left_shoulder"),
     ("head_top", "neck")),
    # AI Challenger's keypoint_eval.py deltas / 2 (as mmpose's aic.py).
    (0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
     0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173),
)  # fmt: skip
"""AI Challenger's 14 keypoints (in COCO format as mmpose converts it) and its sigmas."""

MPII = _preset(
    "mpii",
    ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
     "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
     "right_shoulder", "left_shoulder", "left_elbow", "left_wrist"),
    (*_LIMBS, ("right_hip", "pelvis"), ("pelvis", "left_hip"), ("pelvis", "thorax"),
     ("thorax", "upper_neck"), ("upper_neck", "head_top"), ("upper_neck", "right_shoulder"),
     ("upper_neck", "left_shoulder")),
    # MPII has no OKS protocol (its metric is PCKh); these are mmpose's, adapted from COCO.
    (0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072,
     0.179, 0.179, 0.072, 0.062),
)  # fmt: skip
"""MPII's 16 keypoints (in COCO format as mmpose converts it) and mmpose's sigmas for them."""

POSETRACK18 = _preset(
    "posetrack18",
    ("nose", "head_bottom", "head_top", *_COCO_KEYPOINTS[3:]),
    (*_LIMBS, *_TORSO, ("nose", "head_bottom"), ("nose", "head_top"),
     ("head_bottom", "left_shoulder"), ("head_bottom", "right_shoulder")),
    _COCO_SIGMAS,  # PoseTrack's evaluation uses COCO's sigmas
)  # fmt: skip
"""PoseTrack18's 17 keypoints (head_bottom and head_top where COCO has eyes) and sigmas."""

OCHUMAN = replace(COCO_PERSON, name="ochuman")
"""OCHuman: COCO's 17 keypoints, flip pairs, skeleton and sigmas."""

KEYPOINT_SETS: dict[str, DatasetInfo] = {
    "coco": COCO_PERSON,
    "crowdpose": CROWDPOSE,
    "aic": AIC,
    "mpii": MPII,
    "posetrack18": POSETRACK18,
    "ochuman": OCHUMAN,
}
"""The keypoint sets posedata knows, by the name `keypoint_set` takes (`--keypoints NAME`)."""

# Other spellings of a known set's keypoint names (mmpose calls CrowdPose's head 'top_head').
_ALTERNATE_NAMES = {
    tuple("top_head" if n == "head" else n for n in _CROWDPOSE_KEYPOINTS): "crowdpose",
}


def _official_sigmas(names: Sequence[str], sigmas: tuple[float, ...]) -> tuple[float, ...]:
    """A known set's own sigma floats when `sigmas` are those values up to rounding (a manifest
    or model written before the sigmas were computed as the official tools compute them), so
    evaluation always passes the official values bit for bit; otherwise `sigmas` unchanged."""
    known = find_keypoint_set(names)
    if known is None or len(known.sigmas) != len(sigmas):
        return sigmas
    if all(abs(a - b) <= 1e-12 for a, b in zip(known.sigmas, sigmas, strict=True)):
        return known.sigmas
    return sigmas


def keypoint_set(name: str) -> DatasetInfo:
    """The known keypoint set called `name` (any case): coco, crowdpose, aic, mpii,
    posetrack18 or ochuman; a DataError listing them for any other name."""
    info = KEYPOINT_SETS.get(name.strip().lower())
    if info is None:
        raise DataError(
            f"--keypoints {name!r}: unknown keypoint set; known: {', '.join(KEYPOINT_SETS)} "
            "(or give a JSON description with keypoint_names, flip_pairs, upper_body, sigmas)"
        )
    return info


def find_keypoint_set(names: Sequence[str]) -> DatasetInfo | None:
    """The known keypoint set with exactly these keypoint names in this order, or None."""
    names = tuple(names)
    for info in KEYPOINT_SETS.values():
        if info.keypoint_names == names:
            return info
    alternate = _ALTERNATE_NAMES.get(names)
    return KEYPOINT_SETS[alternate] if alternate else None
