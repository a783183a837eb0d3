"""Numba's on-disk cache, made to survive damaged files and to notice every kernel's source.

This is the one place that touches Numba's private attributes (a dispatcher's _cache, its
load_overload / save_overload, and its index file's _source_stamp). If a Numba release
renames them, the kernels still work: the functions here then leave the dispatcher as it
is. (The other private part used, Numba's type fingerprint, is config.Entry.signature's,
optional in the same way.)
"""

import hashlib
import os


def _sources_digest(folder):
    """SHA-256 of the names and bytes of the .py files in folder (not its subfolders)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


# Read once, at import: this process compiles the sources it imported, whatever happens to
# the files afterwards.
KERNELS_DIGEST = _sources_digest(os.path.dirname(os.path.abspath(__file__)))


def stamp_with_kernel_sources(dispatcher):
    """Keep this kernel's cache entries only while no kernel's source has changed.

    Numba keys a cached kernel on its own code and stamps the cache index with its own
    file's time and size. A kernel's compiled code also holds every function it calls
    (linked in), so after an edit to a callee's file (or a `git pull` or upgrade that
    changes only that file) the caller still loaded its old code from the cache. The stamp
    is now the digest of all the kernels' sources: any change to any of them makes every
    index stale, and each kernel compiles afresh on its next call. It also no longer
    depends on file times, so a copy of the same sources keeps its cache.
    """
    cache_file = _cache_file(dispatcher)
    if cache_file is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = KERNELS_DIGEST
    return dispatcher


def holds_current_code(dispatcher, sig=None):
    """True if this kernel's cache index lists code compiled from the kernels' sources as
    they are now: for the signature sig (a tuple of Numba types, as compiled), or for any
    signature if sig is None. Index files alone say nothing, as a change to the sources
    leaves them in place until each kernel compiles again. False where it cannot tell (no
    cache, a damaged index, or Numba's internals not as expected)."""
    cache_file = _cache_file(dispatcher)
    try:
        index = cache_file._load_index()  # {} when missing, stale or another Numba's
        if sig is None:
            return bool(index)
        # Numba's own key for the entry: the signature, this CPU and the function's code.
        return dispatcher._cache._index_key(sig, dispatcher.targetctx.codegen()) in index
    except Exception:
        return False


def _cache_file(dispatcher):
    """The dispatcher's cache index and data files (Numba's IndexDataCacheFile), or None."""
    return getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)


def tolerate_damaged_cache(dispatcher):
    """Recompile, rather than fail, when this kernel's cache files are damaged.

    Numba unpickles its cache index and data as they are, so a file truncated by a full
    disk or a killed process makes every later process fail with an UnpicklingError on its
    first call. A damaged entry is treated as a miss: the index is reset (flush) and the
    kernel compiles again, overwriting it.
    """
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "flush"):
        return dispatcher
    load, save = cache.load_overload, cache.save_overload

    def load_overload(*args, **kwargs):
        try:
            return load(*args, **kwargs)
        except Exception:  # any unreadable file: the same remedy
            cache.flush()
            return None

    def save_overload(*args, **kwargs):
        try:
            return save(*args, **kwargs)
        except Exception:
            cache.flush()
            return save(*args, **kwargs)

    cache.load_overload, cache.save_overload = load_overload, save_overload
    return dispatcher

