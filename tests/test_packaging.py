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
    for module in (kernels.products, kernels.activations, kernels.loss, kernels.step, kernels.descent, kernels.whole):
        for name, obj in inspect.getmembers(module, lambda o: isinstance(o, CPUDispatcher)):
            if obj.__module__ != module.__name__:
                continue
            found += 1
            assert obj._cache.__class__.__name__ != "NullCache", f"{module.__name__}.{name} is not cached"
    assert found >= 20


def _run(code):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_core_imports_no_optional_extra():
    # scikit-learn and Dask are extras: importing fastshallow must not pull them in.
    done = _run("import sys, fastshallow; print(sorted({'sklearn', 'dask', 'distributed'} & set(sys.modules)))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_distributed_without_dask_says_which_extra():
    done = _run("import sys; sys.modules['dask'] = None\nimport fastshallow.distributed")
    assert done.returncode != 0
    assert "pip install '.[dask]'" in done.stderr
