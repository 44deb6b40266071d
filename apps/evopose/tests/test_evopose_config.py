"""The config system: YAML -> frozen dataclasses, strict validation, overrides, shipped configs."""

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from evopose.config import (
    AugmentPreset,
    Config,
    ModelSection,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    require_path,
)
from evopose.errors import ConfigFileError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_config_gets_the_paper_recipe_as_defaults(tmp_path):
    config = load_config(write(tmp_path, "model: {name: evopose2d_s}\n"))
    assert config.train.base_lr == 2.5e-4
    assert config.train.weight_decay == 1e-5
    assert config.train.warmup_epochs == 5
    assert config.train.epochs == 200
    assert config.data.augment.rotation_prob == 0.6
    assert config.eval.flip is True
    assert config.source == str(tmp_path / "run.yaml")


def test_configs_are_frozen(tmp_path):
    config = load_config(write(tmp_path, "model: {name: evopose2d_s}\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 3


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = write(tmp_path, "model: {name: evopose2d_s}\ntrain: {batchsize: 64}\n")
    with pytest.raises(ConfigFileError, match=r"run\.yaml: unknown key 'train\.batchsize'"):
        load_config(path)


def test_unknown_section_is_rejected(tmp_path):
    with pytest.raises(ConfigFileError, match="unknown key 'optimizer'"):
        load_config(write(tmp_path, "model: {name: x}\noptimizer: adam\n"))


def test_wrong_type_names_the_key_the_file_and_the_expected_type(tmp_path):
    path = write(tmp_path, "model: {name: evopose2d_s}\ntrain: {batch_size: many}\n")
    with pytest.raises(ConfigFileError, match=r"run\.yaml: train\.batch_size: expected an integer"):
        load_config(path)


def test_booleans_are_not_integers(tmp_path):
    with pytest.raises(ConfigFileError, match=r"train.epochs"):
        load_config(write(tmp_path, "model: {name: x}\ntrain: {epochs: true}\n"))


def test_integers_are_accepted_where_a_number_is_expected(tmp_path):
    config = load_config(write(tmp_path, "model: {name: x}\ntrain: {base_lr: 1}\n"))
    assert config.train.base_lr == 1.0 and isinstance(config.train.base_lr, float)


def test_out_of_range_value_is_rejected(tmp_path):
    with pytest.raises(ConfigFileError, match=r"train\.batch_size: 0 is out of range"):
        load_config(write(tmp_path, "model: {name: x}\ntrain: {batch_size: 0}\n"))


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("scale_factor", "1.0", "1.0 must be in [0, 1)"),  # the app once let this through
        ("flip_prob", "1.5", "1.5 must be in [0, 1]"),
        ("rotation_max", "200", "200.0 must be in [0, 180]"),
        ("half_body_padding", "0", "0.0 must be > 0"),
    ],
)
def test_augmentation_is_checked_at_load_by_posedatas_bounds_naming_key_and_file(
    tmp_path, key, value, problem
):
    path = write(tmp_path, f"model: {{name: x}}\ndata: {{augment: {{{key}: {value}}}}}\n")
    with pytest.raises(ConfigFileError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: data.augment.{key}: {problem}"
    base = write(tmp_path, "model: {name: x}\n", "base.yaml")
    with pytest.raises(ConfigFileError) as error:  # an override is checked alike
        load_config(base, [f"data.augment.{key}={value}"])
    assert str(error.value) == f"{base}: data.augment.{key}: {problem}"


def test_the_apps_augmentation_keys_defaults_and_presets_are_posedatas(tmp_path):
    import posedata

    augment = load_config(write(tmp_path, "model: {name: x}\n")).data.augment
    assert augment.preset == "paper"
    assert augment.to_posedata() == posedata.AugmentConfig.paper()
    assert set(typing.get_args(AugmentPreset)) == set(posedata.AUGMENT_PRESETS)


def test_the_reference_preset_fills_the_keys_the_file_leaves_out(tmp_path):
    import posedata

    text = "model: {name: x}\ndata: {augment: {preset: reference, rotation_prob: 0.0}}\n"
    config = load_config(write(tmp_path, text))
    expected = dataclasses.replace(posedata.AugmentConfig.reference(), rotation_prob=0.0)
    assert config.data.augment.to_posedata() == expected
    assert load_config(write(tmp_path, dump_config(config), "again.yaml")) == config


def test_an_unknown_preset_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match=r"data\.augment\.preset: expected one of 'paper'"):
        load_config(write(tmp_path, "model: {name: x}\ndata: {augment: {preset: authors}}\n"))


def test_choice_outside_the_allowed_values_is_rejected(tmp_path):
    with pytest.raises(ConfigFileError, match=r"train.precision: expected one of 'float32'"):
        load_config(write(tmp_path, "model: {name: x}\ntrain: {precision: float16}\n"))


def test_missing_required_key_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match=r"missing required key 'model.name'"):
        load_config(write(tmp_path, "model: {input_size: [64, 48]}\n"))


def test_genotype_is_read_as_tuples_and_checked_per_gene(tmp_path):
    text = "model: {name: evopose2d, genotype: [[3, 1, 2, 1], [3, 2, 3, 2]]}\n"
    config = load_config(write(tmp_path, text))
    assert config.model.genotype == ((3, 1, 2, 1), (3, 2, 3, 2))
    bad = "model: {name: evopose2d, genotype: [[3, 1, 2]]}\n"
    with pytest.raises(ConfigFileError, match=r"model\.genotype\[0\]"):
        load_config(write(tmp_path, bad))


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    with pytest.raises(ConfigFileError, match=r"run\.yaml:3: YAML syntax error"):
        load_config(write(tmp_path, "model:\n  name: x\n bad: 1\n"))


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigFileError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_set_nested_values_parsed_as_yaml(tmp_path):
    path = write(tmp_path, "model: {name: evopose2d_s}\n")
    config = load_config(path, ["train.batch_size=64", "model.input_size=[128, 96]"])
    assert config.train.batch_size == 64
    assert config.model.input_size == (128, 96)


def test_override_of_an_unknown_key_names_the_override():
    with pytest.raises(
        ConfigFileError, match=r"override 'train\.batchsize=3': unknown key 'batchsize'"
    ):
        apply_overrides({"model": {"name": "x"}}, ["train.batchsize=3"])


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(ConfigFileError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.batch_size"])


def test_override_with_a_wrong_type_names_the_key():
    data = apply_overrides({"model": {"name": "x"}}, ["train.batch_size=big"])
    with pytest.raises(ConfigFileError, match=r"train.batch_size: expected an integer"):
        config_from_dict(data, source="cli")


def test_dumped_config_loads_back_equal(tmp_path):
    config = load_config(
        write(tmp_path, "model: {name: evopose2d, genotype: [[3, 1, 2, 1]]}\n"),
        ["train.batch_size=8", "eval.oks_nms=0.9"],
    )
    again = load_config(write(tmp_path, dump_config(config), "again.yaml"))
    assert again == config


def test_require_path_names_the_key_and_file(tmp_path):
    config = config_from_dict(
        {"model": {"name": "x"}, "data": {"root": str(tmp_path / "nowhere")}}, source="c.yaml"
    )
    with pytest.raises(ConfigFileError, match=r"c\.yaml: data\.root: no such folder"):
        require_path(config, "data.root", kind="dir")
    unset = config_from_dict({"model": {"name": "x"}}, source="c.yaml")
    with pytest.raises(ConfigFileError, match=r"c\.yaml: data\.root is not set"):
        require_path(unset, "data.root", kind="dir")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_is_valid(path):
    config = load_config(path)
    assert isinstance(config, Config)
    assert yaml.safe_load(path.read_text())  # not empty


# SPEC section 3: the global batch the authors trained each model with (their configs).
PAPER_BATCH_SIZES = {
    "evopose2d_xs": 512,
    "evopose2d_xs_wt": 512,
    "evopose2d_s": 512,
    "evopose2d_s_wt": 512,
    "evopose2d_m": 256,
    "evopose2d_l": 128,
    "simple_baseline_r50": 256,
    "hrnet_w32": 256,
}


@pytest.mark.parametrize(("name", "batch_size"), PAPER_BATCH_SIZES.items())
def test_every_paper_config_has_the_spec_recipe_and_the_authors_batch(name, batch_size):
    import posedata

    config = load_config(CONFIGS / f"{name}.yaml")
    recipe = config.train
    assert recipe.batch_size == batch_size
    assert (recipe.val_batch_size, recipe.base_lr, recipe.scale_lr) == (256, 2.5e-4, True)
    assert (recipe.epochs, recipe.warmup_epochs, recipe.weight_decay) == (200, 5, 1e-5)
    assert config.data.augment.to_posedata() == posedata.AugmentConfig.paper()


def test_dataset_root_may_be_a_url_for_tensorflow_file_systems():
    import tensorflow as tf

    from evopose.datasets import split_folder

    tf.io.gfile.makedirs("ram://evopose/data/train")
    with tf.io.gfile.GFile("ram://evopose/data/train/manifest.json", "w") as f:
        f.write("{}")
    config = config_from_dict(
        {"model": {"name": "x"}, "data": {"root": "ram://evopose/data"}}, source="c.yaml"
    )
    assert split_folder(config, "train") == "ram://evopose/data/train"
    with pytest.raises(ConfigFileError, match=r"c\.yaml: data\.root: 'ram://evopose/data' has no"):
        split_folder(config, "val")
    missing = config_from_dict({"model": {"name": "x"}, "data": {"root": "ram://nowhere"}})
    with pytest.raises(ConfigFileError, match=r"data\.root: no such folder 'ram://nowhere'"):
        split_folder(missing, "train")


def test_the_configs_genotype_is_posenets_genotype_as_plain_tuples():
    """config.py writes posenets' `Genotype` out (importing posenets would load TensorFlow):
    one int per field of posenets' `Gene`, and what a config reads posenets takes as is."""
    import posenets

    hint = typing.get_type_hints(ModelSection)["genotype"]
    gene = typing.get_args(typing.get_args(hint)[0])[0]
    assert typing.get_args(gene) == (int,) * len(posenets.Gene._fields)
    space = posenets.SearchSpace()
    genes = [list(gene) for gene in space.ancestor]
    config = config_from_dict({"model": {"name": "evopose2d", "genotype": genes}})
    assert space.validate(config.model.genotype) == space.ancestor == config.model.genotype
