"""The `evopose search` command line: `search [run] CONFIG`, `search report DIR` and
`search export DIR`. Parsing imports nothing heavy; the handlers import what they need."""

import argparse
import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from evopose.cliutil import USER_ERROR_EXIT, add_command, add_config_arguments, examples, given
from evopose.errors import EvoposeError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Registers `evopose search` and its subcommands."""
    search = add_command(
        commands,
        "search",
        "neuroevolution of EvoPose2D with weight transfer: run (or resume), report, export",
        examples(
            "evopose search apps/evopose/configs/search-cpu.yaml --work-dir runs/search-cpu",
            "evopose search apps/evopose/configs/search-e3.yaml --tpus tpu-1,tpu-2,tpu-3",
            "evopose search report runs/search-cpu",
            "evopose search export runs/search-cpu --out best.yaml",
        ),
    )
    search.set_defaults(handler=lambda args: search.print_help() or USER_ERROR_EXIT)
    sub = search.add_subparsers(
        title="search commands (run is the default)",
        metavar="COMMAND",
        action=_SubcommandsOrRun,
    )
    _add_run(sub)
    _add_report(sub)
    _add_export(sub)


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = add_command(
        sub,
        "run",
        "run the search of CONFIG in a work folder; rerun the same command to resume",
        examples(
            "evopose search apps/evopose/configs/search-cpu.yaml --set search.generations=3",
            "evopose search CONFIG --gpus 0,1,2,3 --work-dir runs/my-search",
            "evopose search CONFIG --ray-address auto --ray-gpus 1",
        ),
    )
    add_config_arguments(run)
    run.add_argument("--work-dir", type=Path, help="search folder (default: runs/<config name>)")
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--gpus", type=_names, metavar="IDS", help="one worker per GPU id, e.g. 0,1,2,3"
    )
    where.add_argument(
        "--tpus", type=_names, metavar="NAMES", help="one worker per Cloud TPU, e.g. tpu-1,tpu-2"
    )
    where.add_argument(
        "--ray-address", metavar="ADDRESS", help="train children as Ray tasks ('auto', ray://…)"
    )
    run.add_argument(
        "--ray-gpus", type=float, default=0.0, metavar="N", help="GPUs per child on Ray"
    )
    run.set_defaults(handler=_run_search)


def _add_report(sub: argparse._SubParsersAction) -> None:
    report = add_command(
        sub,
        "report",
        "leaderboard, generations, lineage of the best and pictures (works while it runs)",
        examples("evopose search report runs/search-cpu", "evopose search report DIR --json"),
    )
    report.add_argument("work_dir", type=Path, metavar="DIR", help="the search folder")
    report.add_argument("--json", action="store_true", help="print JSON for machines")
    report.add_argument("--top", type=int, default=10, help="leaderboard length")
    report.set_defaults(handler=_run_report)


def _add_export(sub: argparse._SubParsersAction) -> None:
    export = add_command(
        sub,
        "export",
        "write the best network's genotype as a train config",
        examples(
            "evopose search export runs/search-cpu && evopose train runs/search-cpu/best.yaml",
            "evopose search export DIR --candidate 17 --transfer --out cand17.yaml",
            "evopose search export DIR --input-size 384 288  # scaled by Eq. 3",
        ),
    )
    export.add_argument("work_dir", type=Path, metavar="DIR", help="the search folder")
    export.add_argument("--out", type=Path, help="config file (default: DIR/best.yaml)")
    export.add_argument("--candidate", type=int, metavar="ID", help="export this candidate")
    export.add_argument(
        "--transfer",
        action="store_true",
        help="start from the candidate's trained weights (model.transfer_from)",
    )
    export.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="train the network at this input size, compound scaled from the search resolution "
        "(default: the config's model.input_size)",
    )
    export.set_defaults(handler=_run_export)


# --- handlers -------------------------------------------------------------------------------


def _run_search(args: argparse.Namespace) -> int:
    from evopose.config import load_config
    from evopose.search.candidate import CandidateMetrics
    from evopose.search.executors import make_executor
    from evopose.search.run import run_search

    with given("--set", quoting=args.overrides):
        config = load_config(args.config, args.overrides)
    work_dir = args.work_dir or Path("runs") / Path(args.config).stem
    workers = (("--gpus", args.gpus), ("--tpus", args.tpus), ("--ray-address", args.ray_address))
    chosen = [flag for flag, value in workers if value]
    if len(chosen) > 1:
        raise EvoposeError(f"{' and '.join(chosen)} cannot be combined; choose one")
    import posedata

    posedata.check_graph_geometry()  # stop now if TensorFlow would miscompute crops here
    with given(chosen[0]) if chosen else contextlib.nullcontext():
        executor = make_executor(
            config.search,
            gpus=args.gpus or (),
            tpus=args.tpus or (),
            ray_address=args.ray_address,
            ray_gpus=args.ray_gpus,
        )
    result = run_search(config, work_dir, executor=executor)
    best = result.best
    if best is not None:
        metrics = CandidateMetrics.of(best)
        print(
            f"best after generation {result.generation}: candidate {best.id} "
            f"(generation {best.generation}), fitness {best.fitness:.6g}, "
            f"val loss {metrics.val_loss:.6g}, {metrics.params / 1e6:.3f}M params"
        )
    if result.reason == "requested":
        print(f"{work_dir}: search stopped on request; rerun the same command to resume")
        return 130
    print(f"{work_dir}: search finished ({result.reason}); report: {work_dir / 'report'}")
    print(f"next: evopose search export {work_dir}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from evopose.search.search_report import write_report

    report = write_report(args.work_dir, top=args.top)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.text())
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from evopose.search.search_export import export_best

    exported = export_best(
        args.work_dir,
        args.out,
        candidate_id=args.candidate,
        transfer=args.transfer,
        input_size=tuple(args.input_size) if args.input_size else None,
    )
    c = exported.candidate
    print(
        f"{exported.path}: candidate {c.id} (generation {c.generation}), fitness "
        f"{c.fitness:.6g}; train it with: evopose train {exported.path}"
    )
    return 0


# --- parsing helpers ------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return names


class _AnyWord(Mapping):
    """The subcommand table, accepting any word (an unknown one is `run`'s CONFIG)."""

    def __init__(self, parsers: dict[str, Any]) -> None:
        self.parsers = parsers

    def __contains__(self, word: object) -> bool:
        return True

    def __getitem__(self, name: str) -> Any:
        return self.parsers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parsers)

    def __len__(self) -> int:
        return len(self.parsers)


class _SubcommandsOrRun(argparse._SubParsersAction):
    """Subcommands where a first word that names none of them is run's CONFIG, so that
    `evopose search CONFIG` means `evopose search run CONFIG`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values and values[0] not in self._name_parser_map:
            values = ["run", *values]
        super().__call__(parser, namespace, values, option_string)
