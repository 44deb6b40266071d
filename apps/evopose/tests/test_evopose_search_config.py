"""The search section of a config, the search configs shipped, and how a search is set up
from a config: fitness (Eq. 2), engine settings, candidates' training configs, executors,
resume checks and the command line. No TensorFlow here."""

import math
import os
import pickle
from pathlib import Path

import pytest
import yaml

import evosearch
from evopose.cli import build_parser
from evopose.config import config_from_dict, dump_config, load_config
from evopose.errors import ConfigFileError, SearchCommandError
from evopose.search.candidate import TrainCandidate, candidate_config, search_resolution
from evopose.search.executors import WorkerEnvironment, make_executor
from evopose.search.run import check_searchable, engine_config, fitness_of
from evopose.search.workdir import SearchFiles, record_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ANCESTOR = [[3, 1, 2, 1], [3, 2, 3, 2], [5, 2, 5, 2], [3, 3, 10, 2], [5, 3, 14, 1], [5, 4, 24, 2],
            [3, 1, 40, 1]]  # fmt: skip


def _config(**search):
    return config_from_dict(
        {
            "model": {"name": "evopose2d", "input_size": [64, 48]},
            "data": {"root": "data/synth", "augment": {"scale_factor": 0.3, "rotation_prob": 0.6}},
            "train": {"epochs": 30, "batch_size": 32, "warmup_epochs": 2},
            "search": search,
        }
    )


def test_every_shipped_search_config_loads_and_is_searchable():
    paths = sorted(CONFIGS.glob("search-*.yaml"))
    assert {p.name for p in paths} >= {"search-e3.yaml", "search-cpu.yaml"}
    for path in paths:
        config = load_config(path)
        check_searchable(config)
        engine_config(config)  # evosearch accepts the settings


def test_search_e3_config_holds_the_papers_settings():
    config = load_config(CONFIGS / "search-e3.yaml")
    s = config.search
    assert (s.target, s.gamma, s.children, s.parents) == (5e6, -0.07, 64, 4)
    assert (s.ancestor_epochs, s.child_epochs, s.warmup_epochs, s.flip_only) == (30, 5, 0.0, True)
    assert config.train.batch_size == 512
    assert config.model.input_size == (256, 192)
    assert config.model.genotype is None  # the default ancestor: EfficientNet-B0's blocks


def test_search_defaults_are_search_e3():
    s = _config().search
    assert (s.target, s.gamma, s.children, s.parents, s.ancestor_epochs, s.child_epochs) == (
        5e6,
        -0.07,
        64,
        4,
        30,
        5,
    )
    assert s.cost == "params" and s.workers is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("children", 0, "search.children"),
        ("cost", "watts", "search.cost"),
        ("workers", 0, "search.workers"),
        ("target", "5e6", "search.target"),  # YAML 1.1 reads 5e6 as a string: write 5.0e+6
    ],
)
def test_bad_search_values_are_errors_naming_the_key(key, value, message):
    with pytest.raises(ConfigFileError, match=message):
        _config(**{key: value})


def test_fitness_is_equation_2_with_the_configured_cost():
    fitness = fitness_of(_config(target=4e5, gamma=-0.07, cost="flops"))
    metrics = {"val_loss": 200.0, "flops": 8e5, "params": 1.0}
    assert fitness(metrics) == pytest.approx((4e5 / 8e5) ** -0.07 * 200.0)
    assert fitness_of(_config(cost="latency")).cost == "latency_ms"


def test_engine_settings_come_from_the_search_section():
    engine = engine_config(
        _config(parents=3, children=5, generations=7, ancestor_epochs=9, child_epochs=2, seed=4)
    )
    assert (engine.parents, engine.children, engine.generations, engine.seed) == (3, 5, 7, 4)
    assert (engine.ancestor_budget, engine.child_budget) == (9, 2)


def test_a_candidate_trains_by_the_recipe_with_the_searchs_shortcuts():
    config = _config(warmup_epochs=0.0, flip_only=True)
    child = candidate_config(config, ANCESTOR, 5, 2**40 + 3, "parent/best.keras")
    assert child.train.epochs == 5 and child.train.warmup_epochs == 0.0
    assert child.train.batch_size == 32 and 0 <= child.train.seed < 2**31
    augment = child.data.augment
    assert augment.flip_prob == 0.5
    assert augment.scale_factor == augment.rotation_prob == augment.half_body_prob == 0.0
    assert child.model.genotype == tuple(tuple(gene) for gene in ANCESTOR)
    assert child.model.transfer_from == "parent/best.keras"
    assert child.search == type(child.search)()  # a plain train config: no search settings


def test_the_search_resolution_defaults_to_the_input_size():
    assert search_resolution(_config()) == (64, 48)
    assert search_resolution(_config(resolution=[128, 96])) == (128, 96)
    default = config_from_dict({"model": {"name": "evopose2d"}, "data": {"root": "d"}})
    assert search_resolution(default) == (256, 192)


@pytest.mark.parametrize("resolution", [None, [128, 96]])
def test_candidates_are_built_as_written_at_the_search_resolution(resolution):
    config = _config(resolution=resolution)
    child = candidate_config(config, ANCESTOR, 5, 1)
    expected = (64, 48) if resolution is None else (128, 96)
    assert child.model.input_size == child.model.search_resolution == expected  # phi = 0


def test_a_candidate_keeps_the_configured_augmentation_unless_flip_only():
    child = candidate_config(_config(flip_only=False), ANCESTOR, 5, 1)
    assert child.data.augment.scale_factor == 0.3 and child.data.augment.rotation_prob == 0.6


def test_only_evopose2d_without_transfer_is_searchable():
    config = config_from_dict({"model": {"name": "hrnet_w32"}, "data": {"root": "d"}})
    with pytest.raises(SearchCommandError, match=r"model\.name"):
        check_searchable(config)
    config = config_from_dict(
        {"model": {"name": "evopose2d", "transfer_from": "w.keras"}, "data": {"root": "d"}}
    )
    with pytest.raises(SearchCommandError, match="transfer_from"):
        check_searchable(config)
    with pytest.raises(SearchCommandError, match=r"data\.root"):
        check_searchable(config_from_dict({"model": {"name": "evopose2d"}}))
    config = config_from_dict(
        {"model": {"name": "evopose2d", "search_resolution": [64, 48]}, "data": {"root": "d"}}
    )
    with pytest.raises(SearchCommandError, match=r"search\.resolution"):
        check_searchable(config)


def test_ancestor_weights_must_name_a_readable_weights_file(tmp_path):
    def searchable(path):
        check_searchable(_config(ancestor_weights=str(path)))

    with pytest.raises(ConfigFileError, match=r"search\.ancestor_weights: no such file"):
        searchable(tmp_path / "missing.h5")
    (tmp_path / "b0.weights.h5").write_bytes(b"x")
    with pytest.raises(ConfigFileError, match="Keras 3 weights file"):
        searchable(tmp_path / "b0.weights.h5")
    (tmp_path / "b0.npz").write_bytes(b"x")
    with pytest.raises(ConfigFileError, match=r"must be a \.h5, \.hdf5, \.keras file"):
        searchable(tmp_path / "b0.npz")
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(ConfigFileError, match="cannot read"):
        searchable(tmp_path / "broken.h5")


def test_a_rerun_may_change_only_how_far_the_search_goes(tmp_path):
    files = SearchFiles(tmp_path / "search")
    record_config(files, _config(generations=3))
    record_config(files, _config(generations=5, patience=2, workers=2))  # resumes, goes further
    assert load_config(files.config).search.generations == 5
    with pytest.raises(ConfigFileError, match=r"differs in search\.children"):
        record_config(files, _config(generations=5, children=9))
    assert load_config(files.config).search.children == 64  # the stored config is kept


def test_a_folder_of_something_else_is_not_taken_over(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SearchCommandError, match="not a search folder"):
        record_config(SearchFiles(tmp_path), _config())


def test_the_stored_config_is_the_effective_config(tmp_path):
    files = SearchFiles(tmp_path)
    config = _config(children=3)
    record_config(files, config)
    assert yaml.safe_load(files.config.read_text()) == yaml.safe_load(dump_config(config))


def test_search_runs_serially_unless_told_otherwise():
    assert isinstance(make_executor(_config().search), evosearch.SerialExecutor)
    assert isinstance(make_executor(_config(workers=1).search), evosearch.SerialExecutor)


def test_the_evaluation_travels_to_worker_processes():
    evaluation = TrainCandidate(_config())
    assert pickle.loads(pickle.dumps(evaluation)) == evaluation


def test_cpu_workers_share_the_cores():
    executor = make_executor(_config(workers=2).search)
    assert isinstance(executor, evosearch.ProcessExecutor)
    assert executor.devices == ("cpu:0", "cpu:1")
    assert executor.worker_setup.cpu_threads >= 1


def test_one_worker_per_accelerator_or_ray():
    gpus = make_executor(_config().search, gpus=["0", "3"])
    assert gpus.devices == ("GPU:0", "GPU:3")
    tpus = make_executor(_config().search, tpus=["tpu-a", "tpu-b"])
    assert tpus.devices == ("TPU:tpu-a", "TPU:tpu-b")
    ray = make_executor(_config().search, ray_address="auto", ray_gpus=1)
    assert isinstance(ray, evosearch.RayExecutor) and ray.request() == {"CPU": 1.0, "GPU": 1.0}


def test_a_local_ray_cluster_is_set_to_listen_on_loopback_before_ray_loads(monkeypatch):
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    make_executor(_config().search, ray_address="auto")  # joins a cluster: nothing to set
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    local = make_executor(_config().search, ray_address="local")
    assert local.address == "local"
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"


def test_executor_choices_are_checked():
    with pytest.raises(SearchCommandError, match="GPU ids"):
        make_executor(_config().search, gpus=["GPU0"])
    with pytest.raises(SearchCommandError, match="cannot be combined"):
        make_executor(_config().search, gpus=["0"], ray_address="auto")


def test_worker_setup_shows_a_worker_only_its_own_gpu(monkeypatch):
    for variable in ("CUDA_VISIBLE_DEVICES", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("logging.basicConfig", lambda **kwargs: None)
    WorkerEnvironment()("GPU:3")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    WorkerEnvironment(cpu_threads=1)("cpu:0")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "1"


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["search", "c.yaml"], "_run_search"),
        (["search", "run", "c.yaml", "--work-dir", "w"], "_run_search"),
        (["search", "report", "w", "--json"], "_run_report"),
        (["search", "export", "w", "--transfer"], "_run_export"),
        (["demo", "--work-dir", "d"], "_run_demo"),
    ],
)
def test_command_line_routes_search_and_demo(argv, handler):
    args = build_parser().parse_args(argv)
    assert args.handler.__name__ == handler


def test_search_config_argument_is_run_by_default():
    args = build_parser().parse_args(["search", "my.yaml", "--gpus", "0,1", "--set", "a.b=1"])
    assert args.config == Path("my.yaml") and args.gpus == ["0", "1"]
    assert args.overrides == ["a.b=1"]
    assert math.isclose(args.ray_gpus, 0.0)
