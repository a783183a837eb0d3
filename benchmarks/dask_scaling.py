"""fastshallow.distributed against single-process training, at the mnist point.

    python benchmarks/dask_scaling.py [--m 200000] [--iterations 5] [--memory-run]

Prints, from one run:
- single process: fastshallow.train on NumPy arrays, every core of this machine;
- cluster: fastshallow.distributed.train on a LocalCluster of 2 worker processes with one
  thread each, the data generated on the workers and persisted there;
- throughput in examples per second, each iteration a full pass over the m examples, and
  the ratio cluster / single process;
- the overhead per iteration: an iteration's time on the cluster minus the arithmetic in
  it, measured with two chunks of MIN examples each (so the arithmetic is a few ms,
  measured in-process and subtracted). It is what a cluster adds whatever the size.

--memory-run also trains with each worker's memory_limit below the size of the whole
training set (X alone), which must complete: each worker holds only its chunks.

Not an asv benchmark (it needs minutes and gigabytes); benchmarks.Distributed tracks the
same paths at a small size.
"""

import argparse
import time

import numpy as np

import fastshallow as fs

N_X, N_H, N_Y = 784, 128, 10  # the mnist point of `fastshallow bench`
CHUNK = 25_000
MIN = 1024


def dataset(m, chunk=CHUNK, seed=0):
    """X (784, m) standard normal and Y (10, m) 0/1 labels from a fixed random projection,
    as Dask arrays built on the workers, chunked along m."""
    import dask.array as da

    X = da.random.default_rng(seed).standard_normal((N_X, m), chunks=(N_X, chunk))
    W = np.random.default_rng(seed + 1).standard_normal((N_Y, N_X)) / np.sqrt(N_X)
    Y = X.map_blocks(lambda x: (W @ x > 0).astype(np.float64), chunks=((N_Y,), X.chunks[1]), dtype=np.float64)
    return X, Y


def per_iteration(fn, iterations):
    """Median seconds per iteration over 3 calls of fn(iterations), after a warm-up call."""
    fn(1)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        fn(iterations)
        times.append((time.perf_counter() - t) / iterations)
    return float(np.median(times))


def cluster_per_iteration(fsd, params, X, Y, lr, iterations):
    """Median seconds between consecutive iterations of one fastshallow.distributed.train
    call: the steady state, without the call's one-off validation and persisting."""
    stamps = []
    fsd.train(
        {k: v.copy() for k, v in params.items()}, X, Y, learning_rate=lr, num_iterations=iterations + 1,
        callback=lambda i, cost: stamps.append(time.perf_counter()),
    )
    return float(np.median(np.diff(stamps)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--memory-run", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from fastshallow import distributed as fsd

    m, its = args.m, args.iterations
    params = fs.init_params(N_X, N_H, N_Y, seed=0)
    lr = 0.1
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster):
        Xd, Yd = dataset(m)
        Xd, Yd = Xd.persist(), Yd.persist()  # generated once; every call below reads these
        X, Y = Xd.compute(), Yd.compute()
        print(f"mnist point {N_X}-{N_H}-{N_Y}, m = {m:,}, float64, X = {X.nbytes / 2**30:.2f} GiB, chunks of {CHUNK:,}")

        def single(n):
            fs.train({k: v.copy() for k, v in params.items()}, X, Y, learning_rate=lr, num_iterations=n)

        fsd.train({k: v.copy() for k, v in params.items()}, Xd, Yd, learning_rate=lr, num_iterations=1)  # compile
        # Interleaved: single, cluster, single, cluster; the medians of each.
        t_single, t_cluster = [], []
        for _ in range(2):
            t_single.append(per_iteration(single, its))
            t_cluster.append(cluster_per_iteration(fsd, params, Xd, Yd, lr, its))
        t_single, t_cluster = min(t_single), min(t_cluster)
        print(f"single process ({fs.max_threads()} threads): {t_single:.3f} s/iteration, {m / t_single:,.0f} examples/s")
        print(f"cluster (2 workers x 1 thread):  {t_cluster:.3f} s/iteration, {m / t_cluster:,.0f} examples/s")
        print(f"throughput ratio cluster / single process: {t_single / t_cluster:.2f}")
        t = time.perf_counter()
        fsd.train({k: v.copy() for k, v in params.items()}, Xd, Yd, learning_rate=lr, num_iterations=1)
        print(f"one call of 1 iteration, validating and persisting the chunks included: {time.perf_counter() - t:.3f} s")

        Xs, Ys = X[:, : 2 * MIN], Y[:, : 2 * MIN]
        Xsd = Xd[:, : 2 * MIN].rechunk((N_X, MIN)).persist()
        Ysd = Yd[:, : 2 * MIN].rechunk((N_Y, MIN)).persist()
        arith = per_iteration(
            lambda n: fs.train({k: v.copy() for k, v in params.items()}, Xs, Ys, learning_rate=lr, num_iterations=n, n_threads=1),
            20,
        ) / 2  # each worker does half, in parallel
        small = cluster_per_iteration(fsd, params, Xsd, Ysd, lr, 20)
        print(
            f"overhead per iteration (2 chunks of {MIN}): {small * 1e3:.1f} ms per iteration, of which "
            f"arithmetic {arith * 1e3:.1f} ms: overhead {(small - arith) * 1e3:.1f} ms"
        )
    if args.memory_run:
        limit = int(0.8 * X.nbytes)
        print(f"\nmemory-limited run: memory_limit {limit / 2**30:.2f} GiB per worker, X is {X.nbytes / 2**30:.2f} GiB")
        del X, Y
        with LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, memory_limit=limit
        ) as cluster, Client(cluster) as client:
            Xd, Yd = dataset(m)
            p = {k: v.copy() for k, v in params.items()}
            t = time.perf_counter()
            costs = fsd.train(p, Xd, Yd, learning_rate=lr, num_iterations=its)
            rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
            print(
                f"completed {its} iterations in {time.perf_counter() - t:.1f} s, cost {costs[0]:.4f} -> "
                f"{costs[-1]:.4f}; worker memory now (RSS): "
                + ", ".join(f"{v / 2**30:.2f} GiB" for v in rss.values())
            )


if __name__ == "__main__":
    main()
