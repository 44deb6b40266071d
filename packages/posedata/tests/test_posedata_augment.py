"""Augmentation settings: one statement of their bounds, the presets, and half-body as the
paper's and as the authors' code do it."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from posedata import AUGMENT_PRESETS, COCO_PERSON, AugmentConfig, DataError, augment_problem
from posedata.augment import draw_augmentation


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("scale_factor", 1.0, "must be in [0, 1)"),
        ("flip_prob", 1.5, "must be in [0, 1]"),
        ("rotation_max", 200.0, "must be in [0, 180]"),
        ("rotation_std", -1.0, "must be >= 0"),
        ("half_body_min_keypoints", 2.5, "must be a whole number >= 0"),
        ("half_body_padding", 0.0, "must be > 0"),
        ("half_body_selection", "random", "must be one of 'balanced', 'reference'"),
        ("shift_factor", 0.6, "must be in [0, 0.5]"),
    ],
)
def test_a_value_out_of_bounds_is_refused_with_its_field_and_the_bound(name, value, problem):
    assert augment_problem(name, value) == problem
    with pytest.raises(DataError, match=rf"AugmentConfig\.{name}=.*: {problem[:10]}"):
        AugmentConfig(**{name: value})


def test_the_edges_of_the_bounds_are_allowed():
    AugmentConfig(scale_factor=0.0, flip_prob=1.0, rotation_max=180.0, half_body_min_keypoints=0)
    assert augment_problem("scale_factor", 0.999) is None


def test_the_paper_preset_is_the_default_and_has_no_half_body():
    assert AugmentConfig() == AugmentConfig.paper() == AUGMENT_PRESETS["paper"]
    assert AugmentConfig().half_body_prob == 0.0


def test_the_reference_preset_is_the_authors_training():
    reference = AUGMENT_PRESETS["reference"]
    assert reference == AugmentConfig(
        half_body_prob=0.5, half_body_padding=1.875, half_body_selection="reference"
    )
    assert (reference.flip_prob, reference.scale_factor, reference.rotation_prob) == (0.5, 0.3, 0.6)


def test_importing_posedata_and_checking_settings_does_not_load_tensorflow():
    script = (
        "import sys, posedata\n"
        "posedata.AugmentConfig.reference(); posedata.COCO_PERSON.to_dict()\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def _keypoints(visible=17):
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (17, 2))
    flags = np.where(np.arange(17) < visible, 2.0, 0.0)[:, None]
    return np.concatenate([points, flags], axis=1).astype(np.float32)


def _paddings(augment, keypoints, draws):
    """The crop padding of `draws` independent draws (1.25 unless half-body fired)."""
    box = tf.constant([0.0, 0.0, 100.0, 100.0])

    @tf.function
    def padding(seed):
        return draw_augmentation(augment, seed, box, keypoints, COCO_PERSON)["padding"]

    return np.array([padding(tf.constant([i, 7])).numpy() for i in range(draws)])


def test_reference_half_body_fires_for_about_half_of_the_people_with_more_than_8_keypoints():
    paddings = _paddings(AUGMENT_PRESETS["reference"], _keypoints(), 400)
    fired = paddings == np.float32(1.875)
    assert set(np.unique(paddings)) == {np.float32(1.25), np.float32(1.875)}
    assert 0.42 < fired.mean() < 0.58  # binomial(400, 0.5): 4 standard deviations
    assert not (_paddings(AUGMENT_PRESETS["reference"], _keypoints(8), 20) != 1.25).any()
    assert (_paddings(AUGMENT_PRESETS["paper"], _keypoints(), 20) == np.float32(1.25)).all()


def _chosen_half(augment, keypoints, seed):
    aug = draw_augmentation(
        augment, tf.constant(seed), [0.0, 0.0, 100.0, 100.0], keypoints, COCO_PERSON
    )
    for name, indices in (("upper", COCO_PERSON.upper_body), ("lower", COCO_PERSON.lower_body)):
        points = keypoints[[i for i in indices if keypoints[i, 2] > 0], :2]
        if len(points) >= 2:
            extent = points.max(0) - points.min(0)
            expected = np.concatenate([points.mean(0) - extent / 2, extent])
            if np.allclose(aug["box"], expected, atol=1e-3):
                return name
    return None


def test_with_two_lower_body_keypoints_the_reference_may_crop_them_and_balanced_never():
    # COCO: the upper body has 11 keypoints, so more than 8 visible means at least 3 upper ones;
    # the choices differ when the lower body has at most 2 visible keypoints.
    keypoints = _keypoints()
    keypoints[13:, 2] = 0  # lower body: only the hips (11, 12) visible; 13 visible in all
    always = {"half_body_prob": 1.0}
    seeds = [[i, 3] for i in range(16)]
    reference = AugmentConfig(**always, half_body_selection="reference")
    balanced = AugmentConfig(**always, half_body_selection="balanced")
    assert {_chosen_half(reference, keypoints, s) for s in seeds} == {"upper", "lower"}
    assert {_chosen_half(balanced, keypoints, s) for s in seeds} == {"upper"}
    keypoints[12, 2] = 0  # one lower-body keypoint: the reference's lower choice crops nothing
    assert {_chosen_half(reference, keypoints, s) for s in seeds} == {"upper", None}


def test_the_shift_moves_only_the_crop_centre_by_about_shift_factor_of_the_box():
    box = tf.constant([10.0, 20.0, 40.0, 100.0])
    keypoints = _keypoints()
    plain, shifted = AugmentConfig(), AugmentConfig(shift_factor=0.1)

    @tf.function
    def draw(augment, seed):
        return draw_augmentation(augment, seed, box, keypoints, COCO_PERSON)

    offsets = []
    for i in range(300):
        seed = tf.constant([i, 11])
        a, b = draw(plain, seed), draw(shifted, seed)
        np.testing.assert_array_equal(a["box"].numpy(), box.numpy())  # the paper's: no shift
        for key in ("padding", "scale", "rotation", "flip"):  # the other draws are unchanged
            assert a[key].numpy() == b[key].numpy()
        assert b["box"].numpy()[2:].tolist() == [40.0, 100.0]
        offsets.append((b["box"].numpy()[:2] - box.numpy()[:2]) / box.numpy()[2:])
    offsets = np.array(offsets)
    assert np.abs(offsets).max() <= 0.2 + 1e-6  # clipped at 2 shift_factor
    assert offsets.std(axis=0).min() > 0.085
    assert offsets.std(axis=0).max() < 0.11
    assert np.abs(offsets.mean(axis=0)).max() < 0.02
    assert abs(np.corrcoef(offsets.T)[0, 1]) < 0.2  # x and y drawn independently
