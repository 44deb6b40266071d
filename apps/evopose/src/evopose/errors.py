"""The exceptions the evopose command turns into one line on stderr and exit code 2."""


class EvoposeError(Exception):
    """A user error (bad input, missing file, impossible setting); its message says what, where."""


class ConfigFileError(EvoposeError):
    """A config file or a `--set` override is invalid (unknown key, wrong type, missing value)."""


class InputFileError(EvoposeError):
    """A dataset, image, video or annotation file is missing, unreadable or inconsistent."""


class TrainingError(EvoposeError):
    """Training cannot start or resume (batch size vs replicas, run folder holds another run)."""


class ExportError(EvoposeError):
    """An export format is unavailable here, or the reloaded export disagrees with the model."""


class SearchCommandError(EvoposeError):
    """A search cannot start, resume or be reported (not a search folder, no finished network)."""


def first_line(error: BaseException) -> str:
    """The first non-blank line of `error`'s message, or its class name when it has none (for
    one-line messages that quote a library's multi-line error)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
