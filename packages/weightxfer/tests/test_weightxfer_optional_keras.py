"""Keras is optional: the core never imports it, and the adapter says how to get it."""

import importlib
import importlib.util
import subprocess
import sys

import pytest


def test_the_core_does_not_import_keras():
    code = "import sys, weightxfer; sys.exit('keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_adapter_without_keras_says_how_to_install_it():
    if importlib.util.find_spec("keras") is not None:
        pytest.skip("keras is installed in this environment")
    with pytest.raises(ImportError, match=r"pip install 'weightxfer\[keras\]'"):
        importlib.import_module("weightxfer.keras")
