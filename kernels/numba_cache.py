"""Numba's on-disk cache, made to survive damaged files.

This is the one place that touches Numba's private attributes (a dispatcher's _cache and
its load_overload / save_overload). If a Numba release renames them, the kernels still
work: tolerate_damaged_cache then leaves the dispatcher as it is.
"""


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

