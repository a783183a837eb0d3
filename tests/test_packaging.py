"""Packaging: the version, the kernels shipped as fastshallow.kernels, cached compilation."""

import inspect
import re

from numba.core.registry import CPUDispatcher

import fastshallow as fs
from fastshallow import kernels


def test_version_is_a_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", fs.__version__)


def test_kernels_are_importable_as_fastshallow_kernels():
    assert kernels.__name__ == "fastshallow.kernels"
    assert kernels.step.__name__ == "fastshallow.kernels.step"


def test_every_module_level_kernel_is_cached():
    # Compiled code is reused by the next process only for module-level dispatchers with
    # cache=True; a kernel without it recompiles in every process.
    found = 0
    for module in (kernels.products, kernels.activations, kernels.loss, kernels.step, kernels.train):
        for name, obj in inspect.getmembers(module, lambda o: isinstance(o, CPUDispatcher)):
            if obj.__module__ != module.__name__:
                continue
            found += 1
            assert obj._cache.__class__.__name__ != "NullCache", f"{module.__name__}.{name} is not cached"
    assert found >= 20
