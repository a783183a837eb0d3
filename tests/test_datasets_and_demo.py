"""The built-in flower data and `fastshallow demo` reproduce the course's known results."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastshallow as fs
from fastshallow.__main__ import main


def test_planar_dataset_shapes_and_classes():
    X, Y = fs.datasets.load_planar_dataset()
    assert X.shape == (2, 400) and X.dtype == np.float64
    assert Y.shape == (1, 400) and Y.dtype == np.uint8
    np.testing.assert_array_equal(Y[0], np.repeat([0, 1], 200))
    # Petals of length about 4 (a·|sin 4t| plus noise).
    radius = np.hypot(*X)
    assert 3.5 < radius.max() < 5.0


def test_planar_dataset_leaves_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    fs.datasets.load_planar_dataset()
    assert np.random.rand() == expected


def test_course_run_reaches_the_published_costs_and_accuracy():
    # The course's published run (n_h = 4, tanh, rate 1.2, 10,000 iterations, parameters
    # from the legacy generator seeded with 2): cost 0.693048 at iteration 0, 0.288083 at
    # 1000, 0.218... at 9000, and about 90% training accuracy.
    X, Y = fs.datasets.load_planar_dataset()
    params = fs.init_params(2, 4, 1, seed=np.random.RandomState(2))
    costs = fs.train(params, X, Y, learning_rate=1.2, num_iterations=10000)
    assert round(costs[0], 6) == 0.693048
    assert round(costs[1000], 6) == 0.288083
    assert abs(costs[9000] - 0.2186) < 5e-4
    accuracy = np.mean(fs.predict(params, X) == Y)
    assert 0.89 <= accuracy <= 0.92


def test_demo_command_prints_costs_accuracy_and_timing():
    run = subprocess.run(
        [sys.executable, "-m", "fastshallow", "demo"], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.count("Cost after iteration") == 10
    assert "Cost after iteration 0: 0.693048" in out
    assert "Training accuracy: 90" in out
    assert "NumPy reference" in out and "faster" in out


def test_demo_writes_the_plot_and_the_hidden_size_table(tmp_path):
    png = tmp_path / "demo.png"
    run = subprocess.run(
        [sys.executable, "-m", "fastshallow", "demo", "--iterations", "2000", "--plot", str(png), "--hidden-sizes", "1,4"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    lines = [line for line in run.stdout.splitlines() if line.startswith("Accuracy for")]
    assert [line.split(":")[0] for line in lines] == ["Accuracy for 1 hidden units", "Accuracy for 4 hidden units"]
    # The assignment's table: one hidden unit cannot separate the petals (about 67%), four can (about 90%).
    acc = [float(line.split(":")[1].rstrip(" %")) for line in lines]
    assert 60 < acc[0] < 75 and 88 < acc[1] < 93


def test_demo_rejects_bad_hidden_sizes():
    run = subprocess.run([sys.executable, "-m", "fastshallow", "demo", "--hidden-sizes", "4,x"], capture_output=True, text=True)
    assert run.returncode == 2 and "expected comma-separated integers" in run.stderr


def test_demo_refuses_sizes_beyond_numpy_as_usage_errors(capsys):
    for option in ("--hidden-sizes", "--hidden"):
        with pytest.raises(SystemExit) as exit_:
            main(["demo", option, str(10**23)])
        assert exit_.value.code == 2
        assert f"argument {option}: must be at most 9223372036854775807" in capsys.readouterr().err
