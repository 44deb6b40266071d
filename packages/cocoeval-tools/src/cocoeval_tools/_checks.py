"""Input checks shared by the public functions (internal)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cocoeval_tools.errors import InvalidInputError


def numeric_array(name: str, value: object, *, ndim: int, shape_doc: str) -> np.ndarray:
    """Return ``value`` as a real-valued numpy array of rank ``ndim`` or raise naming ``name``."""
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested sequences
        raise InvalidInputError(f"{name} must be an array of shape {shape_doc}: {error}") from None
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise InvalidInputError(f"{name} must hold numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise InvalidInputError(
            f"{name} must have shape {shape_doc}, got shape {array.shape} ({array.ndim}-d)"
        )
    return array


def first_bad_index(mask: np.ndarray) -> tuple[int, ...]:
    """Index (as a tuple of ints) of the first True entry of ``mask``."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def require_finite(name: str, array: np.ndarray) -> None:
    """Raise naming the first entry of ``array`` that is NaN or infinite."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = first_bad_index(bad)
        raise InvalidInputError(f"{name}{list(where)} is {array[where]}; values must be finite")


def positive_number(name: str, value: object) -> float:
    """Return ``value`` as a float, raising unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or number <= 0:
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    return number


def is_integer(value: object) -> bool:
    """True for Python and numpy integers (bools excluded)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def preview(items: Sequence[object], limit: int = 10) -> str:
    """Comma-separated first ``limit`` items, with a count of the rest."""
    shown = ", ".join(str(item) for item in items[:limit])
    rest = len(items) - limit
    return f"{shown} (and {rest} more)" if rest > 0 else shown
