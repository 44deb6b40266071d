"""The exceptions evosearch raises; every message names the thing at fault and the fix."""


class EvoSearchError(Exception):
    """Base class of every error evosearch raises on purpose."""


class ConfigError(EvoSearchError, ValueError):
    """A search setting is out of range (e.g. ``parents=0``) or inconsistent."""


class GenotypeError(EvoSearchError, ValueError):
    """A genotype is not plain JSON data (nested lists of ints, strings, finite floats)."""


class FitnessError(EvoSearchError, ValueError):
    """A candidate's metrics cannot give a fitness (missing metric, cost <= 0)."""


class LedgerError(EvoSearchError):
    """The ledger file is missing, not an evosearch ledger, or asked for something it lacks."""


class LedgerMismatchError(LedgerError):
    """The ledger was written by a search with other settings, so it cannot be resumed as-is."""


class SearchSpaceExhaustedError(EvoSearchError):
    """The search space gave no unseen genotype for a child after many draws."""


class SearchError(EvoSearchError):
    """The search cannot go on (e.g. the ancestor failed, so no generation has parents)."""


class ExecutorError(EvoSearchError):
    """An executor cannot start or cannot send work (worker setup failed, Ray missing)."""


class TransientEvaluationError(EvoSearchError):
    """Raised by an evaluation to ask for a retry (a preempted TPU, a lost file system)."""


class WorkerDiedError(TransientEvaluationError):
    """The process running an evaluation died before it answered; retried like a transient error."""
