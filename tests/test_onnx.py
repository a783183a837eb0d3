"""ONNX export (fastshallow.onnx, `fastshallow export`) against fastshallow's own outputs,
run by onnxruntime: every target, activation and output, float32 and float64.

Tolerances: 1e-5 relative in float32 and 1e-9 in float64, relative to the largest value
of the output compared (a probability of 1e-12 is compared to the scale of 1, not its
own); labels identical.
"""

import json
import os
import pickle

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install '.[onnx]'")
pytest.importorskip("skl2onnx", reason="needs the onnx extra: pip install '.[onnx]'")
pytest.importorskip("sklearn", reason="needs scikit-learn")

import onnxruntime as ort  # noqa: E402
import skl2onnx  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastshallow as fs  # noqa: E402
import fastshallow.onnx as fonnx  # noqa: E402
from fastshallow import ShallowNetClassifier, ShallowNetRegressor  # noqa: E402
from fastshallow.__main__ import main  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-9}
ACTIVATIONS = ["tanh", "logistic", "relu", "identity"]


# The largest difference of each comparison, relative to the output's scale; written to
# the file FASTSHALLOW_ONNX_REPORT names, when set (for the record of a release).
DIFFERENCES = {}


@pytest.fixture(autouse=True, scope="module")
def report():
    yield
    path = os.environ.get("FASTSHALLOW_ONNX_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(DIFFERENCES, f, indent=1, sort_keys=True)


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_close(got, expected, dtype, what):
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.abs(expected).max()))
    case = f"{os.environ.get('PYTEST_CURRENT_TEST', '').rsplit(' ', 1)[0].split('::')[-1]} {what}"
    difference = float(np.abs(np.asarray(got, np.float64).reshape(expected.shape) - expected).max()) / scale
    DIFFERENCES[case] = max(DIFFERENCES.get(case, 0.0), difference)
    np.testing.assert_allclose(np.asarray(got, np.float64).reshape(expected.shape), expected, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * scale, err_msg=what)


def run(model, X, **options):
    sess = session(skl2onnx.to_onnx(model, X[:1], options=options or None))
    return sess.run(None, {sess.get_inputs()[0].name: X})


def classification(target, dtype, seed=0):
    if target == "multilabel":
        X, y = make_multilabel_classification(300, 6, n_classes=3, random_state=seed)
    else:
        X, y = make_classification(300, 6, n_informative=4, n_classes=2 if target == "binary" else 3,
                                   random_state=seed)
        if target == "text labels":
            y = np.array(["no", "yes", "maybe"])[y]
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "text labels"])
def test_classifier_matches_onnxruntime(target, activation, dtype):
    X, y = classification(target, dtype)
    model = ShallowNetClassifier(hidden_layer_sizes=7, activation=activation, max_iter=30, random_state=0)
    with pytest.warns(Warning):  # max_iter is small on purpose
        model.fit(X, y)
    before = pickle.dumps(model)
    label, proba = run(model, X, zipmap=False)
    assert pickle.dumps(model) == before  # converting sets nothing on the model
    np.testing.assert_array_equal(label, model.predict(X))
    assert_close(proba, model.predict_proba(X), dtype, "predict_proba")
    label_raw, scores = run(model, X, zipmap=False, raw_scores=True)
    np.testing.assert_array_equal(label_raw, label)
    decision = model.decision_function(X)
    assert_close(scores[:, 1] if target == "binary" else scores, decision, dtype, "decision_function")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("loss, n_outputs", [("squared_error", 1), ("squared_error", 2), ("poisson", 1)])
def test_regressor_matches_onnxruntime(loss, n_outputs, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5)).astype(dtype)
    y = np.column_stack([X[:, 0] - X[:, 1] ** 2, X[:, 2]])[:, :n_outputs]
    if loss == "poisson":
        y = rng.poisson(np.exp(0.5 * X[:, :1])).astype(float)
    y = y[:, 0] if n_outputs == 1 else y
    model = ShallowNetRegressor(loss=loss, hidden_layer_sizes=9, activation="tanh", max_iter=30, random_state=0)
    with pytest.warns(Warning):
        model.fit(X, y)
    (predicted,) = run(model, X)
    assert predicted.shape == (300, n_outputs)
    assert_close(predicted, model.predict(X).reshape(300, n_outputs), dtype, "predict")


def test_a_pipeline_with_a_scaler_converts_with_the_default_zipmap():
    # float32 input: onnxruntime's ZipMap takes float tensors only (scikit-learn's own
    # MLPClassifier converts the same way; with float64 input pass zipmap=False).
    X, y = classification("multiclass", np.float32)
    X = X * 100 + 7
    pipe = make_pipeline(StandardScaler(), ShallowNetClassifier(hidden_layer_sizes=8, max_iter=40, random_state=0))
    with pytest.warns(Warning):
        pipe.fit(X, y)
    label, proba = run(pipe, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    # skl2onnx's default ZipMap: one {class: probability} per row.
    assert_close([[row[c] for c in pipe.classes_] for row in proba], pipe.predict_proba(X), np.float32, "zipmap")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity", "exp"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
def test_a_params_dict_matches_forward(activation, output, dtype):
    params = fs.init_params(4, 6, 3, seed=1, scale=0.5, dtype=dtype)
    X = np.random.default_rng(2).standard_normal((4, 50)).astype(dtype)  # (n_x, m), fastshallow's layout
    sess = session(fonnx.to_onnx(params, activation=activation, output=output))
    A2, Z2 = sess.run(["A2", "Z2"], {"X": np.ascontiguousarray(X.T)})  # rows, ONNX's
    assert_close(A2, fs.forward(params, X, activation=activation, output=output).T, dtype, "A2")
    assert_close(Z2, fs.forward(params, X, activation=activation, output="identity").T, dtype, "Z2")


def test_to_onnx_refuses_bad_arguments():
    params = fs.init_params(2, 3, 1, seed=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        fonnx.to_onnx(params, activation="softplus")
    with pytest.raises(ValueError, match="output must be one of"):
        fonnx.to_onnx(params, output="tanh")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        fonnx.to_onnx(params, dtype=np.float16)
    with pytest.raises(ValueError, match="W1"):
        fonnx.to_onnx({k: v for k, v in params.items() if k != "W1"})
    with pytest.raises(ValueError, match=r"output='softmax' needs n_y >= 2"):  # as fs.forward says
        fonnx.to_onnx(params, output="softmax")


def test_model_file_to_onnx_takes_a_model_or_its_path(tmp_path):
    path = fs.save_model(tmp_path / "m.fsn", fs.init_params(2, 3, 1, seed=0))
    by_path, by_model = fonnx.model_file_to_onnx(str(path)), fonnx.model_file_to_onnx(fs.load_model(path))
    assert by_path.SerializeToString() == by_model.SerializeToString()
    # A path as bytes, as load_model takes it.
    assert fonnx.model_file_to_onnx(os.fsencode(path)).SerializeToString() == by_model.SerializeToString()
    with pytest.raises(TypeError, match=r"model must be a model file's Model .* or its path; got dict"):
        fonnx.model_file_to_onnx(fs.init_params(2, 3, 1, seed=0))


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def raw_rows(path):
    return np.loadtxt(path, delimiter=",", skiprows=1)


@pytest.mark.parametrize("labels", ["numbers", "words"])
def test_exported_classifier_file_takes_the_raw_rows_predict_takes(tmp_path, flower_csv, capsys, labels):
    data = flower_csv
    if labels == "words":
        rows = raw_rows(flower_csv)
        data = tmp_path / "words.csv"
        with open(data, "w") as f:
            f.write("x1,x2,label\n")
            for a, b, c in rows:
                f.write(f"{a * 50 + 3},{b},{'yes' if c else 'no'}\n")
    assert cli(capsys, "train", data, "--hidden", 4, "--iters", 300, "--out", tmp_path / "m.fsn", "--quiet")[0] == 0
    code, out, err = cli(capsys, "export", tmp_path / "m.fsn", "--onnx", tmp_path / "m.onnx")
    assert code == 0, err
    assert "input 'X'" in out
    code, out, _ = cli(capsys, "predict", tmp_path / "m.fsn", data, "--proba")
    predicted = [line.split(",") for line in out.split()[1:]]
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    label, probability = sess.run(["label", "probability"], {"X": raw_rows(flower_csv)[:, :2] if labels == "numbers"
                                                             else np.loadtxt(data, delimiter=",", skiprows=1,
                                                                             usecols=(0, 1))})
    expected_labels = [p[0] for p in predicted]
    got = [str(v.decode() if isinstance(v, bytes) else v) for v in label]
    assert got == expected_labels
    np.testing.assert_allclose(probability, [float(p[1]) for p in predicted], rtol=1e-5)  # predict prints 6 digits
    model = fs.load_model(tmp_path / "m.fsn")
    X = np.loadtxt(data, delimiter=",", skiprows=1, usecols=(0, 1))
    assert_close(probability, model.predict_proba(X), np.float64, "probability")


def test_exported_regressor_file_predicts_in_the_targets_units(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)) * [1, 10, 100]
    y = 1000 + 300 * np.sin(X[:, 0]) + 2 * X[:, 1]
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,price", comments="")
    for dtype in ("float32", "float64"):
        model_path, onnx_path = tmp_path / f"{dtype}.fsn", tmp_path / f"{dtype}.onnx"
        assert cli(capsys, "train", path, "--solver", "lbfgs", "--hidden", 8, "--iters", 200, "--dtype", dtype,
                   "--out", model_path, "--quiet")[0] == 0
        assert cli(capsys, "export", model_path, "--onnx", onnx_path)[0] == 0
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (prediction,) = sess.run(["prediction"], {"X": X})
        model = fs.load_model(model_path)
        expected = model.values(model.prepare(X))
        # float32 parameters: the network's output is rounded to float32 before it is scaled
        # back to the target's units, by fastshallow and by the graph alike.
        assert_close(prediction, expected, np.float32 if dtype == "float32" else np.float64, dtype)


def test_export_refuses_what_it_cannot_do_and_overwrites_nothing(tmp_path, flower_csv, capsys):
    model = tmp_path / "m.fsn"
    assert cli(capsys, "train", flower_csv, "--iters", 10, "--out", model, "--quiet")[0] == 0
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep")
    code, _, err = cli(capsys, "export", model, "--onnx", target)
    assert code == 2 and "exists" in err and target.read_bytes() == b"keep"
    code, _, err = cli(capsys, "export", model, "--onnx", model, "--force")
    assert code == 2 and model.read_bytes()[:2] == b"PK"  # never the input
    bad = tmp_path / "bad.fsn"
    bad.write_bytes(b"not a zip")
    code, _, err = cli(capsys, "export", bad, "--onnx", tmp_path / "b.onnx")
    assert code == 1 and "bad.fsn" in err and not (tmp_path / "b.onnx").exists()
    code, _, err = cli(capsys, "export", tmp_path / "none.fsn", "--onnx", tmp_path / "c.onnx")
    assert code == 1 and "no such model file" in err
