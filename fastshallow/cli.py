"""`fastshallow train`, `predict` and `info`: real data without writing Python.

Built on argparse (standard library) rather than click or typer: it gives subcommands,
help and exit code 2 for usage errors, and the core package keeps its two runtime
dependencies. The progress bar uses tqdm when it is installed (fastshallow[progress]) and
prints a plain line every few seconds otherwise.

Errors are one line on stderr naming the file, the row or column and the problem, with
exit code 2 for usage errors (bad options, an existing output file) and 1 for data or
model problems. --debug shows the traceback instead.
"""

import argparse
import csv
import os
import re
import signal
import sys
import time

import numpy as np

from ._progress import Progress

EXIT_DATA = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A problem to report in one line; code is the exit status."""

    def __init__(self, message, code=EXIT_DATA):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------
# Reading data
# ---------------------------------------------------------------------------------------


def read_table(path):
    """(values (rows, columns) float64, column names) from a .csv (with a header), .npy or
    .npz (one 2-D array, or arrays X and y)."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return _read_csv(path)
    if ext in (".npy", ".npz"):
        return _read_numpy(path, ext)
    raise CLIError(f"{path}: unsupported file type {ext or '(none)'}; use .csv, .npy or .npz", EXIT_USAGE)


def _read_csv(path):
    try:
        with open(path, newline="") as f:
            names = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if not names:
        raise CLIError(f"{path}: empty file; expected a header line and rows of numbers")
    names = [n.strip() for n in names]
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2, encoding="utf-8")
    except ValueError as exc:
        raise CLIError(_csv_problem(path, names, str(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if values.size and values.shape[1] != len(names):
        raise CLIError(f"{path}: the header names {len(names)} columns but the rows have {values.shape[1]}")
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise CLIError(f"{path}: line {row + 2}, column {names[col]!r}: missing or non-finite value ({values[row, col]})")
    return values, names


def _csv_problem(path, names, message):
    """NumPy's loadtxt message, restated with the file's line number and column name."""
    m = re.search(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)", message)
    if m:
        text, row, col = m.group(1), int(m.group(2)), int(m.group(3))
        name = names[col - 1] if 0 < col <= len(names) else f"#{col}"
        what = "missing value" if text.strip() == "" else f"not a number ({text!r})"
        return f"{path}: line {row + 2}, column {name!r}: {what}"
    m = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", message)
    if m:
        return f"{path}: line {int(m.group(3)) + 1}: {m.group(2)} values where the header has {len(names)} columns"
    return f"{path}: unreadable CSV ({message})"


def _read_numpy(path, ext):
    try:
        if ext == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                if "X" in z.files:
                    X = z["X"]
                    values = np.column_stack([X, z["y"]]) if "y" in z.files else X
                elif len(z.files) == 1:
                    values = z[z.files[0]]
                else:
                    raise CLIError(f"{path}: expected arrays 'X' (and 'y') or a single array; found {', '.join(z.files)}")
    except CLIError:
        raise
    except Exception as exc:  # damaged archives raise many kinds; all mean the same here
        raise CLIError(f"{path}: cannot read as NumPy data ({exc})") from None
    if values.ndim != 2 or values.dtype.kind not in "biuf":
        raise CLIError(f"{path}: expected a 2-D numeric array (rows, columns); got {values.dtype} shape {values.shape}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise CLIError(f"{path}: row {row}, column {col}: missing or non-finite value")
    return values, [f"x{i}" for i in range(values.shape[1])]


def split_columns(path, values, names, target, features, need_target=True):
    """(X rows, y or None, feature names, target name) from a table and the options."""
    def index(name, what):
        if name in names:
            return names.index(name)
        if re.fullmatch(r"-?\d+", name) and -len(names) <= int(name) < len(names):
            return int(name) % len(names)
        raise CLIError(f"{path}: no column {name!r} for {what}; columns are {', '.join(names)}", EXIT_USAGE)

    t = index(target, "--target") if target is not None else (len(names) - 1 if need_target else None)
    if features:
        cols = [index(f.strip(), "--features") for f in features.split(",") if f.strip()]
    else:
        cols = [i for i in range(len(names)) if i != t]
    if t is not None and t in cols:
        raise CLIError(f"{path}: column {names[t]!r} is both the target and a feature", EXIT_USAGE)
    if not cols:
        raise CLIError(f"{path}: no feature columns left", EXIT_USAGE)
    X = values[:, cols]
    y = values[:, t] if t is not None else None
    return X, y, [names[i] for i in cols], (names[t] if t is not None else None)


def binary_labels(path, y, target_name, classes=None):
    """Map a target column to 0/1; classes are the two labels, smallest first."""
    found = np.unique(y)
    if classes is None:
        if len(found) != 2:
            raise CLIError(
                f"{path}: target column {target_name!r} has {len(found)} distinct value(s) "
                f"({', '.join(_label(v) for v in found[:6])}{', ...' if len(found) > 6 else ''}); "
                "fastshallow train fits a binary model: two classes"
            )
        classes = [float(v) for v in found]
    unknown = [v for v in found if v not in classes]
    if unknown:
        raise CLIError(f"{path}: target column {target_name!r} has labels {', '.join(_label(v) for v in unknown[:6])} "
                       f"that the model does not know (classes {', '.join(_label(v) for v in classes)})")
    return (y == classes[1]).astype(np.uint8), classes


def _label(v):
    """A class label as text: 1 rather than 1.0 for whole numbers; other labels as they are."""
    if isinstance(v, (int, float, np.integer, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


class _StopOnInterrupt:
    """While active, the first Ctrl-C only asks the training loop to stop after the
    iterations under way (so no update is cut in half); a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nInterrupted: stopping after the current iterations and saving the model...", file=sys.stderr)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        return False


def cmd_train(args):
    import fastshallow as fs
    from fastshallow.model_file import Model, save_model

    if os.path.exists(args.out) and not args.force:
        raise CLIError(f"{args.out} already exists; use --force to overwrite it", EXIT_USAGE)
    if not 0 <= args.validation_fraction < 1:
        raise CLIError("--validation-fraction must be in [0, 1)", EXIT_USAGE)
    if args.early_stopping and args.validation_fraction == 0:
        raise CLIError("--early-stopping needs --validation-fraction > 0", EXIT_USAGE)
    if (args.epochs is None) != (args.batch_size is None):
        raise CLIError("--epochs and --batch-size go together (mini-batch training)", EXIT_USAGE)
    for name in ("hidden", "iters", "epochs", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1", EXIT_USAGE)

    t0 = time.perf_counter()
    values, names = read_table(args.data)
    X, y, feature_names, target_name = split_columns(args.data, values, names, args.target, args.features)
    load_seconds = time.perf_counter() - t0
    m_all = X.shape[0]
    n_val = int(round(m_all * args.validation_fraction))
    if m_all - n_val < 2:
        raise CLIError(f"{args.data}: {m_all} row(s); training needs at least 2 (after the validation split)")
    Y, classes = binary_labels(args.data, y, target_name)

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(m_all) if n_val else np.arange(m_all)
    train_idx, val_idx = order[n_val:], order[:n_val]
    mean = scale = None
    if args.standardize:
        mean = X[train_idx].mean(axis=0)
        scale = X[train_idx].std(axis=0)
        scale[scale == 0] = 1.0
    dtype = np.dtype(args.dtype)
    model = Model(params=None, activation=args.activation, classes=classes, feature_names=feature_names,
                  target_name=target_name, mean=mean, scale=scale)
    Xt = np.ascontiguousarray(model.prepare(X[train_idx]), dtype=dtype)  # (n_x, m)
    Yt = Y[train_idx][None, :]
    Xv = np.ascontiguousarray(model.prepare(X[val_idx]), dtype=dtype) if n_val else None
    Yv = Y[val_idx][None, :] if n_val else None
    n_x = Xt.shape[0]
    params = fs.init_params(n_x, args.hidden, 1, seed=rng, scale=1.0 / np.sqrt(n_x), dtype=dtype)
    model.params = params
    common = dict(learning_rate=args.lr, activation=args.activation, n_threads=args.threads)

    costs, val_scores = [], []
    best = (np.inf, None, 0)  # validation cost, params, iteration
    stall = 0
    mini = args.epochs is not None
    total = args.epochs if mini else args.iters
    progress = Progress(
        total,
        "epoch" if mini else "it",
        enabled=not args.quiet,
        line=lambda done, total, stats: f"  {done}/{total}: " + ", ".join(f"{k} {v}" for k, v in stats.items()),
        stream=sys.stderr,
        every=2.0,
    )
    t_train = time.perf_counter()
    done = 0
    block = 10
    with _StopOnInterrupt() as stop:
        while done < total and not stop.requested:
            t_block = time.perf_counter()
            if mini:
                perm = rng.permutation(Xt.shape[1])
                epoch_costs = []
                for b0 in range(0, perm.shape[0], args.batch_size):
                    idx = np.sort(perm[b0 : b0 + args.batch_size])
                    epoch_costs.append(fs.train(params, Xt[:, idx], Yt[:, idx], num_iterations=1, **common)[0])
                costs.append(float(np.mean(epoch_costs)))
                n = 1
            else:
                n = min(block, total - done)
                costs.extend(fs.train(params, Xt, Yt, num_iterations=n, **common).tolist())
                # Blocks of about a quarter of a second: progress stays live and Ctrl-C is
                # answered quickly, while validation per call stays a small overhead.
                elapsed = time.perf_counter() - t_block
                block = int(min(max(1, n * 0.25 / max(elapsed, 1e-6)), 10_000))
            done += n
            stats = {"cost": f"{costs[-1]:.4f}"}
            if n_val:
                val_cost = fs.cost(params, Xv, Yv, activation=args.activation)
                val_acc = float(np.mean(fs.predict(params, Xv, activation=args.activation) == Yv))
                val_scores.append(val_acc)
                stats["val_acc"] = f"{val_acc:.3f}"
                if val_cost < best[0] - 1e-7:
                    best, stall = (val_cost, {k: v.copy() for k, v in params.items()}, done), 0
                else:
                    stall += 1
            seconds = time.perf_counter() - t_train
            stats["ex/s"] = f"{done * Xt.shape[1] / max(seconds, 1e-9):.3g}"  # each iteration or epoch sees every example
            progress.update(n, **stats)
            if args.early_stopping and stall >= args.patience:
                break
    progress.close()
    train_seconds = time.perf_counter() - t_train
    stopped_early = args.early_stopping and stall >= args.patience
    if stopped_early and best[1] is not None:
        for k in params:
            params[k][...] = best[1][k]

    train_acc = float(np.mean(fs.predict(params, Xt, activation=args.activation) == Yt))
    model.interrupted = stop.requested
    model.info = {"iterations" if not mini else "epochs": done, "train_accuracy": train_acc,
                  "validation_accuracy": val_scores[-1] if val_scores else None, "seed": args.seed,
                  "learning_rate": args.lr, "data": os.path.basename(args.data)}
    save_model(args.out, model, overwrite=args.force)
    if args.plot:
        _plot_costs(args.plot, costs, "epoch" if mini else "iteration")

    print(f"Loaded {args.data}: {m_all} rows, {n_x} features, target {target_name!r} "
          f"(classes {', '.join(_label(c) for c in classes)}) in {load_seconds:.2f} s")
    what = f"{done} epochs" if mini else f"{done} iterations"
    print(f"Trained {what} in {train_seconds:.2f} s"
          + (" (interrupted by Ctrl-C)" if stop.requested else "")
          + (f" (early stopping: best validation cost at {best[2]})" if stopped_early else ""))
    print(f"Training accuracy: {train_acc * 100:.2f}%")
    if n_val:
        val_acc = float(np.mean(fs.predict(params, Xv, activation=args.activation) == Yv))
        print(f"Validation accuracy: {val_acc * 100:.2f}% ({n_val} rows)")
    print(f"Model saved to {args.out}" + (" (training was interrupted)" if stop.requested else ""))
    return 0


def _plot_costs(path, costs, unit):
    from fastshallow.plotting import _pyplot, plot_costs

    plt = _pyplot()
    ax = plot_costs(costs)
    ax.set_xlabel(unit)
    ax.set_title("fastshallow train: cost")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)


def cmd_predict(args):
    from fastshallow.model_file import ModelFileError, load_model

    try:
        model = load_model(args.model)
    except FileNotFoundError:
        raise CLIError(f"{args.model}: no such model file") from None
    except ModelFileError as exc:
        raise CLIError(str(exc)) from None
    values, names = read_table(args.data)
    has_target = model.target_name is not None and model.target_name in names
    if model.feature_names and all(n in names for n in model.feature_names):
        cols = [names.index(n) for n in model.feature_names]
    else:
        cols = [i for i, n in enumerate(names) if not (has_target and n == model.target_name)]
    if len(cols) != model.n_features:
        raise CLIError(
            f"{args.data}: {len(cols)} feature column(s) but the model was trained on {model.n_features} "
            f"({', '.join(model.feature_names or [])})"
        )
    X = values[:, cols]
    proba = model.predict_proba(X)
    labels = [model.classes[1] if p > 0.5 else model.classes[0] for p in proba]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow(["prediction", "probability"] if args.proba else ["prediction"])
        for lab, p in zip(labels, proba):
            w.writerow([_label(lab), f"{p:.6g}"] if args.proba else [_label(lab)])
    finally:
        if args.out:
            out.close()
    if has_target:
        y = values[:, names.index(model.target_name)]
        Y, _ = binary_labels(args.data, y, model.target_name, model.classes)
        P = (proba > 0.5).astype(np.uint8)
        report = sys.stderr if not args.out else sys.stdout
        print(f"Accuracy: {np.mean(P == Y) * 100:.2f}% on {len(Y)} rows", file=report)
        c0, c1 = (_label(c) for c in model.classes)
        width = max(len(c0), len(c1), 9)
        print(f"Confusion matrix (rows: true {model.target_name!r}, columns: predicted):", file=report)
        print(f"  {'':>{width}} {c0:>{width}} {c1:>{width}}", file=report)
        for t, name in ((0, c0), (1, c1)):
            row = [int(np.sum((Y == t) & (P == p))) for p in (0, 1)]
            print(f"  {name:>{width}} {row[0]:>{width}} {row[1]:>{width}}", file=report)
    return 0


def cmd_info(args):
    import platform

    import numba

    import fastshallow as fs
    from fastshallow import kernels
    from fastshallow.bench import machine_line

    cache_dir = numba.config.CACHE_DIR or os.path.join(os.path.dirname(kernels.__file__), "__pycache__")
    cached = []
    if os.path.isdir(cache_dir):
        cached = [f for f in os.listdir(cache_dir) if f.endswith(".nbi")]
    print(f"fastshallow {fs.__version__} (Python {platform.python_version()}, NumPy {np.__version__})")
    print(machine_line())
    print(f"Numba cache directory: {cache_dir}")
    print(f"Compiled kernels cached: {'yes' if cached else 'no'} ({len(cached)} index files)")
    print("dtypes: float32, float64 (computation runs in the parameters' dtype)")
    return 0


def add_commands(sub):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback instead of a one-line error")
    train = sub.add_parser("train", parents=[common], help="train a binary classifier on a CSV, .npy or .npz file")
    train.add_argument("data", help="a .csv with a header, a .npy (rows, columns) or a .npz (X, y)")
    train.add_argument("--target", help="label column, by name or index (default: the last)")
    train.add_argument("--features", help="comma-separated feature columns (default: all but the target)")
    train.add_argument("--hidden", type=int, default=8, help="hidden units (default 8)")
    train.add_argument("--activation", choices=["tanh", "sigmoid", "relu"], default="tanh")
    train.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    train.add_argument("--iters", type=int, default=2000, help="full-batch iterations (default 2000)")
    train.add_argument("--epochs", type=int, help="mini-batch training: passes over the data (with --batch-size)")
    train.add_argument("--batch-size", type=int, help="examples per mini-batch (with --epochs)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    train.add_argument("--threads", type=int, help="threads (default: all cores)")
    train.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed (default 0)")
    train.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                       help="scale features to mean 0, variance 1; stored in the model (default: on)")
    train.add_argument("--validation-fraction", type=float, default=0.0, help="rows held out (default 0)")
    train.add_argument("--early-stopping", action="store_true", help="stop when the validation cost stalls")
    train.add_argument("--patience", type=int, default=10, help="checks without improvement before stopping")
    train.add_argument("--out", default="model.fsn", help="model file to write (default model.fsn)")
    train.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    train.add_argument("--plot", metavar="PATH", help="write the cost curve as a PNG")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_train)

    predict = sub.add_parser("predict", parents=[common], help="predict with a saved model; CSV to stdout or --out")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--proba", action="store_true", help="also write the probability of the second class")
    predict.add_argument("--out", help="CSV file to write (default: stdout)")
    predict.set_defaults(run=cmd_predict)

    info = sub.add_parser("info", parents=[common], help="version, CPU, threading layer and cache")
    info.set_defaults(run=cmd_info)


def run(args):
    """Run a parsed command; turn expected problems into one line and an exit code."""
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (as in `fastshallow predict ... | head`): not an error.
        sys.stdout = open(os.devnull, "w")
        return 0
    except CLIError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"fastshallow {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except (ValueError, TypeError, OSError, MemoryError, FloatingPointError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"fastshallow {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_DATA
