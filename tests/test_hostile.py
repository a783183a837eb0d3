"""Hostile and careless input: every case is a one-line error naming the file, field or
argument, and nothing the user did not ask to change is changed.

Files: an output that is an input, a FIFO, a directory, a missing or read-only folder;
damaged, foreign and oversized model files; CSVs with a header only, a byte-order mark,
other delimiters, text labels, huge values. Arrays: parameters that share memory with
each other or with X. Options: every bad value is a usage error (exit 2) before any data
is read.
"""

import importlib.util
import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastshallow as fs
from fastshallow import model_file
from fastshallow.__main__ import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, *argv):
    """argparse's exit 2 for a bad option; returns its message."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def model(tmp_path, flower_csv, capsys):
    path = tmp_path / "m.fsn"
    assert run(capsys, "train", flower_csv, "--iters", 20, "--out", path, "--quiet")[0] == 0
    return path


def one_line(err):
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


# -- outputs -----------------------------------------------------------------------------


def test_predict_never_overwrites_its_own_inputs(tmp_path, flower_csv, model, capsys):
    data, weights = flower_csv.read_bytes(), model.read_bytes()
    for out in (flower_csv, model):
        for force in ([], ["--force"]):
            code, _, err = run(capsys, "predict", model, flower_csv, "--out", out, *force)
            assert code == 2 and "is also an input of this command" in one_line(err)
    assert flower_csv.read_bytes() == data and model.read_bytes() == weights


def test_predict_refuses_an_existing_out_without_force(tmp_path, flower_csv, model, capsys):
    out = tmp_path / "pred.csv"
    out.write_text("precious")
    code, _, err = run(capsys, "predict", model, flower_csv, "--out", out)
    assert code == 2 and "already exists; use --force" in one_line(err) and out.read_text() == "precious"
    assert run(capsys, "predict", model, flower_csv, "--out", out, "--force")[0] == 0
    assert out.read_text().splitlines()[0] == "prediction"


def test_every_output_refuses_an_existing_file_without_force(tmp_path, flower_csv, capsys):
    """--plot and bench's --json follow --out's rule: a typo that names an existing file
    (a model, the README) must not replace it. Refused before any work; --force replaces."""
    pytest.importorskip("matplotlib")
    precious = tmp_path / "precious.fsn"
    precious.write_bytes(b"precious")
    commands = [
        ["train", flower_csv, "--iters", 20, "--out", tmp_path / "m.fsn", "--plot", precious, "--quiet"],
        ["demo", "--iterations", 20, "--plot", precious],
        ["bench", "--sizes", "tiny", "--repeat", 1, "--no-memory", "--no-per-call", "--json", precious],
        ["bench", "--sizes", "tiny", "--repeat", 1, "--no-memory", "--no-per-call", "--plot", precious],
    ]
    for argv in commands:
        code, _, err = run(capsys, *argv)
        assert code == 2 and "already exists; use --force" in one_line(err), (argv, err)
        assert precious.read_bytes() == b"precious" and not (tmp_path / "m.fsn").exists()
    code, _, err = run(capsys, *commands[0], "--force")
    assert code == 0, err
    assert precious.read_bytes().startswith(b"\x89PNG")


def test_two_outputs_of_one_command_may_not_be_one_file(tmp_path, flower_csv, capsys):
    out = tmp_path / "m.fsn"
    link = tmp_path / "cost.png"
    link.symlink_to(out)
    for plot in (out, link):
        code, _, err = run(capsys, "train", flower_csv, "--out", out, "--plot", plot, "--quiet")
        assert code == 2 and "--out and --plot name the same file" in one_line(err)
    assert not out.exists()
    out.write_bytes(b"precious")  # an existing --out, replaced with --force, is still not the plot
    code, _, err = run(capsys, "train", flower_csv, "--out", out, "--plot", link, "--force", "--quiet")
    assert code == 2 and "--out and --plot name the same file" in one_line(err) and out.read_bytes() == b"precious"
    code, _, err = run(capsys, "bench", "--json", out, "--plot", link)
    assert code == 2 and "--json and --plot name the same file" in one_line(err)


def test_train_never_writes_over_its_data(tmp_path, flower_csv, capsys):
    before = flower_csv.read_bytes()
    code, _, err = run(capsys, "train", flower_csv, "--out", flower_csv, "--force", "--quiet")
    assert code == 2 and "is also an input" in one_line(err) and flower_csv.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_outputs_that_are_not_regular_files_are_refused_even_with_force(tmp_path, flower_csv, model, capsys,
                                                                        command, kind):
    if kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    elif kind == "directory":
        target = tmp_path / "folder"
        target.mkdir()
    else:
        # A device node of its own, never the machine's /dev/null: code with the defect
        # this checks for (as root) replaced /dev/null with a regular file.
        target = tmp_path / "null"
        try:
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("this user may not create device nodes")
    argv = ["train", flower_csv, "--quiet"] if command == "train" else ["predict", model, flower_csv]
    code, _, err = run(capsys, *argv, "--out", target, "--force")
    assert code == 2 and ("is a directory" in one_line(err) or "not a regular file" in one_line(err))
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(target).st_mode)  # still a FIFO
    elif kind == "directory":
        assert target.is_dir() and not any(target.iterdir())
    else:
        assert stat.S_ISCHR(os.stat(target).st_mode)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_plot_and_json_outputs_that_are_not_regular_files_are_refused_even_with_force(tmp_path, flower_csv, capsys,
                                                                                      kind):
    pytest.importorskip("matplotlib")
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    for argv in (["train", flower_csv, "--iters", 20, "--out", tmp_path / "m.fsn", "--quiet", "--plot", target],
                 ["demo", "--iterations", 20, "--plot", target],
                 ["bench", "--sizes", "tiny", "--repeat", 1, "--no-memory", "--no-per-call", "--json", target],
                 ["bench", "--sizes", "tiny", "--repeat", 1, "--no-memory", "--no-per-call", "--plot", target]):
        code, _, err = run(capsys, *argv, "--force")
        assert code == 2 and ("is a directory" in one_line(err) or "not a regular file" in one_line(err)), (argv, err)
        assert (stat.S_ISFIFO(os.stat(target).st_mode) if kind == "fifo"
                else target.is_dir() and not any(target.iterdir()))
    assert not (tmp_path / "m.fsn").exists()  # refused before any work


def test_a_symbolic_link_is_written_through_and_kept(tmp_path, flower_csv, model, capsys):
    real = tmp_path / "elsewhere" / "pred.csv"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    assert run(capsys, "predict", model, flower_csv, "--out", link, "--force")[0] == 0
    assert link.is_symlink() and real.read_text().startswith("prediction")
    # A link to an input is that input.
    data_link = tmp_path / "data-link.csv"
    data_link.symlink_to(flower_csv)
    code, _, err = run(capsys, "predict", model, flower_csv, "--out", data_link, "--force")
    assert code == 2 and "is also an input" in one_line(err)


def test_library_save_refuses_special_files_too(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        fs.save_model(fifo, fs.init_params(2, 3, 1, seed=0), overwrite=True)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("folder", ["missing", "read-only"])
def test_an_unwritable_out_fails_before_any_work(tmp_path, flower_csv, capsys, folder):
    where = tmp_path / folder
    if folder == "read-only":
        where.mkdir()
        where.chmod(0o500)
        if os.access(where, os.W_OK):  # root ignores the mode bits
            pytest.skip("this user can write to read-only folders")
    # Nothing would finish in time: the check must come before training.
    code, out, err = run(capsys, "train", flower_csv, "--iters", 10**9, "--out", where / "m.fsn")
    assert code == 2 and "--out" in one_line(err) and ("does not exist" in err or "not writable" in err)
    assert "Trained" not in out


def test_saved_files_get_the_usual_permissions(tmp_path, flower_csv, model):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o666 & ~umask


# -- model files ---------------------------------------------------------------------------


def _with_header(path, out, change=None, raw=None):
    """A copy of model file `path` at `out` whose JSON header is changed (or replaced)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    if change:
        change(header)
    arrays["header"] = np.frombuffer(raw if raw is not None else json.dumps(header).encode(), np.uint8)
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h.update(classes=[0]), "header field 'classes' must be a list of two labels"),
        (lambda h: h.update(classes=7), "header field 'classes' must be a list of two labels"),
        (lambda h: h.update(classes=[1, 1]), "header field 'classes' must be two different labels"),
        (lambda h: h.update(n_x="2"), "header field 'n_x' must be a positive integer"),
        (lambda h: h.update(feature_names=["x1"]), "header field 'feature_names' must be null or a list of n_x = 2"),
        (lambda h: h.update(standardize="yes"), "header field 'standardize' must be true or false"),
        (lambda h: h.update(info=[1]), "header field 'info' must be an object"),
        (lambda h: h.update(dtype="float16"), "header field 'dtype' must be 'float32' or 'float64'"),
        (lambda h: h.update(n_h=4096), "array 'W1' has shape (8, 2); the header says (4096, 2)"),
        (lambda h: h.update(dtype="float32"), "array 'W1' has dtype float64; the header says float32"),
        (lambda h: h.pop("activation"), "header field 'activation' must be one of"),
        (lambda h: h.update(output="softmax"), "header field 'output' must be 'sigmoid' or 'identity'"),
        (lambda h: h.update(output="identity", format_version=1), "header field 'output' must be 'sigmoid' (format"),
        (lambda h: h.update(output="identity"), "header field 'classes' must be null for a regressor"),
        (lambda h: h.update(output="identity", classes=None, target_mean=0.0),
         "header field 'target_scale' must be a finite number"),
        (lambda h: h.update(output="identity", classes=None, target_mean=0.0, target_scale=-1.0),
         "header field 'target_scale' must be a positive number"),
        (lambda h: h.update(output="identity", classes=None, target_mean="0", target_scale=1.0),
         "header field 'target_mean' must be a finite number"),
        (lambda h: h.update(format_version=3), "model format version 3; this fastshallow"),
    ],
)
def test_damaged_headers_name_the_file_and_field(tmp_path, flower_csv, model, capsys, change, message):
    bad = _with_header(model, tmp_path / "bad.fsn", change)
    with pytest.raises(model_file.ModelFileError) as err:
        model_file.load_model(bad)
    assert str(err.value).startswith(f"{bad}: ") and message in str(err.value)
    code, _, err = run(capsys, "predict", bad, flower_csv)
    assert code == 1 and message in one_line(err)


def test_deeply_nested_header_is_refused_without_recursing(tmp_path, model):
    bad = _with_header(model, tmp_path / "deep.fsn", raw=b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(model_file.ModelFileError, match=r"deep.fsn: damaged header \(nested 200000 deep"):
        model_file.load_model(bad)


def _npy(array=None, header=None, data=b""):
    buf = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buf, array)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(data)
    return buf.getvalue()


def test_huge_declared_arrays_are_refused_before_reading_them(tmp_path, model):
    # The header agrees with a W1 of 16384 x 16384 (2 GiB) that the file does not hold.
    with np.load(model) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes()) | {"n_x": 16384, "n_h": 16384, "standardize": False,
                                                       "feature_names": None}
    members = {
        "header": _npy(np.frombuffer(json.dumps(header).encode(), np.uint8)),
        "W1": _npy(header={"descr": "<f8", "fortran_order": False, "shape": (16384, 16384)}, data=b"\0" * 4096),
        "b1": _npy(np.zeros((16384, 1))),
        "W2": _npy(np.zeros((1, 16384))),
        "b2": _npy(np.zeros((1, 1))),
    }
    bad = tmp_path / "big.fsn"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    with pytest.raises(model_file.ModelFileError, match="array 'W1' is truncated"):
        model_file.load_model(bad)
    # Compressed, the same 2 GiB would fit in a few MiB: model files store arrays as they are.
    squeezed = tmp_path / "squeezed.fsn"
    with zipfile.ZipFile(squeezed, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    with pytest.raises(model_file.ModelFileError, match="is compressed"):
        model_file.load_model(squeezed)


def test_a_model_that_cannot_be_loaded_is_never_written(tmp_path):
    params = fs.init_params(2, 3, 1, seed=0)
    for details, message in [
        (dict(mean=np.zeros(2), scale=np.array([1.0, np.inf])), "array 'scale' at (1,)"),
        (dict(mean=np.zeros(2), scale=np.array([1.0, 0.0])), "array 'scale' at (1,)"),
        (dict(classes=["a"]), "header field 'classes'"),
        (dict(feature_names=["a", "b", "c"]), "header field 'feature_names'"),
        (dict(feature_names="ab"), "header field 'feature_names'"),  # a string, not two names
        (dict(classes="ny"), "header field 'classes'"),
        (dict(classes=[object(), 1]), "header field 'classes' cannot be written as JSON"),
        (dict(target_name=b"y"), "header field 'target_name'"),
        (dict(info={"when": object()}), "header field 'info' cannot be written as JSON"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            fs.save_model(tmp_path / "m.fsn", params, **details)
        assert not os.listdir(tmp_path)


def test_model_paths_that_are_not_files(tmp_path, flower_csv, capsys):
    fifo = tmp_path / "pipe.fsn"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    for path in (tmp_path, fifo):
        code, _, err = run(capsys, "predict", path, flower_csv)
        assert code == 1 and "not a regular file" in one_line(err)


def test_numpy_class_labels_are_saved_as_json_values(tmp_path):
    params = fs.init_params(2, 3, 1, seed=0)
    path = fs.save_model(tmp_path / "m.fsn", params, classes=np.array([3, 7]), info={"epochs": np.int64(4)})
    back = fs.load_model(path)
    assert back.classes == [3, 7] and back.info == {"epochs": 4}


# -- data files --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "predict"])
def test_a_csv_with_a_header_and_no_rows(tmp_path, model, capsys, command):
    empty = tmp_path / "empty.csv"
    empty.write_text("x1,x2,label\n")
    argv = ["train", empty, "--out", tmp_path / "new.fsn"] if command == "train" else ["predict", model, empty]
    code, _, err = run(capsys, *argv)
    assert code == 1 and "empty.csv: no data rows under the header" in one_line(err)


def test_data_paths_that_are_not_files(tmp_path, model, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # reading its header, then its rows, would wait for a writer
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    for path in (fifo, folder):
        code, _, err = run(capsys, "predict", model, path)
        assert code == 1 and "not a regular file" in one_line(err)
        code, _, err = run(capsys, "train", path, "--out", tmp_path / "new.fsn")
        assert code == 1 and "not a regular file" in one_line(err)


def test_numpy_data_that_declares_more_than_it_holds_or_nothing(tmp_path, capsys):
    big = tmp_path / "big.npy"  # declares 100 million rows, holds 6 values
    big.write_bytes(_npy(header={"descr": "<f8", "fortran_order": False, "shape": (100_000_000, 3)}, data=b"\0" * 48))
    code, _, err = run(capsys, "train", big, "--out", tmp_path / "m.fsn")
    assert code == 1 and "big.npy: cannot read as NumPy data" in one_line(err)
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 3)))
    code, _, err = run(capsys, "train", empty, "--out", tmp_path / "m.fsn")
    assert code == 1 and "empty.npy: no data rows" in one_line(err)
    assert not (tmp_path / "m.fsn").exists()


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path, capsys):
    data = tmp_path / "bom.csv"
    data.write_bytes("\ufeffx1,x2,label\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n".encode())
    code, out, err = run(capsys, "train", data, "--features", "x1,x2", "--iters", 5, "--out", tmp_path / "m.fsn",
                         "--quiet")
    assert code == 0, err
    assert model_file.load_model(tmp_path / "m.fsn").feature_names == ["x1", "x2"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_detected(tmp_path, capsys, delimiter):
    rows = ["a,b,y".replace(",", delimiter)] + [delimiter.join(r) for r in [("0.5", "1", "0"), ("2", "-1", "1"),
                                                                           ("1", "1", "1"), ("0", "0", "0")]]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n")
    code, out, err = run(capsys, "train", data, "--iters", 5, "--out", tmp_path / "m.fsn", "--quiet")
    assert code == 0, err
    assert "4 rows, 2 features, target 'y'" in out


def test_text_class_labels_train_and_predict(tmp_path, capsys):
    X, Y = fs.datasets.load_planar_dataset()
    data = tmp_path / "words.csv"
    words = np.where(Y[0] == 1, "yes", "no")
    data.write_text("x1,x2,answer\n" + "".join(f"{a:.5f},{b:.5f},{w}\n" for (a, b), w in zip(X.T, words)))
    code, out, err = run(capsys, "train", data, "--iters", 300, "--lr", 1.2, "--hidden", 4, "--out",
                         tmp_path / "m.fsn", "--quiet")
    assert code == 0, err
    assert "(classes no, yes)" in out
    code, out, err = run(capsys, "predict", tmp_path / "m.fsn", data)
    assert code == 0, err
    assert set(out.splitlines()[1:]) == {"no", "yes"} and "Accuracy:" in err


def test_text_in_a_feature_column_names_the_line(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n1,2,yes\n3,oops,no\n")
    code, _, err = run(capsys, "train", data, "--out", tmp_path / "m.fsn")
    assert code == 1 and "d.csv: line 3, column 'b': not a number ('oops')" in one_line(err)
    data.write_text("a,b,y\n1,2,yes\n3,4,\n")
    code, _, err = run(capsys, "train", data, "--out", tmp_path / "m.fsn")
    assert code == 1 and "d.csv: line 3, column 'y': missing label" in one_line(err)


def test_huge_feature_values_are_standardised_into_a_usable_model(tmp_path, flower_csv, capsys):
    X, Y = fs.datasets.load_planar_dataset()
    data = tmp_path / "huge.csv"
    np.savetxt(data, np.column_stack([X.T * [1e300, 1], Y.T]), delimiter=",", header="x1,x2,label", comments="")
    code, out, err = run(capsys, "train", data, "--iters", 200, "--out", tmp_path / "m.fsn", "--quiet")
    assert code == 0, err
    saved = model_file.load_model(tmp_path / "m.fsn")
    assert np.isfinite(saved.scale).all() and saved.scale[0] > 1e299
    code, out, err = run(capsys, "predict", tmp_path / "m.fsn", data)
    assert code == 0 and "Accuracy:" in err
    # Unstandardised, the same column is refused with its name and line.
    code, _, err = run(capsys, "train", data, "--no-standardize", "--out", tmp_path / "raw.fsn")
    assert code == 1 and "huge.csv: line 2, column 'x1': value" in one_line(err) and "--no-standardize" in err
    assert not (tmp_path / "raw.fsn").exists()


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        (["--lr", "-1"], "argument --lr: must be positive, got -1.0"),
        (["--lr", "nan"], "argument --lr: expected a finite number"),
        (["--threads", "999"], "argument --threads: must be between 1 and"),
        (["--patience", "-5"], "argument --patience: must be at least 1, got -5"),
        (["--features", "x1,x1"], "argument --features: column(s) named more than once: x1"),
        (["--seed", "-1"], "argument --seed: must be a non-negative integer, got -1"),
        (["--validation-fraction", "1"], "argument --validation-fraction: must be in [0, 1), got 1.0"),
        (["--hidden", "0"], "argument --hidden: must be at least 1, got 0"),
        (["--hidden", str(10**23)], "argument --hidden: must be at most 9223372036854775807, got an integer of 24"),
    ],
)
def test_bad_options_are_usage_errors_before_the_data_is_read(tmp_path, capsys, option, message):
    # The data file does not exist: an option error must come first.
    err = usage_error(capsys, "train", tmp_path / "absent.csv", *option)
    assert message in err and "absent.csv" not in err


def test_bench_usage_errors_exit_2(capsys):
    assert "unknown value(s) huge; choose from tiny" in usage_error(capsys, "bench", "--sizes", "huge")
    assert "argument --threads" in usage_error(capsys, "bench", "--threads", "999")
    assert "argument --repeat" in usage_error(capsys, "bench", "--repeat", "0")


def test_no_command_prints_the_help_and_version_is_known(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: fastshallow" in out and "train" in out and "predict" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"fastshallow {fs.__version__}"


def _without_matplotlib(argv, cwd):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import importlib.util; real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'matplotlib' else real(name, *a)\n"
            f"from fastshallow.__main__ import main; sys.exit(main({argv!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_plot_without_matplotlib_fails_before_any_work(tmp_path, flower_csv):
    for argv in (["demo", "--plot", "f.png"],
                 ["train", str(flower_csv), "--iters", str(10**9), "--plot", "c.png", "--out", "m.fsn"]):
        done = _without_matplotlib(argv, tmp_path)
        assert done.returncode == 2, done.stderr
        assert "--plot needs matplotlib: pip install '.[plot]'" in one_line(done.stderr)
        assert "Trained" not in done.stdout and "Cost after" not in done.stdout
    assert not (tmp_path / "m.fsn").exists()


def test_the_demo_plot_shows_its_learning_rate(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from fastshallow import __main__ as entry
    from fastshallow import plotting

    titles = []
    real_save = plotting.save_png

    def save(fig, path, **kw):
        titles.extend(ax.get_title() for ax in fig.axes)
        real_save(fig, path, **kw)

    monkeypatch.setattr(plotting, "save_png", save)
    assert entry.main(["demo", "--iterations", "50", "--learning-rate", "0.5", "--plot", str(tmp_path / "f.png")]) == 0
    assert any("learning rate 0.5" in t for t in titles) and not any("1.2" in t for t in titles)


def test_first_run_says_it_compiles(tmp_path, flower_csv, capsys, monkeypatch):
    # The notice comes when the cache holds no training driver compiled from the kernels'
    # current sources (a fresh environment, or sources changed since: test_cache checks
    # holds_current_code itself), once, before training; a run that loads them is silent.
    from fastshallow import engine

    monkeypatch.setattr(engine, "training_kernels_cached", lambda: False)
    code, _, err = run(capsys, "train", flower_csv, "--iters", 5, "--out", tmp_path / "a.fsn", "--quiet")
    assert code == 0 and err.count("compiling kernels for this machine, once") == 1, err
    monkeypatch.undo()
    # That run compiled or loaded the serial driver, and Numba's cache now lists it.
    assert engine.training_kernels_cached()
    code, _, err = run(capsys, "train", flower_csv, "--iters", 5, "--out", tmp_path / "b.fsn", "--quiet")
    assert code == 0 and "compiling" not in err


# -- arrays --------------------------------------------------------------------------------


def test_parameters_that_share_memory_are_refused_before_anything_is_written():
    X, Y = fs.datasets.load_planar_dataset()
    p = fs.init_params(2, 2, 2, seed=0)
    p["W2"] = p["W1"]
    before = p["W1"].copy()
    with pytest.raises(ValueError, match=r"params\['W1'\] and params\['W2'\] share memory"):
        fs.train(p, X, np.vstack([Y, Y]), num_iterations=3)
    np.testing.assert_array_equal(p["W1"], before)

    p = fs.init_params(2, 4, 1, seed=0)
    buf = np.zeros((5, 1))
    p["b1"], p["b2"] = buf[0:4], buf[3:4]
    with pytest.raises(ValueError, match=r"params\['b1'\] and params\['b2'\] share memory"):
        fs.step(p, X, Y, 0.5)
    assert not buf.any()
    p["b1"], p["b2"] = buf[0:4], buf[4:5]  # neighbours in one buffer, not overlapping: fine
    fs.step(p, X, Y, 0.5)


def test_interleaved_views_of_one_buffer_do_not_count_as_sharing():
    X, Y = fs.datasets.load_planar_dataset()
    p = fs.init_params(2, 4, 1, seed=0)
    buf = np.zeros((4, 2))  # b1 in column 0, X-like data elsewhere: bounds overlap, elements do not
    p["b1"] = buf[:, :1]
    other = buf[:1, 1:]
    p["b2"] = other
    fs.step(p, X, Y, 0.5)


def test_X_or_Y_sharing_memory_with_a_parameter_is_refused():
    p = fs.init_params(2, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"params\['W1'\] and X share memory"):
        fs.train(p, p["W1"].T, np.zeros((2, 4)), num_iterations=1)
    Y = np.zeros((2, 4))
    p["b2"] = Y[:, :1]
    with pytest.raises(ValueError, match=r"params\['b2'\] and Y share memory"):
        fs.train(p, np.ones((2, 4)), Y, num_iterations=1)


def test_estimator_layers_are_copied_in_and_X_may_not_be_the_model():
    pytest.importorskip("sklearn")
    from fastshallow import ShallowNetClassifier

    X = np.random.default_rng(0).standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = ShallowNetClassifier(3, max_iter=2, random_state=0).fit(X, y)
    mine = [np.ones((3, 3)), np.full((3, 1), 2.0)]
    model.coefs_ = mine
    mine[0][...] = 5  # the model holds its own copy
    np.testing.assert_array_equal(model.coefs_[0], 1)
    model.intercepts_ = [np.zeros(3), np.ones(1)]
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape \(3,\); expected \(3, 1\)"):
        model.coefs_ = [np.ones((3, 3)), np.ones(3)]
    np.testing.assert_array_equal(model.coefs_[1], 2)  # nothing half-assigned
    # Unshuffled, so that this F-ordered X is read in place, not copied (_examples_as_columns).
    with pytest.raises(ValueError, match="X share memory"):
        model.set_params(shuffle=False).partial_fit(model.coefs_[0], y[:3])


def test_messages_for_odd_arguments():
    X, Y = fs.datasets.load_planar_dataset()
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        fs.init_params(2, 4, 1, seed=-1)
    with pytest.raises(ValueError, match="num_iterations must be at most"):
        fs.train(fs.init_params(2, 4, 1), X, Y, num_iterations=2**70)
    with pytest.raises(MemoryError, match="over 1000000000000 iterations needs about"):  # 7.3 TiB of costs
        fs.train(fs.init_params(2, 4, 1), X, Y, num_iterations=10**12)
    hollow = {"W1": np.zeros((0, 2)), "b1": np.zeros((0, 1)), "W2": np.zeros((1, 0)), "b2": np.zeros((1, 1))}
    with pytest.raises(ValueError, match=r"n_h \(rows of params\['W1'\]\) is 0; every layer needs at least one unit"):
        fs.forward(hollow, X)


def test_out_of_memory_advice_fits_the_dtype(monkeypatch):
    from fastshallow import validation

    monkeypatch.setattr(validation, "available_memory", lambda: 1024)
    monkeypatch.setattr(validation, "UNCHECKED_SCRATCH", 0)
    X, _ = fs.datasets.load_planar_dataset()
    with pytest.raises(MemoryError, match="available: use float32, fewer hidden units"):
        fs.forward(fs.init_params(2, 4, 1), X)
    with pytest.raises(MemoryError, match="available: fewer hidden units") as err:
        fs.forward(fs.init_params(2, 4, 1, dtype=np.float32), X.astype(np.float32))
    assert "float32," not in str(err.value)


def test_estimator_names_validation_fraction():
    pytest.importorskip("sklearn")
    from fastshallow import ShallowNetClassifier

    X = np.random.default_rng(0).standard_normal((40, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\)"):
        ShallowNetClassifier(early_stopping=True, validation_fraction=1.0).fit(X, y)
    with pytest.raises(ValueError, match="early_stopping cannot hold out validation_fraction=0.01 of 40 samples"):
        ShallowNetClassifier(early_stopping=True, validation_fraction=0.01).fit(X, y)


def test_a_diverging_estimator_warns():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning

    from fastshallow import ShallowNetClassifier

    X = np.random.default_rng(0).standard_normal((200, 8)) * 10
    y = np.arange(200) % 4
    with pytest.warns(ConvergenceWarning, match="training diverged: the loss ended at"):
        ShallowNetClassifier(16, solver="sgd", learning_rate_init=1000.0, max_iter=3, random_state=0).fit(X, y)


def test_calls_that_need_targets_refuse_Y_None_before_compiling():
    """Y=None means "no targets" only to a forward pass: a cost, gradients or training
    without Y was a Numba TypingError (after seconds of compiling) or an AttributeError."""
    from fastshallow import course

    X, Y = fs.datasets.load_planar_dataset()
    params = fs.init_params(2, 4, 1, seed=0)
    before = {k: v.copy() for k, v in params.items()}
    expected = r"^Y must be the targets, an array of shape \(n_y, m\); got None$"
    for call in (lambda: fs.cost(params, X, None), lambda: fs.gradients(params, X, None),
                 lambda: fs.step(params, X, None, 0.1), lambda: fs.train(params, X, None, num_iterations=2)):
        with pytest.raises(TypeError, match=expected):
            call()
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    A2, cache = course.forward_propagation(X, params)
    with pytest.raises(TypeError, match=expected):
        course.backward_propagation(params, cache, X, None)
    with pytest.raises(TypeError, match=expected):
        course.compute_cost(A2, None)


def test_numbers_beyond_float64_are_named_not_overflow_errors():
    X, Y = fs.datasets.load_planar_dataset()
    for call, name in ((lambda: fs.train(fs.init_params(2, 4, 1), X, Y, learning_rate=10**400), "learning_rate"),
                       (lambda: fs.predict(fs.init_params(2, 4, 1), X, threshold=-(10**400)), "threshold"),
                       (lambda: fs.init_params(2, 4, 1, scale=10**400), "scale")):
        with pytest.raises(ValueError, match=f"^{name} must be finite; got a number beyond float64's range$"):
            call()
    with pytest.raises(ValueError, match=r"^n_h must be at most 9223372036854775807; got an integer of 20 digits$"):
        fs.init_params(2, 2**64, 1)


@pytest.mark.filterwarnings("ignore:.*reached max_iter")
def test_a_network_too_large_for_the_memory_is_refused_before_any_draw(monkeypatch):
    """Parameters within the kernel's overcommit but beyond the memory were allocated, and
    the process was killed as the draws filled them (hidden_layer_sizes=(10**9,) on a 24
    GiB machine). Now a MemoryError names the network first, and no generator has moved."""
    from fastshallow import course, validation

    monkeypatch.setattr(validation, "available_memory", lambda: 2**30)
    expected = r"^a network of 3-100000000-1 needs about [\d.]+ GiB to make its parameters but only 1.00 GiB is"
    rng = np.random.default_rng(0)
    with pytest.raises(MemoryError, match=expected):
        fs.init_params(3, 10**8, 1, seed=rng)
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn
    np.random.seed(5)
    with pytest.raises(MemoryError, match=expected):
        course.initialize_parameters(3, 10**8, 1, seed=None)
    assert np.random.rand() == np.random.RandomState(5).rand()
    fs.init_params(3, 10**5, 1)  # 8 MB of draws and parameters: below the checked size, made
    if importlib.util.find_spec("sklearn") is None:
        return
    from fastshallow import ShallowNetClassifier

    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    model = ShallowNetClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    coefs = [c.copy() for c in model.coefs_]
    model.set_params(hidden_layer_sizes=(10**8,))
    with pytest.raises(MemoryError, match=expected):
        model.fit(X, y)
    for a, b in zip(model.coefs_, coefs):  # the fitted model is as it was
        np.testing.assert_array_equal(a, b)
