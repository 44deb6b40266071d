"""Shared fixtures: models built once per session, and the global precision policy."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator

import keras
import pytest

import posenets


@pytest.fixture(scope="session")
def built_model() -> Callable[..., keras.Model]:
    """`built_model(name, **create_model_arguments)`: built once per session, then shared.

    Tests must not change a shared model's weights unless they own its arguments.
    """
    cache: dict[tuple, keras.Model] = {}

    def build(name: str, **arguments: Hashable) -> keras.Model:
        key = (name, *sorted(arguments.items()))
        if key not in cache:
            cache[key] = posenets.create_model(name, **arguments)
        return cache[key]

    return build


@pytest.fixture
def dtype_policy() -> Callable[[str], contextlib.AbstractContextManager[None]]:
    """`with dtype_policy("mixed_bfloat16"): ...` sets Keras's global policy for the block."""

    @contextlib.contextmanager
    def use(name: str) -> Iterator[None]:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(name)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous)

    return use
