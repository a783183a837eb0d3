"""Data-parallel training on a Dask cluster (``pip install '.[dask]'`` from a checkout).

Dask moves data and partial sums; the compiled kernels of a single machine do the
arithmetic. One iteration of ``train``:

1. the parameters (small) are scattered to the cluster, and each worker fetches them once;
2. each chunk of examples, persisted on its worker since the call began, computes the
   unnormalised gradient sums and cost sum of its examples (engine.gradients with mean=False);
3. the chunks' sums are added pairwise in a tree whose shape is fixed by the chunk order
   ((0+1)+(2+3))+..., never by which task finishes first;
4. the client divides by the number of examples and updates once (engine.update_from_sums).

So a run gives identical bits every time, on any cluster with the same chunks. Against
single-machine ``fastshallow.train`` only the grouping of the sums differs (by chunk here,
by the kernels' own plan there): the results agree to rounding, not bit for bit.

Layout. X is (n_x, m) and Y (n_y, m), chunked along m, as everywhere in fastshallow; or,
with ``layout="rows"``, X is (m, n_x) and Y (m, n_y) or (m,), the dask-ml convention. A
chunking across features is merged into one chunk per block of examples. Each chunk's
examples are read by the kernels in place (a row-layout chunk is an F-ordered view).

Threads. Each chunk task uses ``n_threads`` Numba threads (default 1): Dask runs one task
per worker thread and its nanny sets OMP_NUM_THREADS=1 for the same reason. Raise it for
workers that have one thread and many cores. Results do not depend on it.
"""

import math
import time
from concurrent.futures import CancelledError

import numpy as np

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as exc:  # an optional extra
    raise ImportError(
        "fastshallow.distributed needs Dask: pip install '.[dask]' in a fastshallow checkout (dask[array] and distributed)"
    ) from exc

from . import engine
from .validation import (
    activation_code,
    check_params,
    check_X,
    check_Y,
    finite_real,
    iteration_count,
    output_code,
    positive_int,
)
from .errors import ClusterError, cluster_error, iterations_diverged

__all__ = ["ClusterError", "train"]

LAYOUTS = ("columns", "rows")


def train(
    params,
    X,
    Y,
    *,
    learning_rate=1.2,
    num_iterations=10000,
    client=None,
    activation="tanh",
    output="sigmoid",
    layout="columns",
    batch_size=None,
    seed=None,
    sync_every=None,
    n_threads=1,
    callback=None,
):
    """Gradient descent on Dask arrays X, Y over a Dask cluster; params updated in place.

    The same network, cost, update and defaults as ``fastshallow.train``; returns a
    float64 array of costs, each taken before its update. Arguments beyond fastshallow.train's:

    client : distributed.Client, default: the current one (distributed.get_client()).
    layout : "columns" (X (n_x, m), Y (n_y, m)) or "rows" (X (m, n_x), Y (m, n_y) or (m,)).
    batch_size : None for full-batch gradient descent. An int makes every iteration one
        mini-batch step: each epoch draws a permutation of the m examples from ``seed``
        (numpy's default_rng) and takes its batches in turn, the last one shorter. Each
        chunk sums its members of the batch, in the batch's order, read in place.
    sync_every : None, or k >= 1 for local steps with averaging, a different algorithm:
        each chunk takes k full-batch steps on its own examples from the iteration's
        parameters, and the results are averaged, weighted by the chunks' sizes (k = 1 is
        gradient descent again, up to rounding). One round trip per k steps, for clusters
        where latency dominates. num_iterations must be a multiple of k; the costs are one
        per round, the mean cost at the round's starting parameters. Not with batch_size.
    n_threads : Numba threads per chunk task (see the module's notes).
    callback : called as callback(iteration, cost) on the client after each completed
        iteration (or round), for progress reports.

    Failures. A non-finite cost or update raises DivergenceError, with params as
    fastshallow.train leaves them. A task lost with its worker is run again by Dask (its
    chunk is recomputed from the source when needed), which changes nothing in the result.
    A failure beyond that raises ClusterError with params at the last completed iteration.
    Ctrl-C leaves params there too, and is raised as KeyboardInterrupt with a ``costs``
    attribute.
    """
    learning_rate = finite_real(learning_rate, "learning_rate", positive=True)
    num_iterations = iteration_count(num_iterations)
    n_threads = positive_int(n_threads, "n_threads")
    code = activation_code(activation)
    dtype, arrays = check_params(params, update=True)
    n_h, n_x = arrays[0].shape
    n_y = arrays[2].shape[0]
    out = output_code(output, n_y)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    if sync_every is not None:
        sync_every = positive_int(sync_every, "sync_every")
        if batch_size is not None:
            raise ValueError("sync_every (local full-batch steps) cannot be combined with batch_size")
        if num_iterations % sync_every:
            raise ValueError(
                f"num_iterations ({num_iterations}) must be a multiple of sync_every ({sync_every}): "
                "each round takes sync_every local steps"
            )
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    client = current_client(client)
    data = Chunks(client, X, Y, n_x=n_x, n_h=n_h, n_y=n_y, dtype=dtype, out=out, layout=layout, n_threads=n_threads)
    try:
        run = Descent(data, arrays, code, out, engine.gradient_descent(learning_rate))
        if sync_every is None:
            costs = np.empty(num_iterations)
            outcome = run.steps(_batches(data.m, batch_size, num_iterations, seed), costs, callback)
        else:
            costs = np.empty(num_iterations // sync_every)
            outcome = run.local_rounds(sync_every, costs, callback)
        _finish(run, outcome, arrays, costs, learning_rate)
    finally:
        data.release()
    return costs


def current_client(client):
    """client, checked, or the current distributed.Client (ValueError if there is none)."""
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client or None; got {type(client).__name__}")
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            "no Dask client: pass client=distributed.Client('tcp://scheduler:8786') or create a "
            "Client before calling train"
        ) from None


def _batches(m, batch_size, n_steps, seed):
    """The examples of each step: None (all of them) for full-batch descent, else int64
    index arrays, the batches of a fresh permutation every epoch."""
    if batch_size is None:
        return [None] * n_steps
    rng = np.random.default_rng(seed)
    batch = min(batch_size, m)
    per_epoch = -(-m // batch)
    out = []
    for s in range(n_steps):
        k = s % per_epoch
        if k == 0:
            order = rng.permutation(m)
        out.append(order[k * batch : (k + 1) * batch])
    return out


def _finish(run, outcome, arrays, costs, learning_rate):
    """Run outcome(); copy the run's state into the caller's arrays, whatever happened
    (the state is always a whole one, see Descent); raise what must be raised."""
    try:
        done, status = outcome()
    except _CallbackError as exc:  # the caller's own error, as it was raised
        raise exc.__cause__ from None
    except Exception as exc:
        raise cluster_error(
            exc,
            at=f"in iteration {run.done}",
            state=f"params hold the state after {run.done} completed iteration(s)",
            iteration=run.done,
            costs=costs[: run.done].copy(),
            kept=run.done,
        ) from exc
    except BaseException as exc:  # KeyboardInterrupt
        exc.costs = costs[: run.done].copy()
        raise
    finally:  # one compiled copy, which a Ctrl-C cannot split (engine.commit)
        engine.commit(arrays, run.params)
    if status != engine.OK:
        raise iterations_diverged(done, status, costs, learning_rate)


# ---------------------------------------------------------------------------------------
# The data on the cluster
# ---------------------------------------------------------------------------------------


class Chunks:
    """Training data persisted on a cluster: one future per chunk of examples, holding
    (X_c (n_x, m_c), Y_c (n_y, m_c)), validated and converted to the params' dtype once.

    encode, if given, turns a chunk of Y as it arrives (rows: (m_c,) or (m_c, k)) into
    (n_y, m_c) on the worker; ShallowNetClassifier passes its label binarizer this way.
    """

    def __init__(self, client, X, Y, *, n_x, n_h, n_y, dtype, out, layout="columns", n_threads=1, encode=None):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}")
        rows = layout == "rows"
        X, Y = _as_dask(X, "X"), _as_dask(Y, "Y")
        axis = 0 if rows else 1  # the examples' axis of X
        expected = f"(m, n_x) = (m, {n_x})" if rows else f"(n_x, m) = ({n_x}, m)"
        if X.ndim != 2 or X.shape[1 - axis] != n_x:
            raise ValueError(
                f"X must be a 2-D Dask array of shape {expected} for layout={layout!r} and params['W1'] "
                f"(n_x = {n_x}); got shape {X.shape}"
                + ("" if rows or X.ndim != 2 or X.shape[1] != n_x else "; for (m, n_x) data pass layout='rows'")
            )
        m = X.shape[axis]
        if any(math.isnan(c) for c in X.chunks[axis]):
            raise ValueError("X has chunks of unknown size; call X.compute_chunk_sizes() first")
        if m == 0:
            raise ValueError(f"X has no examples: shape {X.shape}")
        y_axis = 0 if (rows or Y.ndim == 1) else 1
        if Y.ndim not in (1, 2) or Y.shape[y_axis] != m:
            raise ValueError(
                f"Y must have the m = {m} examples of X along axis {y_axis}: (n_y, m) for layout='columns', "
                f"(m, n_y) or (m,) for layout='rows'; got shape {Y.shape}"
            )
        # One block per chunk of examples: features merged, Y cut where X is. Chunks of no
        # examples (a filter leaves them) are dropped: they hold nothing to sum.
        if 0 in X.chunks[axis]:
            X = X.rechunk({axis: tuple(c for c in X.chunks[axis] if c)})
        X = X.rechunk({1 - axis: -1})
        Y = Y.rechunk({y_axis: X.chunks[axis]} | ({1 - y_axis: -1} if Y.ndim == 2 else {}))
        xs = X.to_delayed().ravel()
        ys = Y.to_delayed().ravel()
        sizes = np.array(X.chunks[axis], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        load = dask.delayed(_load_chunk, pure=True)
        parts = [
            load(x, y, c, int(self.offsets[c]), n_x, n_y, dtype, out, rows, encode)
            for c, (x, y) in enumerate(zip(xs, ys))
        ]
        self.client = client
        self.futures = client.compute(parts)
        self.m = int(m)
        self.sizes = sizes
        self.n_threads = n_threads
        self.part_bytes = engine.param_count(n_x, n_h, n_y) * dtype.itemsize  # one set of sums
        distributed.wait(self.futures)
        for f in self.futures:  # the first bad chunk, in chunk order, raises its error here
            if f.status == "error":
                try:
                    f.result()
                finally:
                    self.release()

    def intact(self):
        """True while every chunk is held or being recomputed from its source (not lost
        with data that has no source, nor failed)."""
        return all(f.status in ("pending", "finished") for f in self.futures)

    def release(self):
        """Let the workers drop the data."""
        for f in self.futures:
            f.release()
        self.futures = []

    def split(self, batch):
        """The members of a global batch (int64 indices) by chunk: [(c, local cols)], in
        chunk order, each in the batch's order; chunks without members left out."""
        owner = np.searchsorted(self.offsets, batch, side="right") - 1
        by_chunk = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(self.sizes))
        out, start = [], 0
        for c, k in enumerate(counts):
            if k:
                idx = by_chunk[start : start + k]
                out.append((c, (batch[idx] - self.offsets[c]).astype(np.int64)))
                start += k
        return out

    def gradient_sums(self, params_future, code, out, batch=None):
        """(cost sum, dW1, db1, dW2, db2 sums) over the batch (None: every example)."""
        members = [(c, None) for c in range(len(self.futures))] if batch is None else self.split(batch)
        parts = [
            self.client.submit(_chunk_sums, self.futures[c], params_future, cols, code, out, self.n_threads)
            for c, cols in members
        ]
        return _reduce(self.client, parts, self.part_bytes)

    def local_steps(self, params_future, code, out, rule, k):
        """(chunks that diverged, Σ m_c·cost_c, Σ m_c·W1_c, ... b2) after k local steps."""
        parts = [
            self.client.submit(_chunk_local_steps, f, params_future, code, out, rule, k, self.n_threads)
            for f in self.futures
        ]
        return _reduce(self.client, parts, 2 * self.part_bytes)  # float64 parameters


def _as_dask(a, name):
    if isinstance(a, da.Array):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got dtype {a.dtype}")
        return a
    raise TypeError(
        f"{name} must be a dask.array.Array (fastshallow.train takes NumPy arrays); got {type(a).__name__}"
    )


# The reduction tree: each node adds FAN_IN consecutive partial sums. Its shape depends
# only on the number of partial sums, so where it runs cannot change a bit. Where: on the
# client when all the partial sums together are at most CLIENT_REDUCE_BYTES (gathering
# them is one round trip, while a level of tasks on the cluster costs another round trip
# plus a transfer; 449e4d2 has the numbers), else as tasks
# on the cluster, which keeps the client's traffic to one set of sums for big networks.
FAN_IN = 8
CLIENT_REDUCE_BYTES = 32 * 2**20


def _tree(parts, add, fan_in):
    """Σ parts in a fixed tree: level by level, each run of fan_in consecutive partial sums
    added left to right by add(*run), a shorter run at the end."""
    while len(parts) > 1:
        parts = [
            parts[i] if i + 1 == len(parts) else add(*parts[i : i + fan_in]) for i in range(0, len(parts), fan_in)
        ]
    return parts[0]


def _reduce(client, futures, part_bytes):
    """The sum of the futures' partial sums (tuples of numbers and arrays), gathered."""
    if len(futures) * part_bytes <= CLIENT_REDUCE_BYTES:
        return _tree(client.gather(futures), _add, FAN_IN)
    return client.gather(_tree(futures, lambda *run: client.submit(_add, *run), FAN_IN))


# Worker-side functions: module-level, so that workers import them rather than unpickle code.


def _load_chunk(x, y, c, start, n_x, n_y, dtype, out, rows, encode):
    """A chunk's (X_c (n_x, m_c), Y_c (n_y, m_c)), checked as fastshallow.train checks."""
    try:
        X = check_X(x.T if rows else x, n_x, dtype)
        if encode is not None:
            y = encode(y)
        elif y.ndim == 1:
            y = y[None, :]
        elif rows:
            y = y.T
        Y = check_Y(np.asarray(y), n_y, X.shape[1], dtype, out)
    except (ValueError, TypeError) as exc:
        size = x.shape[0 if rows else 1]
        raise type(exc)(f"chunk {c} (examples {start} to {start + size - 1}): {exc}") from None
    return X, Y


def _add(first, *rest):
    """The element-wise sum of tuples of partial sums, added left to right. NumPy's
    additions are IEEE-exact per element; only their grouping matters, and _tree_sum
    fixes it."""
    total = list(first)
    for part in rest:
        total = [t + p for t, p in zip(total, part)]
    return tuple(total)


def _chunk_sums(data, params, cols, code, out, n_threads):
    X, Y = data
    m = X.shape[1] if cols is None else cols.shape[0]
    cost, grads = engine.gradients(params, X, Y, activation=code, output=out, the_plan=engine.plan(m, params),
                                   cols=cols, n_threads=n_threads, mean=False)
    return (cost,) + grads


def _chunk_local_steps(data, params, code, out, rule, k, n_threads):
    X, Y = data
    work = tuple(np.array(a, order="C", copy=True) for a in params)
    costs = np.empty(k)
    m = X.shape[1]
    run = engine.descend(work, X, Y, costs, activation=code, output=out, rule=rule,
                         the_plan=engine.plan(m, work), n_threads=n_threads)
    # Weighted by the chunk's size, in float64, so that the average is exact to float64.
    return (int(run.status != engine.OK), m * costs[0]) + tuple(m * a.astype(np.float64) for a in work)


# ---------------------------------------------------------------------------------------
# The optimiser's loop, on the client
# ---------------------------------------------------------------------------------------


class _CallbackError(Exception):
    """Carries an exception raised by the caller's callback past the handling of the
    cluster's failures; its __cause__ is the original."""


def _report(callback, iteration, cost):
    if callback is not None:
        try:
            callback(iteration, cost)
        except Exception as exc:
            raise _CallbackError from exc


# How often an iteration whose scattered params were lost is run again, and the pause
# before the first rerun (doubled, tripled, ... before later ones).
RETRIES = 3
RETRY_PAUSE = 0.2


class Descent:
    """The state of a distributed descent: the parameters and the optimiser's state (tuples,
    replaced whole after each completed step, so an exception never finds them
    half-updated), and the number of completed steps. rule: the engine's Rule
    (gradient_descent, sgd or adam; its t counts the updates made before this run)."""

    def __init__(self, data, params, code, out, rule, *, velocity=None, moments=None):
        self.data = data
        self.params = tuple(np.array(a, order="C", copy=True) for a in params)
        zeros = tuple(np.zeros_like(a) for a in self.params)
        self.velocity = velocity if velocity is not None else zeros
        self.moments = moments if moments is not None else tuple(np.zeros_like(a) for a in self.params)
        self.code, self.out, self.rule = code, out, rule
        self.done = 0

    def _with_params(self, compute):
        """compute(future of the current params), the params scattered to one worker, from
        which the others fetch them as their chunks' tasks need them.

        Not broadcast=True: the scheduler then copies them to every worker in a loop that
        can wait for ever on a worker lost during it (dask/distributed issue 5704; 3451046
        has the hang that showed it).

        A worker lost mid-iteration can take the params with it, or be sent them before
        the scheduler knows it is gone (the scatter fails with an OSError). Dask cannot
        recompute scattered data, so it cancels the tasks that needed them instead of
        running them again. The params are always here on the client: scatter them again
        and rerun the iteration, RETRIES times at most, as long as the training data (which
        Dask recomputes from its source) is intact. The rerun computes the same sums."""
        for attempt in range(RETRIES + 1):
            future = None
            try:
                [future] = self.data.client.scatter([self.params], hash=False)
                return compute(future)
            except (CancelledError, OSError):
                if attempt == RETRIES or not self.data.intact():
                    raise
                time.sleep(RETRY_PAUSE * (attempt + 1))  # let the scheduler see the worker gone
            finally:
                if future is not None:
                    future.release()

    def steps(self, batches, losses, callback=None):
        """A deferred run of one update per batch; losses[i] gets batch i's loss (with the L2
        penalty) before its update. Returns a callable giving (steps completed, status)."""

        def run():
            previous = self.params, self.velocity, self.moments
            for i, batch in enumerate(batches):
                cost, *sums = self._with_params(lambda p: self.data.gradient_sums(p, self.code, self.out, batch))
                b = self.data.m if batch is None else batch.shape[0]
                loss = cost / b
                if self.rule.alpha > 0:
                    loss += engine.l2_penalty(self.params, self.rule.alpha, b)
                losses[i] = loss
                if not np.isfinite(loss):
                    if i > 0:  # the last state whose parameters and cost were both finite
                        self.params, self.velocity, self.moments = previous
                        self.done -= 1
                    return i, engine.COST_NOT_FINITE
                velocity = tuple(a.copy() for a in self.velocity)
                moments = tuple(a.copy() for a in self.moments)
                rule = self.rule._replace(t=self.rule.t + self.done)
                params, finite = engine.update_from_sums(self.params, tuple(sums), b, rule, velocity, moments)
                if not finite:
                    return i, engine.UPDATE_NOT_FINITE
                previous = self.params, self.velocity, self.moments
                self.params, self.velocity, self.moments = params, velocity, moments
                self.done += 1
                _report(callback, i, loss)
            return len(losses), engine.OK

        return run

    def local_rounds(self, k, costs, callback=None):
        """A deferred run of len(costs) rounds of k local steps with averaging."""

        def run():
            m = self.data.m
            dtype = self.params[0].dtype
            previous = self.params
            for r in range(costs.shape[0]):
                failed, cost, *weighted = self._with_params(
                    lambda p: self.data.local_steps(p, self.code, self.out, self.rule, k)
                )
                costs[r] = cost / m
                if not np.isfinite(costs[r]):
                    if r > 0:  # as in steps: the last state with finite parameters and cost
                        self.params, self.done = previous, self.done - 1
                    return r, engine.COST_NOT_FINITE
                params = tuple((w / m).astype(dtype) for w in weighted)
                if failed or not all(np.isfinite(a).all() for a in params):
                    return r, engine.UPDATE_NOT_FINITE
                previous = self.params
                self.params, self.done = params, self.done + 1
                _report(callback, r, costs[r])
            return costs.shape[0], engine.OK

        return run
