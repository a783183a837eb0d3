"""The benchmark grid and `fastshallow bench`.

GRID is the one table of full-batch problem sizes, BATCH_POINTS that of mini-batch
training. The asv suite (benchmarks/), this command and the tests that smoke-check them
all read them.

`fastshallow bench` runs fastshallow, the NumPy reference and, when it can be imported,
PyTorch (an equivalent nn.Sequential trained with SGD) in one process. Repetitions are
interleaved (one of each implementation per round), so slow drifts of a shared machine
hit all of them alike, and each timed run follows untimed ones of the same
implementation (see time_point). It reports the median time per step with the spread of the
repetitions, GFLOP/s and its fraction of the machine's FMA peak (the best reading so far of
a probe, kernels/probe.py, with the same threads, taken before the grid and before each
point), ratios, and the peak extra memory of one step measured in a fresh process for each
implementation.
"""

import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

from .files import write_atomically

LEARNING_RATE = 0.01  # small enough that repeated runs on random labels stay finite


@dataclasses.dataclass(frozen=True)
class Point:
    """One problem size: (n_x, n_h, n_y, m), and how many iterations one measurement runs."""

    name: str
    n_x: int
    n_h: int
    n_y: int
    m: int
    iterations: int
    batch: int = 0  # examples per step: 0, all m; else mini-batches, in batch_order(point)

    @property
    def shape(self):
        return (self.n_x, self.n_h, self.n_y, self.m)

    @property
    def step_examples(self):
        return self.batch or self.m

    @property
    def flops_per_step(self):
        """Multiply-adds count two: the two first-layer products (forward and dW1) are
        2·n_h·n_x·b each, for the b examples of a step; the three second-layer products
        2·n_y·n_h·b each."""
        return (4 * self.n_h * self.n_x + 6 * self.n_y * self.n_h) * self.step_examples


GRID = (
    # The course's flower problem; one measurement is the whole 10,000-iteration train.
    Point("tiny", 2, 4, 1, 400, 10_000),
    Point("small", 20, 64, 1, 10_000, 5),  # element-wise work dominates
    Point("mnist", 784, 128, 10, 10_000, 2),  # the products dominate
    Point("wide", 784, 1024, 10, 10_000, 1),  # a large hidden layer
)
# Mini-batch training, where most training runs: one measurement is one epoch of SGD in
# batches of 200 (the estimators' default batch size) over a fixed shuffled order.
BATCH_POINTS = (Point("mnist_batches", 784, 128, 10, 10_000, 50, batch=200),)
POINTS = {p.name: p for p in GRID + BATCH_POINTS}
DTYPES = ("float64", "float32")


def batch_order(point):
    """The examples' order for a mini-batch point's epoch: int64 (iterations·batch,)."""
    return np.random.default_rng(1).permutation(point.m)[: point.iterations * point.batch].astype(np.int64)


def make_problem(point, dtype, seed=0):
    """(params, X, Y) for a grid point: X standard normal (n_x, m), C-ordered, in dtype
    (for a mini-batch point F-ordered, as the estimators hold it: the transpose of a
    C-ordered (m, n_x), whose examples are contiguous to gather); Y random 0/1 labels
    (n_y, m) as uint8; params from fastshallow.init_params."""
    import fastshallow as fs

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((point.n_x, point.m)).astype(dtype)
    if point.batch:
        X = np.asfortranarray(X)
    Y = (rng.random((point.n_y, point.m)) < 0.5).astype(np.uint8)
    params = fs.init_params(point.n_x, point.n_h, point.n_y, seed=rng, scale=0.1, dtype=dtype)
    return params, X, Y


WARM_UP_M = 2048  # examples in the warm-up input: enough for the same (parallel) path


def warm_up_threads(threads=None):
    """The n_threads to pass to a warm-up call before timings: `threads`, or all of them.
    Never None: with n_threads=None a parallel kernel not yet compiled or cached compiles
    only once its calls' work pays for it (engine.PARALLEL_COMPILE_WORK), which in a
    benchmark is during the timings. Once compiled, n_threads=None calls use it."""
    from .threads import max_threads

    return threads or max_threads()


def warm_up(point, dtype, threads=None):
    """Compile (or load from the cache) every kernel a benchmark of this point and dtype
    calls with `threads` threads (warm_up_threads), on a small C-ordered input of the same
    dtype, so that compilation never lands in a timing. The input is big enough to take
    the same serial or parallel path."""
    import fastshallow as fs

    n = warm_up_threads(threads)
    small = dataclasses.replace(point, m=min(point.m, WARM_UP_M))
    params, X, Y = make_problem(small, dtype)
    fs.train(params, X, Y, learning_rate=LEARNING_RATE, num_iterations=1, n_threads=n)
    fs.gradients(params, X, Y, n_threads=n)
    fs.forward(params, X, n_threads=n)
    fs.cost(params, X, Y, n_threads=n)


# ---------------------------------------------------------------------------------------
# Implementations: each prepares once, then run() does point.iterations training steps.
# ---------------------------------------------------------------------------------------


class FastShallow:
    name = "fastshallow"

    def __init__(self, point, dtype, threads):
        import fastshallow as fs

        self.fs, self.point, self.threads = fs, point, threads
        self.params, self.X, self.Y = make_problem(point, dtype)
        if point.batch:
            self._prepare_batches()
        else:
            warm_up(point, dtype, threads)

    def _prepare_batches(self):
        """Mini-batch SGD runs through engine.descend, as the estimators' fit does: the
        public fs.train takes full batches only."""
        from . import engine

        self.engine = engine
        self.problem = engine.prepare(self.params, self.X, self.Y, update=True)
        self.order = batch_order(self.point)
        self.plan = engine.plan(self.point.batch, self.problem.work)
        self.losses = np.empty(self.point.iterations)
        self.run()  # compiles, or loads from the cache

    def run(self):
        if not self.point.batch:
            self.fs.train(self.params, self.X, self.Y, learning_rate=LEARNING_RATE,
                          num_iterations=self.point.iterations, n_threads=self.threads)
            return
        p = self.problem  # each epoch starts from where the last one ended, in p.work
        self.engine.descend(p.work, p.X, p.Y, self.losses, activation=p.activation, output=p.output,
                            rule=self.engine.sgd(LEARNING_RATE), the_plan=self.plan, n_threads=self.threads,
                            order=self.order, batch=self.point.batch)


class NumPyReference:
    name = "numpy"

    def __init__(self, point, dtype, threads):
        from fastshallow import reference

        self.reference, self.point = reference, point
        self.params, self.X, Y = make_problem(point, dtype)
        self.Y = Y.astype(dtype)
        if point.batch:
            self.order = batch_order(point)
            self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}  # stays 0: no momentum

    def run(self):
        if self.point.batch:
            self.reference.sgd_epoch(self.params, self.velocity, self.X, self.Y, self.order, self.point.batch,
                                     LEARNING_RATE)
            return
        self.reference.train(self.params, self.X, self.Y, learning_rate=LEARNING_RATE,
                             num_iterations=self.point.iterations)


class PyTorch:
    """nn.Sequential(Linear, Tanh, Linear) with BCEWithLogitsLoss summed over outputs and
    averaged over examples, and plain SGD: the same network, cost and update."""

    name = "pytorch"

    def __init__(self, point, dtype, threads):
        import torch

        torch.set_num_threads(threads)
        params, X, Y = make_problem(point, dtype)
        tdt = getattr(torch, dtype)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(point.n_x, point.n_h), torch.nn.Tanh(), torch.nn.Linear(point.n_h, point.n_y)
        ).to(tdt)
        with torch.no_grad():
            self.model[0].weight.copy_(torch.from_numpy(params["W1"]))
            self.model[0].bias.copy_(torch.from_numpy(params["b1"][:, 0]))
            self.model[2].weight.copy_(torch.from_numpy(params["W2"]))
            self.model[2].bias.copy_(torch.from_numpy(params["b2"][:, 0]))
        self.X = torch.from_numpy(np.ascontiguousarray(X.T))  # (m, n_x): torch is row-per-example
        self.Y = torch.from_numpy(np.ascontiguousarray(Y.T, dtype=dtype))
        self.loss = torch.nn.BCEWithLogitsLoss(reduction="sum")
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.point = point
        self.order = torch.from_numpy(batch_order(point)) if point.batch else None

    def run(self):
        b = self.point.step_examples
        for k in range(self.point.iterations):
            X, Y = self.X, self.Y
            if self.order is not None:  # a mini-batch, gathered as a DataLoader would
                cols = self.order[k * b : (k + 1) * b]
                X, Y = X.index_select(0, cols), Y.index_select(0, cols)
            self.opt.zero_grad()
            cost = self.loss(self.model(X), Y) / b
            cost.backward()
            self.opt.step()


def implementations():
    """The implementations available here: PyTorch only when it imports."""
    impls = [FastShallow, NumPyReference]
    try:
        import torch  # noqa: F401

        impls.append(PyTorch)
    except ImportError:
        pass
    return impls


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


def _blas_threads(n):
    """A context limiting BLAS threads to n, if threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(n)


# Each timed run follows untimed runs of the same implementation, repeated for at least
# SETTLE seconds. OpenBLAS's threads and PyTorch's OpenMP pool keep spinning on the cores
# for a while after their last task, and a run that starts then shares the cores with
# them; a pool that has gone to sleep must be woken. The untimed runs absorb both; a
# pause instead, or a single untimed run, left short runs up to twice as slow as alone
# (250d845 has the numbers).
SETTLE = 0.25


def time_point(point, dtype, threads, repeat, impls):
    """Interleaved repetitions: {name: [seconds per step, ...]}."""
    runners = [impl(point, dtype, threads) for impl in impls]
    samples = {r.name: [] for r in runners}
    with _blas_threads(threads):
        for _ in range(repeat):
            for r in runners:
                start = time.perf_counter()
                r.run()  # untimed: see above
                while time.perf_counter() - start < SETTLE:
                    r.run()
                t0 = time.perf_counter()
                r.run()
                samples[r.name].append((time.perf_counter() - t0) / point.iterations)
    return samples


PEAK_ROUNDS = 4_000_000  # per worker: about 10 ms of FMAs at 100 GFLOP/s a core
# The peak is a best case, so the best of many short calls: on a shared machine a few of
# them may run while another tenant holds a core (ff1c093).
PEAK_REPEAT = 20


def fma_peak_gflops(dtype, threads):
    """The FMA peak of `threads` cores in dtype, in GFLOP/s: the best of PEAK_REPEAT timed
    calls of engine.fma_peak (independent vector FMAs, one worker per thread)."""
    from fastshallow.threads import using_threads
    from fastshallow.engine import fma_flops, fma_peak

    dt = np.dtype(dtype).type
    out = np.empty(threads, dt)
    s, t = dt(0.999), dt(0.001)  # acc -> 0.999·acc + 0.001 stays near 1: no overflow
    flops = fma_flops(PEAK_ROUNDS, threads, dtype)
    best = np.inf
    with using_threads(threads):
        fma_peak(out, 10, s, t)  # compile or load from the cache
        for _ in range(PEAK_REPEAT):
            t0 = time.perf_counter()
            fma_peak(out, PEAK_ROUNDS, s, t)
            best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def _peak_rss_kib():
    with open("/proc/self/status") as f:
        status = f.read()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)), int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def _measure_memory_here(impl_name, point_name, dtype, threads):
    """In this (fresh) process: bytes by which one step raises the peak resident set."""
    impl = {i.name: i for i in (FastShallow, NumPyReference, PyTorch)}[impl_name]
    point = dataclasses.replace(POINTS[point_name], iterations=1)
    runner = impl(point, dtype, threads)
    runner.run()  # warm: first-call allocations (compilation, thread pools) are not the step's
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set
    _, before = _peak_rss_kib()
    runner.run()
    peak, _ = _peak_rss_kib()
    return (peak - before) * 1024


def measure_memory(impl_name, point, dtype, threads):
    """Peak extra memory of one step, in bytes, from a fresh process; None if unavailable.

    A fresh process, and glibc told to return every large block at once, so that memory
    freed by the warm-up step cannot be silently reused by the measured one."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    code = (
        "import sys, fastshallow.bench as b; "
        f"print(b._measure_memory_here({impl_name!r}, {point.name!r}, {dtype!r}, {threads}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if run.returncode != 0:
        return None
    return int(run.stdout.strip().splitlines()[-1])


def machine_line():
    """CPU, cores, Numba threading layer and the BLAS NumPy uses, on one line."""
    import numba

    import fastshallow as fs

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.+)", f.read()).group(1).strip()
    except (OSError, AttributeError):
        pass
    params, X, Y = make_problem(POINTS["small"], "float64")
    fs.gradients(params, X[:, :2048], Y[:, :2048])  # starts the threading layer
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    blas = "unknown"
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{deps.get('name', '?')} {deps.get('version', '')}".strip()
    except Exception:  # show_config's layout differs across NumPy versions
        pass
    return (
        f"CPU: {cpu}; cores: {os.cpu_count()}; Numba {numba.__version__} threads: "
        f"{numba.config.NUMBA_NUM_THREADS}, threading layer: {layer}; NumPy {np.__version__} BLAS: {blas}"
    )


def _fmt_time(s):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _fmt_bytes(b):
    if b is None:
        return "n/a"
    return f"{b / 2**20:.1f} MiB"


def summarise(point, dtype, samples, memory, peak=None):
    """One result row per implementation, as plain data (also what --json writes). peak is
    the FMA peak in GFLOP/s for this dtype, or None."""
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = []
    for name, times in samples.items():
        rows.append(
            {
                "point": point.name,
                "shape": point.shape,
                "dtype": dtype,
                "implementation": name,
                "iterations_per_sample": point.iterations,
                "seconds_per_step": times,
                "median": med[name],
                "min": min(times),
                "max": max(times),
                "gflops": point.flops_per_step / med[name] / 1e9,
                "fraction_of_peak": point.flops_per_step / med[name] / 1e9 / peak if peak else None,
                "peak_gflops": peak,
                "speedup_vs_numpy": med["numpy"] / med[name] if "numpy" in med else None,
                "speedup_vs_pytorch": med["pytorch"] / med[name] if "pytorch" in med else None,
                "peak_extra_bytes": memory.get(name),
            }
        )
    return rows


def print_table(point, dtype, rows, out=sys.stdout, probe=None):
    """One point's table; probe: the FMA probe's reading just before it, if taken."""
    batches = f", batches of {point.batch}" if point.batch else ""
    peak = rows[0]["peak_gflops"]
    peak_words = "" if peak is None else f"; 'of peak' over {peak:.1f} GFLOP/s"
    probe_words = "" if probe is None else f" (the probe read {probe:.1f} just before)"
    print(
        f"\n{point.name} (n_x, n_h, n_y, m) = {point.shape}{batches} {dtype}: "
        f"{point.flops_per_step / 1e9:.3g} GFLOP per step, {len(rows[0]['seconds_per_step'])} repetitions "
        f"of {point.iterations} step(s){peak_words}{probe_words}",
        file=out,
    )
    header = (
        f"  {'implementation':<12} {'time/step: median [min, max]':<32} {'GFLOP/s':>8} {'of peak':>8} "
        f"{'vs NumPy':>9} {'vs PyTorch':>11} {'peak extra mem':>15}"
    )
    print(header, file=out)
    for r in rows:
        spread = f"{_fmt_time(r['median'])} [{_fmt_time(r['min'])}, {_fmt_time(r['max'])}]"
        of_peak = f"{100 * r['fraction_of_peak']:.1f}%" if r["fraction_of_peak"] else "-"
        vs_np = f"{r['speedup_vs_numpy']:.2f}x" if r["speedup_vs_numpy"] else "-"
        vs_pt = f"{r['speedup_vs_pytorch']:.2f}x" if r["speedup_vs_pytorch"] else "-"
        print(
            f"  {r['implementation']:<12} {spread:<32} {r['gflops']:>8.2f} {of_peak:>8} {vs_np:>9} {vs_pt:>11} "
            f"{_fmt_bytes(r['peak_extra_bytes']):>15}",
            file=out,
        )
    out.flush()


def plot(results, path, overwrite=False):
    """A PNG bar chart of each implementation's speedup over the NumPy reference."""
    from .plotting import pyplot, save_png

    plt = pyplot()
    groups = sorted({(r["point"], r["dtype"]) for r in results}, key=lambda g: (list(POINTS).index(g[0]), g[1]))
    names = [n for n in ("fastshallow", "pytorch") if any(r["implementation"] == n for r in results)]
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 2, 4))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        values = [
            next((r["speedup_vs_numpy"] for r in results if (r["point"], r["dtype"]) == g and r["implementation"] == name), 0)
            for g in groups
        ]
        ax.bar([i + k * width for i in range(len(groups))], values, width, label=name)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="NumPy reference")
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{p}\n{d}" for p, d in groups])
    ax.set_ylabel("speedup over the NumPy reference (x)")
    ax.set_title("fastshallow bench: time per training step, median")
    ax.legend()
    fig.tight_layout()
    save_png(fig, path, what="--plot", dpi=120, overwrite=overwrite)


# -- the cost of one call ----------------------------------------------------------------

PER_CALL_POINT = "tiny"  # the flower problem: a call's Python path, not its arithmetic, dominates


def per_call_cases():
    """{name: (fastshallow's call, the NumPy twin's call)} on the flower problem in float64:
    one call each of fs.step, fs.gradients, fs.forward and fs.predict, and one iteration of
    the course's four functions, with their NumPy reference equivalents."""
    import fastshallow as fs
    from fastshallow import course, reference

    point = POINTS[PER_CALL_POINT]
    params, X, Y = make_problem(point, "float64")
    ref_params = {k: v.copy() for k, v in params.items()}
    Yf = Y.astype(np.float64)

    def course_iteration():
        A2, cache = course.forward_propagation(X, params)
        course.compute_cost(A2, Y)
        grads = course.backward_propagation(params, cache, X, Y)
        course.update_parameters(params, grads, LEARNING_RATE)

    def reference_iteration():  # the forward pass, then the cost and gradients from its cache
        cache = reference.forward_cache(ref_params, X)
        _, grads = reference.backward(ref_params, cache, X, Yf)
        for k in ref_params:
            ref_params[k] -= LEARNING_RATE * grads["d" + k]

    return {
        "step": (lambda: fs.step(params, X, Y, LEARNING_RATE), lambda: reference.step(ref_params, X, Yf, LEARNING_RATE)),
        "gradients": (lambda: fs.gradients(params, X, Y), lambda: reference.gradients(ref_params, X, Yf)),
        "forward": (lambda: fs.forward(params, X), lambda: reference.forward(ref_params, X)),
        "predict": (lambda: fs.predict(params, X), lambda: reference.predict(ref_params, X)),
        "course iteration": (course_iteration, reference_iteration),
    }


def per_call_costs(repeat, calls=2000):
    """{name: (fastshallow µs, NumPy µs)} per call: medians of `repeat` interleaved rounds
    of `calls` calls each (after one warm-up round)."""
    cases = per_call_cases()
    times = {name: ([], []) for name in cases}
    for round_ in range(repeat + 1):
        for name, pair in cases.items():
            for impl, out in zip(pair, times[name]):
                start = time.perf_counter()
                for _ in range(calls):
                    impl()
                if round_:
                    out.append((time.perf_counter() - start) / calls * 1e6)
    return {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()}


def print_per_call(costs, out=sys.stdout):
    point = POINTS[PER_CALL_POINT]
    print(f"\nThe cost of one call, {point.name} {point.shape}, float64, from Python (median µs a call):", file=out)
    print(f"  {'call':<18} {'fastshallow':>12} {'NumPy':>9} {'NumPy / fastshallow':>20}", file=out)
    for name, (ours, theirs) in costs.items():
        print(f"  {name:<18} {ours:>12.1f} {theirs:>9.1f} {theirs / ours:>19.2f}x", file=out)


def add_arguments(parser):
    from . import cli

    parser.add_argument("--sizes", type=cli.choices_list(tuple(POINTS)), default=list(POINTS),
                        help=f"comma-separated grid points ({', '.join(POINTS)})")
    parser.add_argument("--dtype", default="all", choices=["all", *DTYPES], help="(default: both)")
    parser.add_argument("--threads", type=cli.threads, default=None,
                        help="threads for every implementation (default: all cores)")
    parser.add_argument("--repeat", type=cli.positive_int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-implementation memory processes")
    parser.add_argument("--no-per-call", action="store_true", help="skip the cost-of-one-call table")
    parser.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios (needs matplotlib)")
    parser.add_argument("--force", action="store_true", help="overwrite --json and --plot if they exist")


def run(args):
    import numba

    from . import cli

    # Outputs first: a run takes minutes, and a path it cannot write would lose them.
    if args.plot:
        cli.need_extra("matplotlib", "plot", "--plot")
    cli.distinct_outputs(**{"--json": args.json, "--plot": args.plot})
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            cli.output_path(path, option, force=args.force)
    sizes = args.sizes
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    dtypes = DTYPES if args.dtype == "all" else (args.dtype,)
    impls = implementations()
    print(machine_line())
    print(f"threads: {threads} for every implementation; implementations: {', '.join(i.name for i in impls)}"
          + ("" if any(i is PyTorch for i in impls) else " (PyTorch not importable)"))
    peaks = {dtype: fma_peak_gflops(dtype, threads) for dtype in dtypes}
    print(
        f"FMA peak, {threads} thread(s), measured by the probe: "
        + ", ".join(f"{peaks[d]:.1f} GFLOP/s {d}" for d in dtypes)
        + " ('of peak' below is GFLOP/s over the best reading so far)"
    )
    # The probe again before each point: on a shared machine one reading can come from a
    # slow moment (an AMD EPYC read 90.9 GFLOP/s in float64 before a grid and 115.9 after;
    # another run, 58.6 before it and 116.9 just before its first point), and a fraction
    # over it would flatter every point. Over the best reading so far, a slow one cannot.
    best = dict(peaks)
    results = []
    for name in sizes:
        point = POINTS[name]
        for dtype in dtypes:
            now = fma_peak_gflops(dtype, threads)
            best[dtype] = max(best[dtype], now)
            samples = time_point(point, dtype, threads, args.repeat, impls)
            memory = {} if args.no_memory else {i.name: measure_memory(i.name, point, dtype, threads) for i in impls}
            rows = summarise(point, dtype, samples, memory, best[dtype])
            print_table(point, dtype, rows, probe=now)
            results.extend(rows)
    per_call = None
    if not args.no_per_call:
        with _blas_threads(1):  # one thread: fastshallow runs problems this small on the calling thread
            per_call = per_call_costs(args.repeat)
        print_per_call(per_call)
    # Again after the grid: a first measurement taken during a noisy moment shows up here.
    after = {dtype: fma_peak_gflops(dtype, threads) for dtype in dtypes}
    print("\nFMA peak again after the grid: " + ", ".join(f"{after[d]:.1f} GFLOP/s {d}" for d in dtypes))
    if args.json:
        record = {"machine": machine_line(), "threads": threads, "peak_gflops": peaks, "peak_gflops_after": after,
                  "results": results, "per_call_us": per_call}
        write_atomically(args.json, lambda f: json.dump(record, f, indent=1), overwrite=args.force, what="--json",
                         binary=False)
    if args.plot:
        plot(results, args.plot, overwrite=args.force)
    return 0
