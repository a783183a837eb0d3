"""Every Python example in README.md runs as written, each in a fresh interpreter in an
empty folder. An example that needs an optional extra is skipped when the extra is not
installed (the test extra installs them all)."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def examples():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


# The extras an example's imports need, by the module that names them.
EXTRAS = {"sklearn": "sklearn", "dask": "dask", "distributed": "distributed", "matplotlib": "matplotlib",
          "skl2onnx": "skl2onnx", "onnxruntime": "onnxruntime"}


def test_the_readme_has_python_examples():
    assert len(examples()) >= 4


@pytest.mark.parametrize("code", examples(), ids=lambda code: code.splitlines()[0][:40])
def test_readme_example_runs_as_written(code, tmp_path):
    for module in EXTRAS:
        if re.search(rf"^\s*(from|import) {module}\b", code, flags=re.MULTILINE) and not importlib.util.find_spec(module):
            pytest.skip(f"needs {module}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_install_commands_work_from_a_checkout():
    # fastshallow is not on the package index: its extras install from the checkout.
    with open(README, encoding="utf-8") as f:
        installs = [line for line in f if "pip install" in line]
    assert installs
    for line in installs:
        assert "fastshallow[" not in line, line
