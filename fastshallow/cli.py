"""`fastshallow train`, `predict` and `info`: real data without writing Python.

Built on argparse (standard library) rather than click or typer: it gives subcommands,
help and exit code 2 for usage errors, and the core package keeps its two runtime
dependencies. The progress bar uses tqdm when it is installed (the `progress` extra) and
prints a plain line every few seconds otherwise.

Errors are one line on stderr naming the file, the row or column and the problem, with
exit code 2 for usage errors (bad options, an existing output file) and 1 for data or
model problems. --debug shows the traceback instead. Every option is checked by its
argparse type, before any data is read; every output path before any work
(fastshallow.files: an existing file only with --force, never a directory, FIFO or
device, never one of the command's inputs).
"""

import argparse
import csv
import importlib.util
import math
import os
import re
import signal
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from . import engine
from .engine import ACTIVATION_NAMES
from .errors import divergence_error
from .files import OutputPathError, check_output, write_atomically
from .progress import Progress
from .validation import MAX_AXIS, examples_contiguous

EXIT_DATA = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A problem to report in one line; code is the exit status."""

    def __init__(self, message, code=EXIT_DATA):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------
# Option types: argparse calls them while parsing, so a bad value is a usage error (exit
# 2, with the option's name) before anything is loaded.
# ---------------------------------------------------------------------------------------


def _number(text, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def layer_size(text):
    """A number of hidden units: validation.layer_size's range, as a usage error."""
    value = positive_int(text)
    if value > MAX_AXIS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_AXIS}, got an integer of {len(str(value))} digits")
    return value


def seed(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def positive_float(text):
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def fraction(text):
    """A share of the rows, in [0, 1)."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def threads(text):
    """A thread count that Numba's pool has: 1 to NUMBA_NUM_THREADS."""
    from .threads import max_threads

    value = _number(text, int)
    if not 1 <= value <= max_threads():
        raise argparse.ArgumentTypeError(f"must be between 1 and {max_threads()} (NUMBA_NUM_THREADS), got {value}")
    return value


def column_list(text):
    """Comma-separated column names or indices, each named once."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"column(s) named more than once: {', '.join(repeated)}")
    return names


def choices_list(allowed):
    """A type for comma-separated words, each one of `allowed`."""

    def parse(text):
        words = [w.strip() for w in text.split(",") if w.strip()]
        unknown = [w for w in words if w not in allowed]
        if unknown or not words:
            raise argparse.ArgumentTypeError(
                f"unknown value(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(allowed)}"
            )
        return words

    return parse


def need_extra(module, extra, option):
    """A usage error, before any work, when `option` needs an optional extra that is not
    installed."""
    if importlib.util.find_spec(module) is None:
        raise CLIError(f"{option} needs {module}: pip install '.[{extra}]' (from a fastshallow checkout)", EXIT_USAGE)


def distinct_outputs(**paths):
    """A usage error when two of a command's outputs ({option: path or None}) are one
    file, links resolved: the second would overwrite the first."""
    seen = {}
    for option, path in paths.items():
        if path:
            other = seen.setdefault(os.path.realpath(path), option)
            if other != option:
                raise CLIError(f"{other} and {option} name the same file, {path}", EXIT_USAGE)


def output_path(path, option, *, force=False, inputs=()):
    """check_output as a usage error naming the option."""
    try:
        return check_output(path, overwrite=force, inputs=inputs, what=option)
    except OutputPathError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None


# ---------------------------------------------------------------------------------------
# Reading data
# ---------------------------------------------------------------------------------------


class Table(NamedTuple):
    """A data file's contents. values (rows, columns) float64; a column of text (labels
    such as yes/no) is NaN there and kept as strings in text[column]. delimiter: a CSV's,
    whose rows are named by their line in the file; None for NumPy files, whose rows are
    counted from 0."""

    path: str
    values: np.ndarray
    names: list
    text: dict
    delimiter: str = None

    def where(self, row):
        """A row, as the file would name it. For a CSV, its line, found by reading the file
        again (only an error message asks): blank lines leave no row."""
        if self.delimiter is None:
            return f"row {row}"
        return f"line {_line_of_row(self.path, self.delimiter, row)}"

    def column(self, i):
        """Column i: float64 numbers, or strings for a text column."""
        return self.text[i] if i in self.text else self.values[:, i]


def read_table(path):
    """The Table of a .csv (with a header), .npy or .npz (one 2-D array, or arrays X and y).
    A CLIError names the file, the line and the column of anything unusable."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if not os.path.isfile(path):  # a CSV is read twice (its header, then its rows): a FIFO would hang
        raise CLIError(f"{path}: not a regular file (a directory, FIFO or device); save the data to a file first")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        table = _read_csv(path)
    elif ext in (".npy", ".npz"):
        table = _read_numpy(path, ext)
    else:
        raise CLIError(f"{path}: unsupported file type {ext or '(none)'}; use .csv, .npy or .npz", EXIT_USAGE)
    if table.values.shape[0] == 0:
        raise CLIError(f"{path}: no data rows" + (" under the header" if ext == ".csv" else ""))
    numeric = [i for i in range(len(table.names)) if i not in table.text]
    bad = ~np.isfinite(table.values[:, numeric])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        value = table.values[row, numeric[col]]
        raise CLIError(f"{path}: {table.where(row)}, column {table.names[numeric[col]]!r}: "
                       f"missing or non-finite value ({value})")
    return table


# The delimiters a CSV may use. A file without any of them in its header has one column.
DELIMITERS = ",;\t|"


def _read_csv(path):
    # utf-8-sig: a byte-order mark, as spreadsheet programs write, is not part of the
    # first column's name.
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            sample = f.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if not sample.strip():
        raise CLIError(f"{path}: empty file; expected a header line and rows of numbers")
    delimiter = _delimiter(sample)
    names = [n.strip() for n in next(csv.reader(sample.splitlines()[:1], delimiter=delimiter))]
    _check_header(path, names)
    # quotechar: fields in double quotes, as R and spreadsheets write them ("1","yes"),
    # read as the header is (csv.reader's default quoting). comments=None: CSV has no
    # comments, and loadtxt's default '#' cut a label such as C# down to C.
    read = dict(delimiter=delimiter, skiprows=1, ndmin=2, encoding="utf-8-sig", quotechar='"', comments=None)
    try:
        with warnings.catch_warnings():  # a header without rows is reported by read_table
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            values, text = np.loadtxt(path, dtype=np.float64, **read), {}
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise CLIError(_csv_problem(path, names, delimiter, str(exc))) from None
        # A column of words: read the file as text, and keep each column that is numbers
        # as numbers; split_columns decides whether a text column is acceptable (labels).
        try:
            with warnings.catch_warnings():  # blank lines: left out, as in the numbers' read
                warnings.filterwarnings("ignore", "Input line .* contained no data", UserWarning)
                cells = np.loadtxt(path, dtype=str, **read)
        except ValueError as exc2:
            raise CLIError(_csv_problem(path, names, delimiter, str(exc2))) from None
        values, text = _text_columns(cells)
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if values.size and values.shape[1] != len(names):
        raise CLIError(f"{path}: the header names {len(names)} columns but the rows have {values.shape[1]}")
    return Table(path, values.reshape(-1, len(names)), names, text, delimiter)


def _delimiter(sample):
    """The CSV's delimiter, one of DELIMITERS, sniffed from its first lines; a comma when
    the header has none of them."""
    lines = sample.splitlines()
    if not any(d in lines[0] for d in DELIMITERS):
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return max(DELIMITERS, key=lines[0].count)


def _text_columns(cells):
    """(values, text) from a table of strings: numbers where a column is all numbers,
    else NaN there and the column's stripped strings in text."""
    values = np.full(cells.shape, np.nan)
    text = {}
    for i in range(cells.shape[1]):
        try:
            values[:, i] = cells[:, i].astype(np.float64)
        except ValueError:
            text[i] = np.char.strip(cells[:, i])
    return values, text


def _check_header(path, names):
    """CLIError for a header that cannot name the columns: a name used twice (a model file
    finds its features by name), or a line of numbers, which is data: a file without a
    header. A header of whole numbers (pixel columns named 0, 1, ...) is taken as names."""
    if len(set(names)) < len(names):
        name = next(n for n in names if names.count(n) > 1)
        raise CLIError(f"{path}: column {name!r} appears {names.count(name)} times in the header; "
                       "each column needs a name of its own")
    if all(_is_number(n) for n in names) and not all(re.fullmatch(r"[+-]?\d+", n) for n in names):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise CLIError(f"{path}: the first line holds numbers ({shown}), not column names; add a header line "
                       "that names the columns")


def _data_rows(path, delimiter):
    """(line number, fields) of each row under a CSV's header, empty lines left out as
    np.loadtxt leaves them out (a line of spaces is a row of one value to both)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar='"')
        next(reader, None)
        for fields in reader:
            if fields:
                yield reader.line_num, fields


def _line_of_row(path, delimiter, row):
    """The line of a CSV that holds data row `row` (counted from 0 under the header)."""
    return next((line for k, (line, _) in enumerate(_data_rows(path, delimiter)) if k == row), "?")


def _csv_problem(path, names, delimiter, message):
    """NumPy's loadtxt message, restated with the file's line number and column name. Its
    row numbers do not count blank lines, and it measures a row of the wrong length
    against the first row rather than the header, so the line is found here."""
    m = re.search(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)", message)
    if m:
        text, row, col = m.group(1), int(m.group(2)), int(m.group(3))
        name = names[col - 1] if 0 < col <= len(names) else f"#{col}"
        return f"{path}: line {_line_of_row(path, delimiter, row)}, column {name!r}: {_not_a_number(text)}"
    if "number of columns changed" in message:
        for line, fields in _data_rows(path, delimiter):
            if len(fields) != len(names):
                values = f"{len(fields)} value" + ("s" if len(fields) != 1 else "")
                return f"{path}: line {line}: {values} where the header has {len(names)} columns"
    return f"{path}: unreadable CSV ({message})"


def _not_a_number(text):
    return "missing value" if text.strip() == "" else f"not a number ({str(text)!r})"


def _read_numpy(path, ext):
    try:
        if ext == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                if "X" in z.files:
                    values = _features_and_target(path, z["X"], z["y"] if "y" in z.files else None)
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
    return Table(path, values.astype(np.float64), [f"x{i}" for i in range(values.shape[1])], {})


def _features_and_target(path, X, y):
    """An archive's X (rows, features), or X with y (rows,) as its last column. A 1-D X is
    one feature; y must be one value per row: a second column of y would otherwise have
    become a feature."""
    if y is None:
        return X
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if X.ndim not in (1, 2) or y.ndim != 1:
        name, a = ("X", X) if X.ndim not in (1, 2) else ("y", y)
        raise CLIError(f"{path}: array {name!r} has shape {a.shape}; expected X (rows, features) and y (rows,)")
    if X.shape[0] != y.shape[0]:
        raise CLIError(f"{path}: array 'X' has {X.shape[0]} rows but 'y' has {y.shape[0]}; expected one target per row")
    return np.column_stack([X, y])


def split_columns(table, target, features, need_target=True):
    """(X rows, y or None, feature names, target name) from a table and the options. Every
    feature column must be numbers; the target may be text (class labels)."""
    path, names = table.path, table.names

    def index(name, what):
        if name in names:
            return names.index(name)
        if re.fullmatch(r"-?\d+", name) and -len(names) <= int(name) < len(names):
            return int(name) % len(names)
        raise CLIError(f"{path}: no column {name!r} for {what}; columns are {', '.join(names)}", EXIT_USAGE)

    t = index(target, "--target") if target is not None else (len(names) - 1 if need_target else None)
    cols = [index(f, "--features") for f in features] if features else [i for i in range(len(names)) if i != t]
    if len(set(cols)) != len(cols):
        raise CLIError(f"{path}: --features names a column more than once", EXIT_USAGE)
    if t is not None and t in cols:
        raise CLIError(f"{path}: column {names[t]!r} is both the target and a feature", EXIT_USAGE)
    if not cols:
        raise CLIError(f"{path}: no feature columns left", EXIT_USAGE)
    for c in cols:
        if c in table.text:
            row = next(r for r, v in enumerate(table.text[c]) if not _is_number(v))
            raise CLIError(f"{path}: {table.where(row)}, column {names[c]!r}: {_not_a_number(table.text[c][row])}")
    y = None
    if t is not None:
        y = table.column(t)
        if t in table.text and (y == "").any():
            row = int(np.argmax(y == ""))
            raise CLIError(f"{path}: {table.where(row)}, column {names[t]!r}: missing label")
    return table.values[:, cols], y, [names[i] for i in cols], (names[t] if t is not None else None)


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def standardisation(X):
    """(mean, scale) of each column of X (m, n_x) for Model.prepare, finite for any finite
    X: the moments are taken of each column divided by its largest magnitude (in [-1, 1],
    so the squares cannot overflow) and scaled back. A constant column gets scale 1."""
    big = np.abs(X).max(axis=0)  # (n_x,)
    big[big == 0] = 1.0
    unit = X / big
    mean = unit.mean(axis=0) * big
    scale = unit.std(axis=0) * big
    scale[scale == 0] = 1.0
    return mean, scale


def network_input(table, model, X, rows, dtype, shuffled=False):
    """The network's input (n_x, len(rows)) in dtype from rows `rows` of X (m, n_x),
    standardised as the model says: C-ordered, or with each example's features contiguous
    for examples read in a shuffled order (shuffled; validation.examples_contiguous). A
    CLIError names the column and row of the first value that fastshallow refuses
    (validation.MAX_FEATURE)."""
    from .validation import MAX_FEATURE

    prepared = model.prepare(X[rows])
    bad = ~(np.abs(prepared) <= MAX_FEATURE)
    if bad.any():
        col, k = np.argwhere(bad)[0]
        advice = ("after standardisation (the column's values are too far apart)" if model.mean is not None
                  else f"(at most {MAX_FEATURE:g} in magnitude is accepted; standardise, or drop --no-standardize)")
        raise CLIError(f"{table.path}: {table.where(rows[k])}, column {model.feature_names[col]!r}: "
                       f"value {prepared[col, k]:.3g} {advice}")
    if shuffled:  # prepare's transpose is F-ordered already: no second copy
        return examples_contiguous(np.asarray(prepared, dtype=dtype))
    return np.ascontiguousarray(prepared, dtype=dtype)


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
        classes = [v.item() for v in found]  # Python floats, or str for text labels
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


# The step size when --lr is not given, per solver: today's full-batch default for gradient
# descent, and for Adam a step that suits its normalised updates.
DEFAULT_LR = {"sgd": 0.5, "adam": 0.01}


def cmd_train(args):
    # Everything that can be checked without the data is checked before reading it.
    if args.early_stopping and args.validation_fraction == 0:
        raise CLIError("--early-stopping needs --validation-fraction > 0", EXIT_USAGE)
    if (args.epochs is None) != (args.batch_size is None):
        raise CLIError("--epochs and --batch-size go together (mini-batch training)", EXIT_USAGE)
    if args.solver == "lbfgs":
        for option, given in (("--lr", args.lr is not None), ("--momentum", args.momentum is not None),
                              ("--epochs", args.epochs is not None), ("--early-stopping", args.early_stopping)):
            if given:
                raise CLIError(f"{option} does not apply to --solver lbfgs (full-batch L-BFGS, up to --iters "
                               "iterations)", EXIT_USAGE)
        need_extra("scipy", "sklearn", "--solver lbfgs")
    elif args.momentum is not None and args.solver != "sgd":
        raise CLIError("--momentum applies to --solver sgd only", EXIT_USAGE)
    distinct_outputs(**{"--out": args.out, "--plot": args.plot})
    output_path(args.out, "--out", force=args.force, inputs=[args.data])
    if args.plot:
        need_extra("matplotlib", "plot", "--plot")
        output_path(args.plot, "--plot", force=args.force, inputs=[args.data])

    import fastshallow as fs
    from fastshallow.model_file import Model, save_model

    t0 = time.perf_counter()
    table = read_table(args.data)
    X, y, feature_names, target_name = split_columns(table, args.target, args.features)
    load_seconds = time.perf_counter() - t0
    m_all = X.shape[0]
    n_val = int(round(m_all * args.validation_fraction))
    if m_all - n_val < 2:
        split = f", {m_all - n_val} after --validation-fraction {args.validation_fraction:g}" if n_val else ""
        raise CLIError(f"{args.data}: {m_all} row(s){split}; training needs at least 2")
    task, why = _task(args, table, y, target_name)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(m_all) if n_val else np.arange(m_all)
    train_idx, val_idx = order[n_val:], order[:n_val]
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        target_mean, target_scale = (float(v[0]) for v in standardisation(y[train_idx, None]))
        Y, classes = (y - target_mean) / target_scale, None
        model = Model(params=None, activation=args.activation, classes=None, output="identity",
                      target_mean=target_mean, target_scale=target_scale)
    else:
        Y, classes = binary_labels(args.data, y, target_name)
        model = Model(params=None, activation=args.activation, classes=classes)
    model.feature_names, model.target_name = feature_names, target_name
    if args.standardize:
        model.mean, model.scale = standardisation(X[train_idx])
    dtype = np.dtype(args.dtype)
    Xt = network_input(table, model, X, train_idx, dtype, shuffled=args.epochs is not None)  # (n_x, m)
    Yt = Y[train_idx][None, :]
    Xv = network_input(table, model, X, val_idx, dtype) if n_val else None
    n_x = Xt.shape[0]
    model.params = fs.init_params(n_x, args.hidden, 1, seed=rng, scale=1.0 / np.sqrt(n_x), dtype=dtype)
    trainer = _Trainer(model, Xt, Yt, args, rng)
    check = _Scores(model, Xt, y[train_idx], Xv, y[val_idx], Y[val_idx][None, :]) if n_val else None

    record = engine.Plateau(np.inf, 0)  # the best validation cost, and checks since it improved
    best = (None, 0)  # its params and iteration
    mini = args.epochs is not None
    unit = "epoch" if mini else "it"
    total = args.epochs if mini else args.iters
    compiling = compile_notice()
    progress = Progress(
        total,
        unit,
        enabled=not args.quiet,
        line=lambda done, total, stats: f"  {done}/{total}: " + ", ".join(f"{k} {v}" for k, v in stats.items()),
        stream=sys.stderr,
        every=2.0,
    )
    if compiling:
        progress.update(0, status="compiling kernels")
    t_train = time.perf_counter()

    def after(n):
        """Report n more iterations or epochs; True to stop early."""
        nonlocal record, best
        stats = {"cost": f"{trainer.costs[-1]:.4f}"}
        if check is not None:
            val_cost, score = check.validation()
            stats[check.name] = f"{score:.3f}"
            record, improved = engine.track(record, val_cost, 1e-7, higher_is_better=False)
            if improved:
                best = ({k: v.copy() for k, v in model.params.items()}, trainer.done)
        seconds = time.perf_counter() - t_train
        stats["ex/s"] = f"{trainer.done * Xt.shape[1] / max(seconds, 1e-9):.3g}"  # each step sees every example
        progress.update(n, **stats)
        return args.early_stopping and record.stalled >= args.patience

    with _StopOnInterrupt() as stop:
        trainer.run(total, after, stop)
    progress.close()
    train_seconds = time.perf_counter() - t_train
    stopped_early = args.early_stopping and record.stalled >= args.patience
    if stopped_early and best[0] is not None:
        for k in model.params:
            model.params[k][...] = best[0][k]

    train_score = _Scores(model, Xt, y[train_idx]).score()
    # The saved params' own score: after an early stop they are the best check's, not the
    # last check's.
    val_score = check.validation()[1] if n_val else None
    done = trainer.done
    model.interrupted = stop.requested
    score_key = "r2" if task == "regression" else "accuracy"
    model.info = {"iterations" if not mini else "epochs": done, f"train_{score_key}": train_score,
                  f"validation_{score_key}": val_score, "seed": args.seed,
                  "solver": args.solver, "learning_rate": trainer.lr, "task": task,
                  "data": os.path.basename(args.data)}
    save_model(args.out, model, overwrite=args.force)
    if args.plot:
        _plot_costs(args.plot, trainer.costs, "epoch" if mini else "iteration", overwrite=args.force)

    what = (f"target {target_name!r} (classes {', '.join(_label(c) for c in classes)})" if classes is not None
            else f"target {target_name!r}")
    print(f"Loaded {args.data}: {m_all} rows, {n_x} features, {what} in {load_seconds:.2f} s")
    print(f"Task: {task} ({why})")
    print(f"Trained {done} {'epochs' if mini else 'iterations'} in {train_seconds:.2f} s (solver {args.solver})"
          + (" (interrupted by Ctrl-C)" if stop.requested else "")
          + (f" (early stopping: best validation cost at {best[1]})" if stopped_early else "")
          + (f" ({trainer.stopped})" if trainer.stopped else ""))
    print(_Scores.line("Training", train_score, task))
    if n_val:
        print(_Scores.line("Validation", val_score, task) + f" ({n_val} rows)")
    print(f"Model saved to {args.out}" + (" (training was interrupted)" if stop.requested else ""))
    return 0


def _task(args, table, y, target_name):
    """(task, why): "classification" or "regression", from --task or else from the target
    column: numbers that are not all whole make a regression, anything else (text labels,
    whole numbers) a classification."""
    if args.task != "auto":
        return args.task, "--task"
    numeric = y.dtype.kind == "f"
    if numeric and not np.all(y == np.round(y)):
        return "regression", (f"inferred: target column {target_name!r} holds numbers that are not whole; "
                              "--task classification to override")
    return "classification", (f"inferred: target column {target_name!r} holds labels; --task regression to "
                              "override")


class _Scores:
    """How well a model does on prepared examples X (n_x, m) with targets y (m,), in the
    target's own units: accuracy for a classifier, R² for a regressor; and the validation
    cost for early stopping (Y: the training targets of the validation rows, (1, m))."""

    def __init__(self, model, X, y, X_val=None, y_val=None, Y_val=None):
        self.model, self.X, self.y = model, X, y
        self.X_val, self.y_val, self.Y_val = X_val, y_val, Y_val
        self.name = "val_r2" if model.is_regressor else "val_acc"

    def score(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        if self.model.is_regressor:
            return r2(np.asarray(y, dtype=np.float64), self.model.values(X))
        predicted = np.where(self.model.probability(X) > 0.5, self.model.classes[1], self.model.classes[0])
        return float(np.mean(predicted == y))

    def validation(self):
        import fastshallow as fs

        m = self.model
        cost = fs.cost(m.params, self.X_val, self.Y_val, activation=m.activation, output=m.output)
        return cost, self.score(self.X_val, self.y_val)

    @staticmethod
    def line(what, score, task):
        return f"{what} R²: {score:.4f}" if task == "regression" else f"{what} accuracy: {score * 100:.2f}%"


def r2(y, predicted):
    """The coefficient of determination of predictions against y (1 for a perfect fit; 0
    for predicting the mean; a constant y scores 1 if matched exactly, else 0)."""
    total = np.sum((y - y.mean()) ** 2)
    residual = np.sum((y - predicted) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1 - residual / total)


class _Trainer:
    """The model's training by --solver on the prepared examples Xt (n_x, m), Yt (1, m):
    sgd (with --momentum) or adam through engine.descend, full batch (--iters) or epochs
    of mini-batches (--epochs, --batch-size), the optimiser's state kept between calls;
    or lbfgs through engine.lbfgs. costs holds each iteration's or epoch's cost."""

    def __init__(self, model, Xt, Yt, args, rng):
        self.model, self.args, self.rng = model, args, rng
        self.p = engine.prepare(model.params, Xt, Yt, activation=args.activation, output=model.output, update=True)
        self.lr = None if args.solver == "lbfgs" else (args.lr or DEFAULT_LR[args.solver])
        self.state = [tuple(np.zeros_like(a) for a in self.p.work) for _ in range(2)]  # velocity, moments
        self.t = 0  # the updates made (Adam's bias correction counts them)
        self.costs, self.done, self.stopped = [], 0, None

    def run(self, total, after, stop):
        """Train until total iterations or epochs, stop.requested, or after(n) says so."""
        if self.args.solver == "lbfgs":
            return self._lbfgs(total, after, stop)
        block = 10
        while self.done < total and not stop.requested:
            t_block = time.perf_counter()
            if self.args.epochs is not None:
                self.costs.append(float(np.mean(self._descend(self._epoch_order()))))
                n = 1
            else:
                n = min(block, total - self.done)
                self.costs.extend(self._descend(None, n).tolist())
                # Blocks of about a quarter of a second: progress stays live and Ctrl-C is
                # answered quickly, while validation per call stays a small overhead.
                elapsed = time.perf_counter() - t_block
                block = int(min(max(1, n * 0.25 / max(elapsed, 1e-6)), 10_000))
            self.done += n
            if after(n):
                break

    def _epoch_order(self):
        """A fresh permutation of the examples, each batch's in column order (as they lie in
        memory)."""
        m, batch = self.p.X.shape[1], min(self.args.batch_size, self.p.X.shape[1])
        perm = self.rng.permutation(m)
        return np.concatenate([np.sort(perm[b0 : b0 + batch]) for b0 in range(0, m, batch)]).astype(np.int64)

    def _descend(self, order, n=None):
        """n full-batch steps (order None), or one epoch of the batches of `order`; the
        model's params hold the result (on divergence too, before the error). Returns the
        steps' costs."""
        p, args = self.p, self.args
        if order is None:
            batch, losses, the_plan = 0, np.empty(n), p.plan
        else:
            batch = min(args.batch_size, order.shape[0])
            losses, the_plan = np.empty(-(-order.shape[0] // batch)), engine.plan(batch, p.work)
        if args.solver == "adam":
            rule = engine.adam(self.lr, t=self.t)
        else:
            rule = engine.sgd(self.lr, args.momentum or 0.0, nesterov=False)
        run = engine.descend(p.work, p.X, p.Y, losses, activation=p.activation, output=p.output, rule=rule,
                             the_plan=the_plan, n_threads=args.threads, order=order, batch=batch,
                             velocity=self.state[0], moments=self.state[1])
        engine.commit(p.arrays, p.work)
        self.t += run.done
        if run.status != engine.OK:
            where = f"in batch {run.done}" if order is not None else f"at iteration {self.done + run.done}"
            raise divergence_error(run.status, at=where, cost=losses[run.done], learning_rate=self.lr,
                                   state="The model holds the last state with finite parameters and cost.",
                                   iteration=run.done, costs=losses[: run.done], kept=run.done)
        return losses

    def _lbfgs(self, total, after, stop):
        p = self.p

        def each(intermediate_result):  # scipy passes the loss only to a parameter of this name
            self.costs.append(float(intermediate_result.fun))
            self.done += 1
            if after(1) or stop.requested:
                raise StopIteration

        views, result = engine.lbfgs(p.work, p.X, p.Y, activation=p.activation, output=p.output, the_plan=p.plan,
                                     max_iter=total, max_fun=15000, tol=1e-5, n_threads=self.args.threads,
                                     callback=each)
        if not np.isfinite(result.fun) or not all(np.isfinite(v).all() for v in views):
            raise divergence_error(engine.COST_NOT_FINITE, at="in L-BFGS", cost=result.fun,
                                   learning_rate="(none: lbfgs)", state="No model was saved.",
                                   iteration=self.done, costs=self.costs, kept=0)
        engine.commit(p.arrays, views)
        if result.status == 0 and self.done < total:
            self.stopped = f"L-BFGS converged: {result.message}"


def _plot_costs(path, costs, unit, overwrite):
    from fastshallow.plotting import plot_costs, save_png

    ax = plot_costs(costs)
    ax.set_xlabel(unit)
    ax.set_title("fastshallow train: cost")
    ax.figure.tight_layout()
    save_png(ax.figure, path, what="--plot", overwrite=overwrite)


def read_model(path):
    """The model file at path (model_file.load_model), or a CLIError naming the file and
    what is wrong with it."""
    from fastshallow.model_file import ModelFileError, load_model

    try:
        return load_model(path)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such model file") from None
    except ModelFileError as exc:
        raise CLIError(str(exc)) from None


def cmd_predict(args):
    if args.out:
        output_path(args.out, "--out", force=args.force, inputs=[args.model, args.data])

    model = read_model(args.model)
    table = read_table(args.data)
    names = table.names
    has_target = model.target_name is not None and model.target_name in names
    if model.feature_names and all(n in names for n in model.feature_names):
        features = model.feature_names
    else:
        features = [n for n in names if not (has_target and n == model.target_name)]
    if len(features) != model.n_features:
        raise CLIError(
            f"{args.data}: {len(features)} feature column(s) but the model was trained on {model.n_features} "
            f"({', '.join(model.feature_names or [])})"
        )
    if model.feature_names and features != model.feature_names:
        # Columns taken by position: say so, since renamed and reordered columns would
        # give wrong predictions without any error.
        missing = [n for n in model.feature_names if n not in names]
        print(f"note: {args.data} has no column {', '.join(map(repr, missing))}; its columns "
              f"{', '.join(features)} are taken, in that order, as the model's {', '.join(model.feature_names)}",
              file=sys.stderr)
    target = model.target_name if has_target else None
    X, y, _, _ = split_columns(table, target, features, need_target=False)
    rows = np.arange(X.shape[0])
    prepared = network_input(table, model, X, rows, model.params["W1"].dtype)
    if model.is_regressor:
        if args.proba:
            raise CLIError(f"--proba applies to classifiers; {args.model} is a regressor", EXIT_USAGE)
        return _predict_values(args, model, model.values(prepared), y if has_target else None)
    # The target column is checked before anything is written: a file whose labels the
    # model does not know gets an error, not predictions followed by one.
    Y = binary_labels(args.data, y, model.target_name, model.classes)[0] if has_target else None
    proba = model.probability(prepared)
    labels = [model.classes[1] if p > 0.5 else model.classes[0] for p in proba]

    def write(out):
        w = csv.writer(out)
        w.writerow(["prediction", "probability"] if args.proba else ["prediction"])
        for lab, p in zip(labels, proba):
            w.writerow([_label(lab), f"{p:.6g}"] if args.proba else [_label(lab)])

    if args.out:
        write_atomically(args.out, write, overwrite=args.force, inputs=[args.model, args.data], what="--out",
                         binary=False)
    else:
        write(sys.stdout)
    if Y is not None:
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


def _predict_values(args, model, values, y):
    """A regressor's predictions, as CSV, and with the target column R² and RMSE."""
    if y is not None and y.dtype.kind != "f":  # before anything is written, as cmd_predict's labels
        raise CLIError(f"{args.data}: target column {model.target_name!r} holds text; the model predicts numbers")

    def write(out):
        w = csv.writer(out)
        w.writerow(["prediction"])
        for v in values:
            w.writerow([f"{v:.8g}"])

    if args.out:
        write_atomically(args.out, write, overwrite=args.force, inputs=[args.model, args.data], what="--out",
                         binary=False)
    else:
        write(sys.stdout)
    if y is not None:
        report = sys.stderr if not args.out else sys.stdout
        rmse = float(np.sqrt(np.mean((y - values) ** 2)))
        print(f"R²: {r2(y, values):.4f}, RMSE: {rmse:.6g} on {len(y)} rows", file=report)
    return 0


def cmd_export(args):
    """A model file as an ONNX graph that takes the same raw rows as `predict`."""
    need_extra("onnx", "onnx", "export --onnx")
    need_extra("skl2onnx", "onnx", "export --onnx")
    output_path(args.onnx, "--onnx", force=args.force, inputs=[args.model])

    from fastshallow.onnx import model_file_to_onnx

    model = read_model(args.model)
    graph = model_file_to_onnx(model).SerializeToString()
    write_atomically(args.onnx, lambda f: f.write(graph), overwrite=args.force, inputs=[args.model], what="--onnx")
    kind = "regressor" if model.is_regressor else "binary classifier"
    print(f"Exported {args.model} ({kind}, {model.n_features} features) to {args.onnx}: input 'X' (rows of raw "
          f"features, double), output{'s' if not model.is_regressor else ''} "
          + ("'prediction'" if model.is_regressor else "'label' and 'probability'"))
    return 0


def kernel_cache():
    """(Numba's cache folder for the kernels, the index files in it): one per compiled
    kernel, written on first use and read by every later process."""
    import numba

    from fastshallow.engine import kernel_cache_folder

    folder = numba.config.CACHE_DIR or kernel_cache_folder()
    # Under NUMBA_CACHE_DIR, Numba keeps each source folder's files in a subfolder.
    return folder, sorted(f for _, _, files in os.walk(folder) for f in files if f.endswith(".nbi"))


def compile_notice():
    """Say once, on stderr, that this run compiles the training kernels, when their cache
    holds none for the kernels' current sources: the first run in a fresh environment (or
    after an upgrade) is otherwise silent for tens of seconds."""
    compiling = not engine.training_kernels_cached()
    if compiling:
        print("fastshallow: compiling kernels for this machine, once; later runs load them from the cache",
              file=sys.stderr, flush=True)
    return compiling


def cmd_info(args):
    import platform

    import fastshallow as fs
    from fastshallow.bench import machine_line

    cache_dir, cached = kernel_cache()
    print(f"fastshallow {fs.__version__} (Python {platform.python_version()}, NumPy {np.__version__})")
    print(machine_line())
    print(f"Numba cache directory: {cache_dir}")
    current = "yes" if engine.training_kernels_cached() else "no"
    print(f"Compiled kernels cached: {current} ({len(cached)} index files)")
    print("dtypes: float32, float64 (computation runs in the parameters' dtype)")
    return 0


def add_commands(sub):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback instead of a one-line error")
    train = sub.add_parser("train", parents=[common], help="train a binary classifier or a regressor on a CSV, .npy or .npz file")
    train.add_argument("data", help="a .csv with a header, a .npy (rows, columns) or a .npz (X, y)")
    train.add_argument("--target", help="label column, by name or index (default: the last)")
    train.add_argument("--features", type=column_list, help="comma-separated feature columns (default: all but the target)")
    train.add_argument("--hidden", type=layer_size, default=8, help="hidden units (default 8)")
    train.add_argument("--activation", choices=list(ACTIVATION_NAMES), default="tanh")
    train.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                       help="binary classification, or regression on a numeric target (default auto: regression "
                            "when the target holds numbers that are not all whole)")
    train.add_argument("--solver", choices=["sgd", "adam", "lbfgs"], default="sgd",
                       help="gradient descent (default), Adam, or L-BFGS (full batch; needs SciPy)")
    train.add_argument("--lr", type=positive_float,
                       help=f"learning rate (default {DEFAULT_LR['sgd']} for sgd, {DEFAULT_LR['adam']} for adam)")
    train.add_argument("--momentum", type=fraction, help="momentum of --solver sgd, in [0, 1) (default 0)")
    train.add_argument("--iters", type=positive_int, default=2000,
                       help="full-batch iterations (default 2000; for lbfgs, the most iterations)")
    train.add_argument("--epochs", type=positive_int, help="mini-batch training: passes over the data (with --batch-size)")
    train.add_argument("--batch-size", type=positive_int, help="examples per mini-batch (with --epochs)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    train.add_argument("--threads", type=threads, help="threads (default: all cores)")
    train.add_argument("--seed", type=seed, default=0, help="initialisation and shuffling seed (default 0)")
    train.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                       help="scale features to mean 0, variance 1; stored in the model (default: on)")
    train.add_argument("--validation-fraction", type=fraction, default=0.0, help="rows held out (default 0)")
    train.add_argument("--early-stopping", action="store_true", help="stop when the validation cost stalls")
    train.add_argument("--patience", type=positive_int, default=10, help="checks without improvement before stopping")
    train.add_argument("--out", default="model.fsn", help="model file to write (default model.fsn)")
    train.add_argument("--force", action="store_true", help="overwrite --out and --plot if they exist")
    train.add_argument("--plot", metavar="PATH", help="write the cost curve as a PNG")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_train)

    predict = sub.add_parser("predict", parents=[common], help="predict with a saved model; CSV to stdout or --out")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--proba", action="store_true", help="also write the probability of the second class")
    predict.add_argument("--out", help="CSV file to write (default: stdout)")
    predict.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    predict.set_defaults(run=cmd_predict)

    export = sub.add_parser("export", parents=[common], help="write a model file as ONNX, for serving without Python")
    export.add_argument("model")
    export.add_argument("--onnx", required=True, metavar="PATH", help="the .onnx file to write")
    export.add_argument("--force", action="store_true", help="overwrite --onnx if it exists")
    export.set_defaults(run=cmd_export)

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
