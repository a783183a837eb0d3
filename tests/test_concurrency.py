"""Safe inside other people's programs: concurrent Python threads, multiprocessing pools
(fork, forkserver, spawn) and joblib, after the parent has run parallel kernels; the
threading layer can still be chosen with NUMBA_THREADING_LAYER."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastshallow as fs
from helpers import network

_PROBLEM = textwrap.dedent(
    """
    import numpy as np, fastshallow as fs

    def problem(seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((20, 6000))
        Y = (rng.random((1, 6000)) < 0.5).astype(np.uint8)
        return fs.init_params(20, 32, 1, seed=seed, scale=0.3), X, Y

    def run(seed):
        p, X, Y = problem(seed)
        costs = fs.train(p, X, Y, learning_rate=0.1, num_iterations=5)
        return [float(costs[-1])] + [float(v.sum()) for v in p.values()]
    """
)


def _subprocess(tmp_path, body, prelude="", **env):
    # A script file, not python -c: spawn and forkserver children re-import __main__ to find
    # `run`, which they cannot do from a -c string.
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(prelude) + _PROBLEM + textwrap.dedent(body))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **env))
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_four_python_threads_at_once_match_each_call_alone():
    problems = [network(20, 32, 1, 6000, seed=s, scale=0.3) for s in range(4)]
    alone = []
    for params, X, Y in problems:
        p = {k: v.copy() for k, v in params.items()}
        costs = fs.train(p, X, Y, learning_rate=0.1, num_iterations=10)
        costs = np.append(costs, fs.step(p, X, Y, 0.1))
        alone.append((costs, p, fs.gradients(p, X, Y)[1]))
    results = [None] * 4

    def work(i):
        params, X, Y = problems[i]
        p = {k: v.copy() for k, v in params.items()}
        costs = fs.train(p, X, Y, learning_rate=0.1, num_iterations=10)
        costs = np.append(costs, fs.step(p, X, Y, 0.1))
        results[i] = (costs, p, fs.gradients(p, X, Y)[1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (c1, p1, g1), (c2, p2, g2) in zip(alone, results):
        np.testing.assert_array_equal(c1, c2)
        for k in p1:
            np.testing.assert_array_equal(p1[k], p2[k])
            np.testing.assert_array_equal(g1["d" + k], g2["d" + k])


def test_pools_after_the_parent_ran_parallel_kernels(tmp_path):
    out = _subprocess(
        tmp_path,
        """
        import multiprocessing as mp
        from joblib import Parallel, delayed
        if __name__ == "__main__":
            expected = [run(s) for s in range(2)]  # the parent runs parallel kernels first
            for method in ("fork", "forkserver", "spawn"):
                with mp.get_context(method).Pool(2) as pool:
                    assert pool.map(run, range(2)) == expected, method
            for backend in ("loky", "threading"):
                assert Parallel(n_jobs=2, backend=backend)(delayed(run)(s) for s in range(2)) == expected, backend
            import numba
            print("ok", numba.threading_layer())
        """
    )
    assert out.split() == ["ok", "tbb"]


def test_without_tbb_the_fallback_is_safe_under_threads_and_fork(tmp_path):
    out = _subprocess(
        tmp_path,
        """
        import threading, multiprocessing as mp
        if __name__ == "__main__":
            expected = [run(s) for s in range(4)]
            got = [None] * 4
            def work(i):
                got[i] = run(i)
            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            assert got == expected
            with mp.get_context("fork").Pool(2) as pool:
                assert pool.map(run, range(2)) == expected[:2]
            import numba
            print("ok", numba.threading_layer())
        """,
        prelude="""
        import sys
        sys.modules["numba.np.ufunc.tbbpool"] = None  # as if the tbb wheel were missing
        """,
    )
    assert out.split() == ["ok", "workqueue"]


@pytest.mark.parametrize("layer", ["omp", "tbb", "safe"])
def test_numba_threading_layer_is_respected(tmp_path, layer):
    # "tbb" and "safe" (tbb only) need the tbb wheel's library, which Numba cannot find by
    # itself inside a virtual environment: naming them used to fail at the first kernel.
    out = _subprocess(
        tmp_path,
        """
        run(0)
        import numba
        print(numba.threading_layer())
        """,
        NUMBA_THREADING_LAYER=layer,
    )
    assert out.strip() == ("omp" if layer == "omp" else "tbb")
