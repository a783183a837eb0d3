"""Where no folder can hold Numba's cache, the library still imports and works: it compiles
without caching and warns once. (Tests run as root, for whom chmod does not make a folder
read-only, so the subprocess removes Numba's cache locators, the condition Numba reports
as "no locator available".)"""

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import warnings
    from numba.core import caching
    caching.CacheImpl._locator_classes = []  # no writable cache location anywhere
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fastshallow as fs
    messages = [str(w.message) for w in caught if "Numba's cache" in str(w.message)]
    X, Y = fs.datasets.load_planar_dataset()
    p = fs.init_params(2, 4, 1, seed=0)
    costs = fs.train(p, X, Y, num_iterations=3)
    print(len(messages), costs.shape[0], fs.kernels.train.train_serial._cache.__class__.__name__)
    """
)


def test_no_writable_cache_folder_compiles_without_caching_and_warns_once():
    run = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    warnings_seen, iterations, cache_kind = run.stdout.split()
    assert (warnings_seen, iterations, cache_kind) == ("1", "3", "NullCache")
