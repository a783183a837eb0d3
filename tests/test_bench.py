"""Smoke checks of the benchmark code: the shared grid, `fastshallow bench`, and the asv
suite's classes (run for the tiny point only). No timing is judged here."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastshallow import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mini_batch_point_counts_a_step_of_its_batch():
    p = bench.POINTS["mnist_batches"]
    assert p.shape == (784, 128, 10, 10000) and p.batch == 200 and p.iterations * p.batch <= p.m
    assert p.flops_per_step == 4 * 128 * 784 * 200 + 6 * 10 * 128 * 200
    order = bench.batch_order(p)
    assert order.dtype == np.int64 and len(np.unique(order)) == len(order) == p.iterations * p.batch
    _, X, _ = bench.make_problem(p, "float32")
    assert X.shape == (784, 10000) and X.flags.f_contiguous


def test_grid_is_the_issue_table_with_its_flop_count():
    assert [(p.name, p.shape) for p in bench.GRID] == [
        ("tiny", (2, 4, 1, 400)),
        ("small", (20, 64, 1, 10000)),
        ("mnist", (784, 128, 10, 10000)),
        ("wide", (784, 1024, 10, 10000)),
    ]
    assert bench.POINTS["tiny"].iterations == 10_000
    p = bench.POINTS["mnist"]
    assert p.flops_per_step == 4 * 128 * 784 * 10000 + 6 * 10 * 128 * 10000


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_make_problem_shapes_and_dtypes(dtype):
    params, X, Y = bench.make_problem(bench.POINTS["small"], dtype)
    assert X.shape == (20, 10000) and X.dtype == dtype and X.flags.c_contiguous
    assert Y.shape == (1, 10000) and set(np.unique(Y)) <= {0, 1}
    assert params["W1"].shape == (64, 20) and params["W1"].dtype == dtype


def test_bench_command_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "fastshallow", "bench", "--sizes", "tiny", "--dtype", "float64", "--repeat", "2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr
    assert "CPU:" in run.stdout and "threading layer" in run.stdout and "BLAS" in run.stdout
    assert "tiny (n_x, n_h, n_y, m) = (2, 4, 1, 400) float64" in run.stdout
    assert "FMA peak" in run.stdout and "of peak" in run.stdout and "FMA peak again after the grid" in run.stdout
    data = json.loads(out.read_text())
    peak = data["peak_gflops"]["float64"]
    assert peak > 0 and data["peak_gflops_after"]["float64"] > 0
    rows = {r["implementation"]: r for r in data["results"]}
    assert {"fastshallow", "numpy"} <= set(rows)
    for r in rows.values():
        assert len(r["seconds_per_step"]) == 2 and r["min"] <= r["median"] <= r["max"]
        assert r["gflops"] > 0
        # Over the best probe reading so far: the first, or the one taken before the point.
        assert r["peak_gflops"] >= peak and r["fraction_of_peak"] == pytest.approx(r["gflops"] / r["peak_gflops"])
    assert "The cost of one call, tiny (2, 4, 1, 400)" in run.stdout
    per_call = data["per_call_us"]
    assert set(per_call) == {"step", "gradients", "forward", "predict", "course iteration"}
    assert all(ours > 0 and theirs > 0 for ours, theirs in per_call.values())
    assert rows["numpy"]["speedup_vs_numpy"] == 1.0
    assert rows["fastshallow"]["speedup_vs_numpy"] == pytest.approx(rows["numpy"]["median"] / rows["fastshallow"]["median"])


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_fma_probe_counts_its_flops_and_computes_the_chains(dtype):
    # The value: every lane of every accumulator runs acc -> s·acc + t from acc = t, so the
    # probe's sum is known in closed form; a wrong count of chains or rounds changes it.
    from fastshallow.kernels import probe
    from fastshallow.kernels.config import VECTOR_BITS

    dt = np.dtype(dtype).type
    out = np.empty(2, dt)
    rounds, s, t = 3, dt(0.5), dt(0.25)
    probe.fma_peak(out, rounds, s, t)
    acc = 0.25
    for _ in range(rounds):
        acc = 0.5 * acc + 0.25
    lanes = probe.lanes(dtype)
    assert lanes * np.dtype(dtype).itemsize * 8 == VECTOR_BITS
    np.testing.assert_array_equal(out, dt(probe.ACCUMULATORS * lanes * acc))
    assert bench.fma_peak_gflops(dtype, 1) > 0


def test_bench_command_rejects_unknown_sizes():
    run = subprocess.run([sys.executable, "-m", "fastshallow", "bench", "--sizes", "huge"], capture_output=True, text=True)
    assert run.returncode == 2 and "unknown value(s) huge; choose from tiny" in run.stderr


def test_asv_suite_runs_on_the_tiny_point():
    sys.path.insert(0, ROOT)
    try:
        from benchmarks import benchmarks as suite
    finally:
        sys.path.remove(ROOT)
    ran = 0
    for cls in (suite.Step, suite.Train, suite.Gradients, suite.Memory, suite.Throughput, suite.Kernels):
        assert cls.params[0] == [p.name for p in bench.GRID]  # the shared grid, not a copy
        for dtype in bench.DTYPES:
            b = cls()
            b.setup("tiny", dtype)
            for name in dir(b):
                if name.startswith(("time_", "peakmem_", "track_")):
                    result = getattr(b, name)("tiny", dtype)
                    if name.startswith("track_"):
                        assert result > 0
                    ran += 1
    assert ran > 40
    # The mini-batch epoch reads the shared table too. It is not run here: it would compile
    # the mini-batch kernels for both dtypes in this worker, the suite's slowest part, and
    # CI's quick asv run executes every benchmark anyway.
    assert suite.MiniBatchEpoch.params[0] == [p.name for p in bench.BATCH_POINTS]
    cold = suite.ColdStart()
    code, setup = cold.timeraw_import_and_first_call_warm_cache("/nonexistent")
    compile(code, "stmt", "exec") and compile(setup, "setup", "exec")
