"""`fastshallow train`, `predict` and `info`, end to end: through main() in this process,
and through a subprocess where a signal or a fresh interpreter is the point."""

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import fastshallow as fs
from fastshallow import cli, model_file
from fastshallow.__main__ import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_train_then_predict_on_a_csv(tmp_path, flower_csv, capsys):
    model = tmp_path / "m.fsn"
    code, out, err = run(capsys, "train", flower_csv, "--hidden", 4, "--lr", 1.2, "--iters", 3000,
                         "--validation-fraction", 0.25, "--out", model, "--quiet")
    assert code == 0, err
    assert "Loaded" in out and "400 rows, 2 features, target 'label'" in out
    assert "Training accuracy:" in out and "Validation accuracy:" in out and f"Model saved to {model}" in out
    saved = model_file.load_model(model)
    assert saved.feature_names == ["x1", "x2"] and saved.target_name == "label" and saved.mean is not None
    assert saved.info["iterations"] == 3000 and not saved.interrupted

    code, out, err = run(capsys, "predict", model, flower_csv, "--proba")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "prediction,probability" and len(lines) == 401
    preds = np.array([float(line.split(",")[0]) for line in lines[1:]])
    proba = np.array([float(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_array_equal(preds, (proba > 0.5).astype(float))
    # The target column is in the file: accuracy and a confusion matrix, on stderr because
    # stdout carries the predictions.
    assert "Accuracy:" in err and "Confusion matrix" in err
    truth = np.loadtxt(flower_csv, delimiter=",", skiprows=1)[:, 2]
    reported = float(err.split("Accuracy: ")[1].split("%")[0])
    assert reported == pytest.approx(np.mean(preds == truth) * 100, abs=0.01)


def test_predict_writes_to_out_and_works_without_the_target(tmp_path, flower_csv, capsys):
    model = tmp_path / "m.fsn"
    assert run(capsys, "train", flower_csv, "--iters", 200, "--out", model, "--quiet")[0] == 0
    rows = np.loadtxt(flower_csv, delimiter=",", skiprows=1)[:, :2]
    features = tmp_path / "features.csv"
    np.savetxt(features, rows, delimiter=",", header="x1,x2", comments="")
    out_csv = tmp_path / "pred.csv"
    code, out, err = run(capsys, "predict", model, features, "--out", out_csv)
    assert code == 0, err
    assert out_csv.read_text().splitlines()[0] == "prediction" and len(out_csv.read_text().splitlines()) == 401
    assert "Accuracy" not in out + err and "note:" not in err
    # Columns under other names are taken by position, and stderr says so.
    renamed = tmp_path / "renamed.csv"
    np.savetxt(renamed, rows, delimiter=",", header="width,x2", comments="")
    code, out, err = run(capsys, "predict", model, renamed)
    assert code == 0 and len(out.splitlines()) == 401
    assert "note: " in err and "has no column 'x1'; its columns width, x2 are taken, in that order" in err


def test_npy_and_npz_inputs(tmp_path, capsys):
    X, Y = fs.datasets.load_planar_dataset()
    np.save(tmp_path / "d.npy", np.column_stack([X.T, Y.T]))
    np.savez(tmp_path / "d.npz", X=X.T, y=Y[0])
    for name in ("d.npy", "d.npz"):
        code, out, err = run(capsys, "train", tmp_path / name, "--iters", 100, "--out", tmp_path / f"{name}.fsn", "--quiet")
        assert code == 0, err
        assert "400 rows, 2 features" in out
    # y must be one target per row: a second column of y was taken as a feature, and rows
    # that did not match were NumPy's concatenation error.
    for y, message in ((np.column_stack([Y[0], Y[0]]), "array 'y' has shape (400, 2)"),
                       (Y[0, :10], "array 'X' has 400 rows but 'y' has 10")):
        np.savez(tmp_path / "bad.npz", X=X.T, y=y)
        code, out, err = run(capsys, "train", tmp_path / "bad.npz", "--out", tmp_path / "bad.fsn", "--quiet")
        assert code == 1 and message in err and not (tmp_path / "bad.fsn").exists()


def test_mini_batches_and_early_stopping(tmp_path, flower_csv, capsys):
    code, out, err = run(capsys, "train", flower_csv, "--epochs", 30, "--batch-size", 64, "--validation-fraction", 0.2,
                         "--early-stopping", "--patience", 3, "--out", tmp_path / "m.fsn", "--quiet")
    assert code == 0, err
    assert "epochs in" in out


def test_an_early_stop_saves_the_validation_score_of_the_params_it_keeps(tmp_path, flower_csv, capsys):
    """After an early stop the model keeps the best check's params; the score saved with
    it is theirs (the line printed for them), not the last check's."""
    model = tmp_path / "m.fsn"
    code, out, err = run(capsys, "train", flower_csv, "--epochs", 200, "--batch-size", 32, "--validation-fraction",
                         0.3, "--early-stopping", "--patience", 3, "--lr", 0.5, "--seed", 0, "--out", model, "--quiet")
    assert code == 0, err
    assert "early stopping: best validation cost at" in out
    printed = out.split("Validation accuracy: ")[1].split("%")[0]
    assert f"{model_file.load_model(model).info['validation_accuracy'] * 100:.2f}" == printed


def test_mini_batches_read_examples_laid_out_contiguously(tmp_path, flower_csv, capsys, monkeypatch):
    """Shuffled mini-batches read X with each example's features contiguous (F-ordered
    (n_x, m), validation.examples_contiguous); full batches read it C-ordered. The same
    bits either way, so only the layout the kernels get can show it."""
    seen = []
    real = cli.engine.descend

    def descend(params, X, *args, **kwargs):
        seen.append((kwargs.get("order") is not None, X.flags.f_contiguous, X.flags.c_contiguous))
        return real(params, X, *args, **kwargs)

    monkeypatch.setattr(cli.engine, "descend", descend)
    for options in (["--epochs", 2, "--batch-size", 64], ["--iters", 3]):
        assert run(capsys, "train", flower_csv, *options, "--out", tmp_path / "m.fsn", "--force", "--quiet")[0] == 0
    assert {s for s in seen if s[0]} == {(True, True, False)} and {s for s in seen if not s[0]} == {(False, False, True)}


def test_overwrite_needs_force(tmp_path, flower_csv, capsys):
    model = tmp_path / "m.fsn"
    model.write_bytes(b"precious")
    code, out, err = run(capsys, "train", flower_csv, "--iters", 10, "--out", model, "--quiet")
    assert code == 2 and "already exists; use --force" in err and model.read_bytes() == b"precious"
    assert run(capsys, "train", flower_csv, "--iters", 10, "--out", model, "--force", "--quiet")[0] == 0
    assert model_file.load_model(model).info["iterations"] == 10


@pytest.mark.parametrize(
    "name, text, code, pattern",
    [
        ("bad.csv", "a,b,y\n1,2,0\n3,oops,1\n", 1, r"bad.csv: line 3, column 'b': not a number \('oops'\)"),
        ("gap.csv", "a,b,y\n1,2,0\n3,,1\n", 1, r"gap.csv: line 3, column 'b': missing value"),
        ("short.csv", "a,b,y\n1,2,0\n3,1\n", 1, r"short.csv: line 3: 2 values where the header has 3 columns"),
        # loadtxt measures rows against the first one and does not count blank lines: the
        # line named is the file's own.
        ("long.csv", "a,b,y\n1,2,0,9\n3,4,1\n", 1, r"long.csv: line 2: 4 values where the header has 3 columns"),
        ("blanks.csv", "a,b,y\n1,2,0\n\n\n3,x,1\n", 1, r"blanks.csv: line 5, column 'b': not a number \('x'\)"),
        ("blank_nan.csv", "a,b,y\n1,2,0\n\n3,nan,1\n", 1, r"blank_nan.csv: line 4, column 'b': missing or non-finite"),
        ("blank_gap.csv", "a,b,y\n\n1,2,0\n3,,1\n", 1, r"blank_gap.csv: line 4, column 'b': missing value"),
        ("comment.csv", "a,b,y\n# two rows\n1,2,0\n3,4,1\n", 1, r"comment.csv: line 2: 1 value where the header has 3"),
        ("spaces.csv", "a,b,y\n1,2,0\n   \n3,4,1\n", 1, r"spaces.csv: line 3: 1 value where the header has 3"),
        ("twice.csv", "a,a,y\n1,2,0\n3,4,1\n", 1, r"twice.csv: column 'a' appears 2 times in the header"),
        ("headless.csv", "0.5,1.5,0\n1,2,1\n3,4,0\n", 1,
         r"headless.csv: the first line holds numbers \(0.5, 1.5, 0\), not column names"),
        ("three.csv", "a,y\n1,0\n2,1\n3,2\n", 1, r"three.csv: target column 'y' has 3 distinct value\(s\) \(0, 1, 2\)"),
        ("one.csv", "a,y\n1,0\n", 1, r"one.csv: 1 row\(s\); training needs at least 2"),
        ("split.csv", "a,y\n1,0\n2,1\n3,0\n4,1\n", 1, r"split.csv: 4 row\(s\), 1 after --validation-fraction 0.8; "
         r"training needs at least 2"),
        ("empty.csv", "", 1, r"empty.csv: empty file"),
        ("data.txt", "a,y\n1,0\n", 2, r"data.txt: unsupported file type .txt"),
    ],
)
def test_data_problems_are_one_line_errors(tmp_path, capsys, name, text, code, pattern):
    path = write(tmp_path, name, text)
    split = ["--validation-fraction", 0.8] if name == "split.csv" else []
    got, out, err = run(capsys, "train", path, "--out", tmp_path / "m.fsn", "--quiet", *split)
    assert got == code
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert __import__("re").search(pattern, err), err
    assert not (tmp_path / "m.fsn").exists()


def test_a_hash_is_part_of_a_field_and_whole_numbers_can_name_columns(tmp_path, capsys):
    # CSV has no comments: labels C# and F# stay themselves (np.loadtxt's default cut
    # them at the '#'). A header of whole numbers, as pixel columns are often named, is a
    # header.
    rows = "".join(f"{x},{x * 0.5},{'C#' if x > 0 else 'F#'}\n" for x in np.linspace(-1, 1, 20))
    data = write(tmp_path, "keys.csv", "0,1,2\n" + rows)
    model = tmp_path / "m.fsn"
    code, out, err = run(capsys, "train", data, "--iters", 200, "--out", model, "--quiet")
    assert code == 0, err
    assert "target '2' (classes C#, F#)" in out and fs.load_model(model).classes == ["C#", "F#"]
    code, out, err = run(capsys, "predict", model, data)
    assert code == 0, err
    assert set(out.splitlines()[1:]) <= {"C#", "F#"} and len(out.splitlines()) == 21


def test_quoted_fields_are_read_as_their_contents(tmp_path, capsys):
    """Fields in double quotes, as R's write.csv and spreadsheets write them: a number in
    quotes is a number, and a quoted label may hold the delimiter."""
    path = write(tmp_path, "quoted.csv",
                 '"a","b","label"\n"1","2.5","yes, sir"\n"3",1,"no"\n"0","-1","yes, sir"\n"2","0","no"\n')
    table = cli.read_table(str(path))
    assert table.names == ["a", "b", "label"]
    np.testing.assert_array_equal(table.values[:, :2], [[1, 2.5], [3, 1], [0, -1], [2, 0]])
    assert list(table.text[2]) == ["yes, sir", "no", "yes, sir", "no"]
    code, out, err = run(capsys, "train", path, "--iters", 50, "--out", tmp_path / "m.fsn", "--quiet")
    assert code == 0, err
    assert model_file.load_model(tmp_path / "m.fsn").classes == ["no", "yes, sir"]


def test_missing_file_and_unknown_column(tmp_path, flower_csv, capsys):
    code, _, err = run(capsys, "train", tmp_path / "nope.csv")
    assert code == 1 and "nope.csv: no such file" in err
    code, _, err = run(capsys, "train", flower_csv, "--target", "price", "--out", tmp_path / "m.fsn")
    assert code == 2 and "no column 'price' for --target; columns are x1, x2, label" in err


def test_bad_options_are_usage_errors(tmp_path, flower_csv, capsys):
    for extra, message in [
        (["--epochs", "3"], "--epochs and --batch-size go together"),
        (["--early-stopping"], "--early-stopping needs --validation-fraction > 0"),
    ]:
        code, _, err = run(capsys, "train", flower_csv, "--out", tmp_path / "m.fsn", *extra)
        assert code == 2 and message in err, err
    # Values an option's type refuses: argparse's usage error, exit 2.
    for extra, message in [
        (["--validation-fraction", "1.5"], "argument --validation-fraction: must be in [0, 1)"),
        (["--hidden", "0"], "argument --hidden: must be at least 1"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", str(flower_csv), "--out", str(tmp_path / "m.fsn"), *extra])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])  # argparse: missing argument
    assert exit_info.value.code == 2


def test_feature_count_must_match_the_model(tmp_path, flower_csv, capsys):
    model = tmp_path / "m.fsn"
    run(capsys, "train", flower_csv, "--iters", 10, "--out", model, "--quiet")
    other = write(tmp_path, "wide.csv", "p,q,r\n1,2,3\n4,5,6\n")
    code, _, err = run(capsys, "predict", model, other)
    assert code == 1 and "wide.csv: 3 feature column(s) but the model was trained on 2 (x1, x2)" in err


def test_a_float32_model_judges_rows_before_casting_them():
    """Model.predict_proba on a float32 model: rows beyond float32's range are too large
    (the error says so), not cast to inf first; ordinary rows give the float32 result."""
    model = model_file.Model(params=fs.init_params(3, 5, 1, seed=0, dtype=np.float32))
    rows = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(model.predict_proba(rows),
                                  fs.forward(model.params, rows.T.astype(np.float32))[0].astype(np.float64))
    rows[2, 1] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"X has values up to 1e\+300 in magnitude"):
            model.predict_proba(rows)


def test_debug_shows_the_traceback(tmp_path, capsys):
    path = write(tmp_path, "bad.csv", "a,y\nx,1\n1,0\n")
    with pytest.raises(Exception, match="not a number"):
        main(["train", str(path), "--debug", "--out", str(tmp_path / "m.fsn")])


def _model(tmp_path):
    params = fs.init_params(3, 5, 1, seed=0)
    return model_file.Model(params=params, feature_names=["a", "b", "c"], target_name="y")


def test_model_file_round_trip(tmp_path):
    model = _model(tmp_path)
    model.mean, model.scale = np.array([1.0, 2, 3]), np.array([1.0, 0.5, 2])
    path = model_file.save_model(tmp_path / "m.fsn", model)
    back = model_file.load_model(path)
    for k in model.params:
        np.testing.assert_array_equal(back.params[k], model.params[k])
    np.testing.assert_array_equal(back.scale, model.scale)
    assert back.feature_names == ["a", "b", "c"] and back.activation == "tanh"
    with pytest.raises(FileExistsError):
        model_file.save_model(path, model)
    # A path as bytes, as os functions take it (zipfile took bytes for the file's contents).
    raw = os.fsencode(tmp_path / "raw.fsn")
    assert model_file.save_model(raw, model) == os.fsdecode(raw)
    np.testing.assert_array_equal(model_file.load_model(raw).params["W1"], model.params["W1"])
    # Anything else names the argument (it was Python's "expected str, bytes or os.PathLike").
    with pytest.raises(TypeError, match=r"^path must be a file path \(str, bytes or os.PathLike\); got NoneType$"):
        model_file.load_model(None)
    with pytest.raises(TypeError, match=r"^model file must be a file path \(str, bytes or os.PathLike\); got int$"):
        model_file.save_model(3, model)


def test_a_model_files_methods_refuse_what_does_not_fit_it(tmp_path):
    model = _model(tmp_path)
    model.mean, model.scale = np.zeros(3), np.ones(3)
    np.testing.assert_array_equal(model.predict_proba([[1, 2, 3]]), model.predict_proba(np.array([[1.0, 2, 3]])))
    # Rows of the wrong width met the standardisation first (NumPy's broadcast error).
    for rows in (np.zeros((4, 2)), np.zeros(3)):
        with pytest.raises(ValueError, match=r"X_rows must have shape \(rows, 3\), one column per feature \(a, b, c\)"):
            model.predict_proba(rows)
    with pytest.raises(TypeError, match="X_rows must hold real numbers"):
        model.predict_proba([["a", "b", "c"]])
    # A classifier has no values(), a regressor no probability(): they computed nonsense or
    # failed on a None scale.
    with pytest.raises(TypeError, match="values\\(\\) gives a regressor's predictions; this model is a classifier"):
        model.values(model.prepare(np.zeros((2, 3))))
    regressor = model_file.Model(params=model.params, output="identity", classes=None, target_mean=1.0, target_scale=2.0)
    with pytest.raises(TypeError, match="this model is a regressor"):
        regressor.predict_proba(np.zeros((2, 3)))


def test_a_crash_between_write_and_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.fsn"
    model_file.save_model(path, _model(tmp_path))
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(model_file.os, "replace", crash)
    newer = _model(tmp_path)
    newer.params["W1"] += 1
    with pytest.raises(OSError, match="simulated crash"):
        model_file.save_model(path, newer, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.fsn"]  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign", "future", "nan"])
def test_damaged_or_foreign_model_files_give_clear_errors(tmp_path, capsys, flower_csv, damage):
    path = tmp_path / "m.fsn"
    model_file.save_model(path, model_file.Model(params=fs.init_params(2, 3, 1, seed=0)))
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 200)
    elif damage == "foreign":
        np.savez(tmp_path / "other.npz", weights=np.ones(3))
        os.replace(tmp_path / "other.npz", path)
    else:
        import json

        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays["header"].tobytes())
        if damage == "future":
            header["format_version"] = 99
        else:
            arrays["W1"][0, 0] = np.nan
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    with pytest.raises(model_file.ModelFileError):
        model_file.load_model(path)
    code, _, err = run(capsys, "predict", path, flower_csv)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert {"truncate": "not a readable", "garbage": "not a readable", "foreign": "no header",
            "future": "format version 99", "nan": "non-finite"}[damage] in err


def test_info_prints_the_environment(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0
    for word in ("fastshallow", "CPU:", "threading layer", "Numba cache directory", "Compiled kernels cached", "float32"):
        assert word in out


def test_ctrl_c_stops_cleanly_and_saves_the_model(tmp_path, flower_csv):
    model = tmp_path / "m.fsn"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastshallow", "train", str(flower_csv), "--iters", "100000000", "--out", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait for the first progress line: training is under way.
    deadline = time.monotonic() + 300
    line = proc.stderr.readline()
    assert line and time.monotonic() < deadline, "no progress reported"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Interrupted" in err and "(interrupted by Ctrl-C)" in out and "Model saved to" in out
    saved = model_file.load_model(model)
    assert saved.interrupted and 0 < saved.info["iterations"] < 100_000_000
    assert all(np.isfinite(v).all() for v in saved.params.values())


def test_progress_bar_and_cost_plot(tmp_path, flower_csv, capsys):
    pytest.importorskip("tqdm")
    png = tmp_path / "cost.png"
    code, out, err = run(capsys, "train", flower_csv, "--iters", 500, "--validation-fraction", 0.2,
                         "--out", tmp_path / "m.fsn", "--plot", png)
    assert code == 0, err
    # tqdm's bar on stderr, with the cost, validation accuracy and throughput.
    assert "500/500" in err and "cost=" in err and "val_acc=" in err and "ex/s=" in err
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_top_level_save_and_load(tmp_path):
    params = fs.init_params(2, 3, 1, seed=1)
    path = fs.save_model(tmp_path / "p.fsn", params, activation="relu", classes=["no", "yes"])
    back = fs.load_model(path)
    assert back.activation == "relu" and back.classes == ["no", "yes"]
    np.testing.assert_array_equal(back.params["W1"], params["W1"])
    with pytest.raises(FileExistsError):
        fs.save_model(path, params)


def test_predict_with_text_class_labels(tmp_path, capsys):
    params = fs.init_params(2, 3, 1, seed=1)
    model = fs.save_model(tmp_path / "p.fsn", params, classes=["no", "yes"], feature_names=["a", "b"])
    data = write(tmp_path, "d.csv", "a,b\n0.5,1\n-3,2\n")
    code, out, err = run(capsys, "predict", model, data)
    assert code == 0, err
    assert set(out.splitlines()[1:]) <= {"no", "yes"} and len(out.splitlines()) == 3


@pytest.mark.parametrize("to_file", [False, True])
def test_a_target_column_the_model_cannot_score_is_refused_before_any_prediction(tmp_path, capsys, to_file):
    # A classifier's target column with a label it does not know, and a regressor's
    # target column of text: one error, and no predictions on stdout or in --out.
    classifier = fs.save_model(tmp_path / "c.fsn", fs.init_params(2, 3, 1, seed=1), classes=["no", "yes"],
                               feature_names=["a", "b"], target_name="answer")
    regressor = fs.save_model(tmp_path / "r.fsn", fs.init_params(2, 3, 1, seed=1), output="identity", classes=None,
                              target_mean=0.0, target_scale=1.0, feature_names=["a", "b"], target_name="price")
    cases = [(classifier, "a,b,answer\n0.5,1,no\n-3,2,maybe\n", "has labels maybe that the model does not know"),
             (regressor, "a,b,price\n0.5,1,cheap\n-3,2,dear\n", "holds text; the model predicts numbers")]
    for model, text, message in cases:
        data = write(tmp_path, "d.csv", text)
        out_csv = tmp_path / "pred.csv"
        code, out, err = run(capsys, "predict", model, data, *(["--out", out_csv] if to_file else []))
        assert code == 1 and message in err and "prediction" not in out
        assert not out_csv.exists()


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_every_solver_trains_a_classifier(tmp_path, flower_csv, capsys, solver):
    extra = ["--momentum", 0.9, "--lr", 0.1] if solver == "sgd" else []
    model = tmp_path / "m.fsn"
    code, out, err = run(capsys, "train", flower_csv, "--hidden", 4, "--iters", 300, "--solver", solver,
                         *extra, "--out", model, "--quiet")
    assert code == 0, err
    assert f"(solver {solver})" in out and "Task: classification (inferred" in out
    accuracy = float(out.split("Training accuracy: ")[1].split("%")[0])
    assert accuracy > 80
    loaded = fs.load_model(model)
    assert loaded.output == "sigmoid" and loaded.info["solver"] == solver


def regression_csv(tmp_path, n=300):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3)) * [1, 10, 100] + [0, 50, -20]
    y = 1000 + 300 * np.sin(X[:, 0]) + 2 * X[:, 1] + rng.standard_normal(n)
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,price", comments="")
    return path, X, y


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_a_float_target_trains_a_regressor_and_predicts_its_units(tmp_path, capsys, solver):
    path, X, y = regression_csv(tmp_path)
    model = tmp_path / "r.fsn"
    lr = ["--lr", 0.1] if solver == "sgd" else []
    code, out, err = run(capsys, "train", path, "--hidden", 16, "--iters", 1000, "--solver", solver, *lr,
                         "--validation-fraction", 0.2, "--out", model, "--quiet")
    assert code == 0, err
    assert "Task: regression (inferred: target column 'price' holds numbers that are not whole" in out
    assert float(out.split("Training R²: ")[1].split()[0]) > 0.9
    loaded = fs.load_model(model)
    assert loaded.output == "identity" and loaded.classes is None and loaded.target_scale > 0
    code, out, err = run(capsys, "predict", model, path)
    assert code == 0, err
    predicted = np.array([float(v) for v in out.split()[1:]])
    assert predicted.shape == (300,) and np.corrcoef(predicted, y)[0, 1] > 0.95  # in the target's units
    assert abs(predicted.mean() - y.mean()) < 0.1 * y.std()
    assert "R²: " in err and "RMSE" in err
    # The model file's own forward pass, in Python, gives the same numbers.
    np.testing.assert_allclose(predicted, loaded.values(loaded.prepare(X)), rtol=1e-6)


def test_task_can_be_forced_and_wrong_uses_are_refused(tmp_path, flower_csv, capsys):
    path, _, _ = regression_csv(tmp_path)
    code, out, err = run(capsys, "train", flower_csv, "--task", "regression", "--iters", 50, "--out",
                         tmp_path / "r.fsn", "--quiet")
    assert code == 0, err
    assert "Task: regression (--task)" in out
    code, _, err = run(capsys, "train", path, "--task", "classification", "--out", tmp_path / "c.fsn", "--quiet")
    assert code == 1 and "fastshallow train fits a binary model: two classes" in err
    code, _, err = run(capsys, "predict", tmp_path / "r.fsn", flower_csv, "--proba")
    assert code == 2 and "--proba applies to classifiers" in err
    for extra, message in (
        (["--solver", "lbfgs", "--lr", "0.1"], "--lr does not apply to --solver lbfgs"),
        (["--solver", "lbfgs", "--epochs", "2", "--batch-size", "8"], "--epochs does not apply to --solver lbfgs"),
        (["--solver", "adam", "--momentum", "0.5"], "--momentum applies to --solver sgd only"),
        (["--solver", "newton"], "invalid choice: 'newton'"),
        (["--momentum", "1.5"], "must be in [0, 1)"),
    ):
        try:  # argparse's own errors exit; the command's return 2
            code, _, err = run(capsys, "train", flower_csv, *extra, "--out", tmp_path / "x.fsn")
        except SystemExit as exc:
            code, err = exc.code, capsys.readouterr().err
        assert code == 2 and message in err, (extra, err)
    assert not (tmp_path / "x.fsn").exists()


def test_adam_keeps_its_state_across_progress_blocks(tmp_path, flower_csv, capsys):
    # The CLI trains in blocks of iterations (for progress and Ctrl-C); Adam's moments and
    # update count carry over, so the result is that of one run of all the iterations.
    import fastshallow.engine as engine

    models = []
    for iters in (1, 400):
        model = tmp_path / f"a{iters}.fsn"
        assert run(capsys, "train", flower_csv, "--solver", "adam", "--iters", iters, "--out", model,
                   "--quiet")[0] == 0
        models.append(fs.load_model(model))
    table = np.loadtxt(flower_csv, delimiter=",", skiprows=1)
    start = models[0]
    params = fs.init_params(2, 8, 1, seed=np.random.default_rng(0), scale=1.0 / np.sqrt(2))
    X = start.prepare(table[:, :2])
    Y = table[:, 2:].T
    p = engine.prepare(params, X, Y, update=True)
    state = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
    engine.descend(p.work, p.X, p.Y, np.empty(400), activation=p.activation, output=p.output,
                   rule=engine.adam(0.01), the_plan=p.plan, velocity=state[0], moments=state[1])
    for k, expected in zip(("W1", "b1", "W2", "b2"), p.work):
        np.testing.assert_array_equal(models[1].params[k], expected)
