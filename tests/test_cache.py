"""Numba's cache: where no folder can hold it, and where its files are damaged, the library
still imports and works. NUMBA_CACHE_DIR is respected.

The scripts run the course's forward_propagation: a small kernel (kernels/whole.py) that
compiles in about a second, where a training loop takes tens of seconds, and every
kernel is cached by the same means."""

import os
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
    from fastshallow import course
    X, Y = fs.datasets.load_planar_dataset()
    A2, _ = course.forward_propagation(X, fs.init_params(2, 4, 1, seed=0))
    print(len(messages), A2.shape[1], fs.kernels.whole.forward._cache.__class__.__name__)
    """
)


def test_no_writable_cache_folder_compiles_without_caching_and_warns_once():
    # Tests run as root, for whom chmod does not make a folder read-only, so the
    # subprocess removes Numba's cache locators: the condition Numba reports as "no locator
    # available".
    run = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    warnings_seen, examples, cache_kind = run.stdout.split()
    assert (warnings_seen, examples, cache_kind) == ("1", "400", "NullCache")


_TRAIN = textwrap.dedent(
    """
    import fastshallow as fs
    from fastshallow import course
    X, Y = fs.datasets.load_planar_dataset()
    A2, _ = course.forward_propagation(X, fs.init_params(2, 4, 1, seed=0))
    print(repr(A2.sum()))
    """
)


def _train_with_cache(cache_dir):
    run = subprocess.run([sys.executable, "-c", _TRAIN], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir)))
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


def test_damaged_cache_files_are_recompiled_and_replaced(tmp_path):
    expected = _train_with_cache(tmp_path)  # fills NUMBA_CACHE_DIR
    files = [p for p in tmp_path.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert files, "NUMBA_CACHE_DIR was not used"
    for path in files:  # as a full disk or a killed process would leave them
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert _train_with_cache(tmp_path) == expected
    # The damaged entries were rewritten: every index file reads again.
    import pickle

    for path in tmp_path.rglob("*.nbi"):
        with open(path, "rb") as f:
            pickle.load(f)  # the version stamp
            pickle.loads(f.read())  # the index itself
    assert _train_with_cache(tmp_path) == expected


_HITS = textwrap.dedent(
    """
    import numba
    import fastshallow as fs
    from fastshallow import course
    from fastshallow.kernels.numba_cache import holds_current_code
    before = holds_current_code(fs.kernels.whole.forward)
    X, Y = fs.datasets.load_planar_dataset()
    A2, _ = course.forward_propagation(X, fs.init_params(2, 4, 1, seed=0))
    stats = fs.kernels.whole.forward.stats
    (sig,) = fs.kernels.whole.forward.signatures
    other = tuple(t.copy(dtype=numba.float32) if isinstance(t, numba.types.Array) else t for t in sig)
    print(fs.__file__, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), repr(A2.sum()), before,
          holds_current_code(fs.kernels.whole.forward), holds_current_code(fs.kernels.whole.forward, sig),
          holds_current_code(fs.kernels.whole.forward, other))
    """
)


def test_a_change_to_any_kernel_source_makes_every_cached_kernel_compile_again(tmp_path):
    """A cached kernel holds the code of every function it calls, so an edit to a callee's
    file (here products.py, which whole.forward calls; whole.py is untouched) must not
    leave the caller's old code in use: Numba alone checks only the kernel's own file."""
    import shutil

    import fastshallow

    # fastshallow.kernels lives in kernels/ in a checkout, inside the package once installed.
    package = tmp_path / "copy" / "fastshallow"
    shutil.copytree(os.path.dirname(fastshallow.__file__), package,
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    shutil.copytree(os.path.dirname(fastshallow.kernels.__file__), package / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path / "copy"), os.environ.get("PYTHONPATH", "")]))

    def run():
        out = subprocess.run([sys.executable, "-c", _HITS], capture_output=True, text=True, timeout=600, env=env,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        where, hits, misses, total, before, after, this_signature, float32 = out.stdout.split()
        assert where == str(package / "__init__.py")  # the copy, not the checkout
        assert after == "True"  # what the CLI's compile notice asks (holds_current_code)
        # What the engine asks of a parallel kernel (engine._parallel_pays): that signature.
        assert (this_signature, float32) == ("True", "False")
        return int(hits), int(misses), total, before

    hits, misses, total, before = run()
    assert hits == 0 and misses == 1 and before == "False"  # compiled, and saved
    assert run() == (1, 0, total, "True")  # loaded
    with open(package / "kernels" / "products.py", "a") as f:
        f.write("\n# a change to a function that whole.forward calls would go here\n")
    # Compiled again, not loaded with the old products' code; its index files were there.
    assert run() == (0, 1, total, "False")


def test_an_index_that_cannot_be_read_counts_as_no_cached_code():
    # holds_current_code (the CLI's notice, the parallel kernels' deferred compile) reads a
    # kernel's cache index: a damaged index, a dispatcher without Numba's cache, or one
    # whose internals are not as expected all answer False (compile), never an error.
    import pickle
    from types import SimpleNamespace

    from fastshallow.kernels.numba_cache import holds_current_code

    def damaged():
        raise pickle.UnpicklingError("truncated")

    def kernel(load_index):
        return SimpleNamespace(_cache=SimpleNamespace(_cache_file=SimpleNamespace(_load_index=load_index)))

    assert holds_current_code(kernel(damaged)) is False
    assert holds_current_code(SimpleNamespace()) is False  # no cache (caching off)
    assert holds_current_code(SimpleNamespace(_cache=SimpleNamespace())) is False  # another Numba's layout
    assert holds_current_code(kernel(lambda: {"sig": "f"})) is True  # an index listing code
