"""The fastshallow command line: demo, bench, train, predict, export and info."""

import argparse
import sys
import time

import numpy as np

from . import cli
from ._version import __version__


def _demo(args):
    if args.plot:  # before any work: the extra it needs, and a path it may write
        cli.need_extra("matplotlib", "plot", "--plot")
        cli.output_path(args.plot, "--plot", force=args.force)

    import fastshallow as fs
    from fastshallow import reference

    X, Y = fs.datasets.load_planar_dataset()
    n_h, lr, iters = args.hidden, args.learning_rate, args.iterations

    def fresh_params():
        # The course's initialisation: legacy generator seeded with 2, W1 then W2.
        return fs.init_params(X.shape[0], n_h, Y.shape[0], seed=np.random.RandomState(2))

    print(f"fastshallow {fs.__version__}: flower data X {X.shape}, Y {Y.shape}; n_h = {n_h}, tanh, "
          f"learning rate {lr}, {iters} iterations")
    cli.compile_notice()
    t0 = time.perf_counter()
    fs.train(fresh_params(), X, Y, learning_rate=lr, num_iterations=1)  # compile, or load the cache
    warmup = time.perf_counter() - t0

    params = fresh_params()
    t0 = time.perf_counter()
    costs = fs.train(params, X, Y, learning_rate=lr, num_iterations=iters)
    fast = time.perf_counter() - t0
    for i in range(0, iters, 1000):
        print(f"Cost after iteration {i}: {costs[i]:f}")
    accuracy = float(np.mean(fs.predict(params, X) == Y)) * 100
    print(f"Training accuracy: {accuracy:.1f}%")

    ref_params = fresh_params()
    t0 = time.perf_counter()
    reference.train(ref_params, X, Y, learning_rate=lr, num_iterations=iters)
    slow = time.perf_counter() - t0
    print(f"Wall time: fastshallow {fast:.3f} s, NumPy reference {slow:.3f} s "
          f"({slow / fast:.1f}x faster); first call (compile or cache load) {warmup:.2f} s")
    if args.plot:
        _demo_plot(args.plot, params, X, Y, costs, n_h, lr, accuracy, overwrite=args.force)
        print(f"Plot written to {args.plot}")
    if args.hidden_sizes:
        _hidden_size_table(X, Y, args.hidden_sizes)
    return 0


def _demo_plot(path, params, X, Y, costs, n_h, learning_rate, accuracy, overwrite):
    import fastshallow as fs
    from fastshallow.plotting import pyplot, save_png

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    fs.plot_decision_boundary(lambda pts: fs.predict(params, pts.T), X, Y, ax=left)
    left.set_title(f"Flower data and the learned boundary (n_h = {n_h}, tanh): {accuracy:.1f}% correct")
    fs.plot_costs(costs, ax=right)
    right.set_title(f"Cost during training ({len(costs)} iterations, learning rate {learning_rate:g})")
    fig.tight_layout()
    save_png(fig, path, what="--plot", overwrite=overwrite)


def _hidden_size_table(X, Y, sizes):
    from fastshallow import course

    print("\nAccuracy against hidden-layer size (5000 iterations each, as in the assignment):")
    for n_h in sizes:
        params = course.nn_model(X, Y, n_h, num_iterations=5000)
        accuracy = float(np.mean(course.predict(params, X) == Y)) * 100
        print(f"Accuracy for {n_h} hidden units: {accuracy:.2f} %")


def _int_list(text):
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return [cli.layer_size(str(v)) for v in sizes]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastshallow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fastshallow {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="train on the built-in flower data and compare with NumPy")
    demo.add_argument("--hidden", type=cli.layer_size, default=4, help="hidden units (default 4)")
    demo.add_argument("--learning-rate", type=cli.positive_float, default=1.2, help="(default 1.2)")
    demo.add_argument("--iterations", type=cli.positive_int, default=10000, help="(default 10000)")
    demo.add_argument("--plot", metavar="PATH", help="write a PNG: the data, the learned boundary, the cost curve")
    demo.add_argument("--force", action="store_true", help="overwrite --plot if it exists")
    demo.add_argument("--hidden-sizes", type=_int_list, metavar="N,N,...",
                      help="also print accuracy for each hidden-layer size, e.g. 1,2,3,4,5,20,50")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser("bench", help="time fastshallow against the NumPy reference (and PyTorch) on the grid")
    from . import bench as bench_module

    bench_module.add_arguments(bench)
    bench.set_defaults(run=bench_module.run)
    cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command is None:  # `fastshallow` alone: what it can do
        parser.print_help()
        return 0
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
