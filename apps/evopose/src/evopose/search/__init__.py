"""`evopose search`: the (mu + lambda) neuroevolution of EvoPose2D with weight transfer
(SPEC section 4), built from evosearch (engine, ledger, executors), posenets (search space,
networks), weightxfer (inheritance) and the app's training.

    run.py              run_search: the search of a config in a work folder (resumable)
    candidate.py        TrainCandidate: build, transfer into, train and measure one candidate
    evopose_space.py    EvoPoseSpace: posenets' search space as evosearch sees it
    executors.py        make_executor: in-process, one worker per GPU / TPU / CPU share, or Ray
    search_report.py    build_report / write_report: leaderboard, Fig. 4, Fig. 5, lineage
    search_export.py    export_best: the best genotype as a train config
    workdir.py          SearchFiles: what a search folder holds
    command.py          the `evopose search` command line

Importing this package does not import TensorFlow; running a search does.
"""

from evopose.search.run import fitness_of, run_search
from evopose.search.search_export import ExportedConfig, export_best
from evopose.search.search_report import SearchReport, build_report, write_report
from evopose.search.workdir import SearchFiles

__all__ = [
    "ExportedConfig",
    "SearchFiles",
    "SearchReport",
    "build_report",
    "export_best",
    "fitness_of",
    "run_search",
    "write_report",
]
