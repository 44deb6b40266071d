"""evosearch: a crash-safe (mu + lambda) evolution engine with an SQLite ledger and
serial, process-pool and Ray executors. It knows nothing of the networks it evolves."""

from evosearch.contract import EvalRequest, EvalResult, EvalTask, Evaluation, Outcome
from evosearch.engine import Search, SearchResult, candidate_streams, select_survivors
from evosearch.errors import (
    ConfigError,
    EvoSearchError,
    ExecutorError,
    FitnessError,
    GenotypeError,
    LedgerError,
    LedgerMismatchError,
    SearchError,
    SearchSpaceExhaustedError,
    TransientEvaluationError,
    WorkerDiedError,
)
from evosearch.events import (
    Callback,
    CandidateFinished,
    CandidateRetrying,
    CandidateStarted,
    Event,
    GenerationFinished,
    GenerationStarted,
    ProgressPrinter,
    SearchStopped,
    StopReason,
)
from evosearch.executors import (
    Executor,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    VisibleDevices,
)
from evosearch.fitness import Fitness, TradeoffFitness
from evosearch.genotype import GenotypeSet, JsonGenotype, genotype_key, normalize_genotype
from evosearch.ledger import Candidate, GenerationRecord, Ledger
from evosearch.reports import (
    GenerationSummary,
    export_csv,
    export_json,
    format_leaderboard,
    history,
    leaderboard,
    lineage,
    pareto_front,
)
from evosearch.search_config import SearchConfig
from evosearch.space_protocol import SearchSpaceProtocol

__version__ = "0.2.0"

__all__ = [
    "Callback",
    "Candidate",
    "CandidateFinished",
    "CandidateRetrying",
    "CandidateStarted",
    "ConfigError",
    "EvalRequest",
    "EvalResult",
    "EvalTask",
    "Evaluation",
    "Event",
    "EvoSearchError",
    "Executor",
    "ExecutorError",
    "Fitness",
    "FitnessError",
    "GenerationFinished",
    "GenerationRecord",
    "GenerationStarted",
    "GenerationSummary",
    "GenotypeError",
    "GenotypeSet",
    "JsonGenotype",
    "Ledger",
    "LedgerError",
    "LedgerMismatchError",
    "Outcome",
    "ProcessExecutor",
    "ProgressPrinter",
    "RayExecutor",
    "Search",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "SearchSpaceExhaustedError",
    "SearchSpaceProtocol",
    "SearchStopped",
    "SerialExecutor",
    "StopReason",
    "TradeoffFitness",
    "TransientEvaluationError",
    "VisibleDevices",
    "WorkerDiedError",
    "__version__",
    "candidate_streams",
    "export_csv",
    "export_json",
    "format_leaderboard",
    "genotype_key",
    "history",
    "leaderboard",
    "lineage",
    "normalize_genotype",
    "pareto_front",
    "select_survivors",
]
