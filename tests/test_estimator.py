"""ShallowNetClassifier: agreement with fastshallow.step, the NumPy reference and
MLPClassifier's equations; targets; reproducibility; the scikit-learn workflow around it.
(tests/test_mlp_port.py holds scikit-learn's own MLP test cases, for both estimators.)"""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_classification, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import LabelBinarizer, StandardScaler  # noqa: E402

import fastshallow as fs  # noqa: E402
from fastshallow import ShallowNetClassifier, ShallowNetRegressor, reference  # noqa: E402
from fastshallow import validation  # noqa: E402
from fastshallow.estimator import _examples_as_columns, _mean_loss, _targets  # noqa: E402
from fastshallow.kernels import plan  # noqa: E402
from helpers import assert_close  # noqa: E402


def binary_data(m=300, n_x=6, seed=0):
    X, y = make_classification(n_samples=m, n_features=n_x, n_informative=4, random_state=seed)
    return StandardScaler().fit_transform(X), y


def multiclass_data(m=400, n_classes=4, seed=0):
    X, y = make_classification(
        n_samples=m, n_features=8, n_informative=6, n_classes=n_classes, class_sep=2.0, random_state=seed
    )
    return StandardScaler().fit_transform(X), y


def params_of(clf):
    """The estimator's parameters as a fastshallow params dict (copies)."""
    return {
        "W1": clf.coefs_[0].T.copy(),
        "b1": clf.intercepts_[0][:, None].copy(),
        "W2": clf.coefs_[1].T.copy(),
        "b2": clf.intercepts_[1][:, None].copy(),
    }


def quiet_fit(clf, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y, **fit_params)


@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_a_full_batch_epoch_is_one_fastshallow_step_on_the_transposed_data(target):
    X, y = binary_data() if target == "binary" else multiclass_data()
    clf = ShallowNetClassifier(
        8, activation="tanh", solver="sgd", learning_rate_init=0.3, batch_size=len(y), shuffle=False,
        momentum=0.0, alpha=0.0, max_iter=1, warm_start=True, random_state=0,
    )
    quiet_fit(clf, X, y)
    params = params_of(clf)
    if target == "binary":
        Y, output = y[None, :], "sigmoid"
    else:
        Y, output = (clf.classes_[:, None] == y).astype(np.uint8), "softmax"
    cost = fs.step(params, X.T, Y, 0.3, activation="tanh", output=output)
    quiet_fit(clf, X, y)
    assert clf.loss_ == cost
    for name, value in params_of(clf).items():
        np.testing.assert_array_equal(value, params[name], err_msg=name)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mini_batch_epochs_match_the_numpy_reference(output, dtype):
    # Momentum, Nesterov's momentum and the L2 penalty, on ragged batches (400 = 3·128 + 16).
    X, y = binary_data(400) if output == "sigmoid" else multiclass_data(400)
    clf = ShallowNetClassifier(
        16, solver="sgd", learning_rate_init=0.05, batch_size=128, momentum=0.9, alpha=0.01, max_iter=1,
        warm_start=True, random_state=3, dtype=dtype,
    )
    quiet_fit(clf, X, y)
    start = {k: v.astype(np.float64) for k, v in params_of(clf).items()}
    # Each fit draws from random_state afresh, as scikit-learn's: the next (warm-started)
    # fit's first epoch visits the examples in this order.
    order = np.random.RandomState(3).permutation(400)
    Y = y[None, :] if output == "sigmoid" else (clf.classes_[:, None] == y).astype(float)
    velocity = {k: np.zeros_like(v) for k, v in start.items()}
    losses = reference.sgd_epoch(start, velocity, X.T, Y, order, 128, 0.05, 0.9, True, 0.01, "relu", output)
    quiet_fit(clf, X, y)
    sizes = np.array([128, 128, 128, 16])
    assert_close(clf.loss_, losses @ sizes / 400, dtype, "epoch loss", rtol=1e-9 if dtype == np.float64 else 1e-4)
    for name, value in params_of(clf).items():
        assert_close(value, start[name], dtype, name, rtol=1e-9 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_twenty_epochs_follow_mlpclassifier_from_the_same_weights(target):
    # Same weights, same full batches: the same equations must give the same trajectory.
    X, y = binary_data() if target == "binary" else multiclass_data()
    settings = dict(momentum=0.9, nesterovs_momentum=True, alpha=1e-3, warm_start=True, random_state=0)
    mlp = MLPClassifier(
        hidden_layer_sizes=(10,), activation="tanh", solver="sgd", learning_rate_init=0.1,
        batch_size=len(y), shuffle=False, max_iter=1, tol=0.0, n_iter_no_change=10**6, **settings
    )
    ours = ShallowNetClassifier(
        10, activation="tanh", solver="sgd", learning_rate_init=0.1, batch_size=len(y), shuffle=False,
        max_iter=1, tol=0.0, n_iter_no_change=10**6, **settings
    )
    quiet_fit(mlp, X, y)
    quiet_fit(ours, X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_):
        mine[...] = theirs  # views of the estimator's parameters
    mlp.set_params(max_iter=20)
    ours.set_params(max_iter=20)
    quiet_fit(mlp, X, y)
    quiet_fit(ours, X, y)
    np.testing.assert_allclose(ours.loss_curve_[1:], mlp.loss_curve_[1:], rtol=1e-10)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_the_same_random_state_gives_the_same_bits_for_any_thread_count():
    X, y = multiclass_data(9000)
    batch = 4096
    assert plan(batch, 8, 32, 4, 8, 2)[0] >= 2  # the batches really are split into chunks
    fits = [
        quiet_fit(ShallowNetClassifier(32, batch_size=batch, max_iter=3, random_state=7, n_threads=n), X, y)
        for n in (1, 2, None)
    ]
    for other in fits[1:]:
        assert other.loss_curve_ == fits[0].loss_curve_
        for a, b in zip(other.coefs_ + other.intercepts_, fits[0].coefs_ + fits[0].intercepts_):
            np.testing.assert_array_equal(a, b)


def test_pickle_round_trips_exactly_and_training_continues_identically():
    X, y = multiclass_data()
    clf = quiet_fit(ShallowNetClassifier(12, max_iter=5, random_state=1), X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    for a, b in zip(copy.coefs_ + copy.intercepts_, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_model_loaded_read_only_keeps_training_on_copies(tmp_path, solver):
    # joblib.load(..., mmap_mode="r") maps the model's arrays read-only from its file. A
    # warm fit or partial_fit then trains on copies (the kernels wrote in place and failed
    # to compile for read-only arrays), as the same model loaded into memory would, and
    # the file is left as it was.
    import joblib

    X, y = multiclass_data()
    clf = quiet_fit(ShallowNetClassifier(12, solver=solver, max_iter=3, random_state=1), X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    saved = path.read_bytes()
    for train in (lambda c: c.partial_fit(X, y), lambda c: quiet_fit(c.set_params(warm_start=True), X, y)):
        mapped, loaded = joblib.load(path, mmap_mode="r"), joblib.load(path)
        assert not mapped.coefs_[0].flags.writeable
        np.testing.assert_array_equal(mapped.predict_proba(X), loaded.predict_proba(X))
        train(mapped)
        train(loaded)
        for a, b in zip(mapped.coefs_ + mapped.intercepts_, loaded.coefs_ + loaded.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert mapped.n_iter_ == loaded.n_iter_ and mapped.loss_curve_ == loaded.loss_curve_
    assert path.read_bytes() == saved


def test_learns_binary_multiclass_and_multilabel_targets():
    X, y = binary_data(600)
    clf = quiet_fit(ShallowNetClassifier(random_state=0), X, y)
    assert clf.score(X, y) > 0.9
    assert clf.decision_function(X).shape == (600,) and clf.predict_proba(X).shape == (600, 2)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(clf.decision_function(X) > 0).astype(int)])

    X, y = multiclass_data(600)
    clf = quiet_fit(ShallowNetClassifier(random_state=0), X, y)
    assert clf.score(X, y) > 0.85
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-9, atol=1e-12)

    X, Y = make_multilabel_classification(n_samples=600, n_features=10, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = quiet_fit(ShallowNetClassifier(random_state=0), X, Y)
    assert clf.predict(X).shape == (600, 4) and set(np.unique(clf.predict(X))) <= {0, 1}
    assert np.mean(clf.predict(X) == Y) > 0.85  # per-label accuracy
    proba = clf.predict_proba(X)
    assert proba.shape == (600, 4) and not np.allclose(proba.sum(axis=1), 1)


def test_string_labels_and_a_pipeline():
    X, y = multiclass_data(300, n_classes=3)
    names = np.array(["cat", "dog", "emu"])[y]
    model = quiet_fit(make_pipeline(StandardScaler(), ShallowNetClassifier(random_state=0)), X, names)
    assert set(model.predict(X)) <= set(names) and model.score(X, names) > 0.85


@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 7, 7, 3, 7]),  # binary: one output
        np.array([True, False, True]),
        np.array(["emu", "cat", "dog", "cat"]),  # multiclass: one output per class
        np.array([1.0, 2.0, -1.0, 2.0]),
        np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]]),  # multilabel indicator
    ],
    ids=["binary", "bool", "strings", "floats", "multilabel"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_targets_are_the_label_binarizers_transposed(y, dtype):
    # _targets finds labels itself rather than through LabelBinarizer.transform.
    lb = LabelBinarizer().fit(y)
    Y = _targets(lb, y, np.dtype(dtype))
    assert Y.dtype == dtype and Y.flags.c_contiguous
    np.testing.assert_array_equal(Y, lb.transform(y).T)
    if y.ndim == 1:
        # A label that is not a class, whichever class it is: before the first, between
        # two, or past the last.
        classes = np.unique(y)
        for k in range(len(classes)):
            lb_missing = LabelBinarizer().fit(np.delete(classes, k))
            with pytest.raises(ValueError, match="not among classes_"):
                _targets(lb_missing, y, np.dtype(dtype))
        # Labels in columns, for a model fitted on one label per sample.
        with pytest.raises(ValueError, match=r"y must be 1-D.*got shape \(2, "):
            _targets(lb, np.stack([y, y]), np.dtype(dtype))


def test_warm_start_with_a_label_matrix_for_a_label_model_raises():
    X, y = binary_data()
    clf = quiet_fit(ShallowNetClassifier(max_iter=1, warm_start=True, random_state=0), X, y)
    with pytest.raises(ValueError, match="y must be 1-D"):
        quiet_fit(clf, X, np.stack([y, y], axis=1))


def test_partial_fit_needs_classes_first_then_runs_one_epoch_per_call():
    X, y = multiclass_data()
    clf = ShallowNetClassifier(16, solver="sgd", learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=np.arange(4))
    clf.partial_fit(X, y)
    # Each call runs one epoch, and n_iter_ counts the last call's, as scikit-learn's.
    assert clf.n_iter_ == 1 and clf.t_ == (y < 2).sum() + len(y) and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match=r"labels \[7\] that are not among classes_"):
        clf.partial_fit(X, np.where(y == 0, 7, y))
    with pytest.raises(ValueError, match="differs from the classes of the first call"):
        clf.partial_fit(X, y, classes=np.arange(5))


def test_early_stopping_scores_a_held_out_split_and_stops():
    X, y = multiclass_data(1000)
    clf = ShallowNetClassifier(early_stopping=True, solver="sgd", learning_rate_init=0.01, max_iter=500,
                               random_state=0).fit(X, y)
    assert clf.n_iter_ < 500 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_loss_ is None and clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.t_ == clf.n_iter_ * 900  # 10% held out


def test_reaching_max_iter_warns():
    X, y = binary_data()
    with pytest.warns(ConvergenceWarning, match="reached max_iter = 3 epochs"):
        ShallowNetClassifier(max_iter=3, random_state=0).fit(X, y)


def test_float32_is_kept_and_x_is_read_in_place():
    X, y = binary_data()
    X32 = X.astype(np.float32)
    clf = quiet_fit(ShallowNetClassifier(max_iter=5, random_state=0), X32, y)  # dtype=None follows X
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert all(c.dtype == np.float64 for c in quiet_fit(ShallowNetClassifier(max_iter=1, dtype="float64"), X32, y).coefs_)
    assert clf.predict_proba(X32).dtype == np.float32
    for layout in (X, np.asfortranarray(X)):
        assert np.shares_memory(_examples_as_columns(layout, X.shape[1], np.dtype(np.float64)), layout)


def test_shuffled_examples_are_read_from_a_copy_with_each_example_contiguous(monkeypatch):
    """Mini-batches in a shuffled order gather X's examples: an F-ordered X (a pandas
    DataFrame's array) is copied so that each example's features are contiguous, unless
    the copy would take more than half the available memory; a C-ordered X is read in
    place. The copy changes no bits of the fit."""
    X, y = binary_data()
    F = np.asfortranarray(X)
    f64 = np.dtype(np.float64)
    for layout in (X, F):
        XT = _examples_as_columns(layout, X.shape[1], f64, gathered=True)
        assert XT.flags.f_contiguous and np.array_equal(XT, X.T)
        XT = _examples_as_columns(layout, X.shape[1], np.dtype(np.float32), gathered=True)  # cast into the layout
        assert XT.flags.f_contiguous and np.array_equal(XT, X.T.astype(np.float32))
    assert np.shares_memory(_examples_as_columns(X, X.shape[1], f64, gathered=True), X)
    assert not np.shares_memory(_examples_as_columns(F, X.shape[1], f64, gathered=True), F)
    monkeypatch.setattr(validation, "available_memory", lambda: 2 * F.nbytes - 1)
    monkeypatch.setattr(validation, "UNCHECKED_SCRATCH", 0)  # this X is small enough to copy unasked
    assert np.shares_memory(_examples_as_columns(F, X.shape[1], f64, gathered=True), F)
    monkeypatch.undo()
    settings = dict(solver="sgd", batch_size=32, max_iter=3, random_state=0)
    from_c = quiet_fit(ShallowNetClassifier(**settings), X, y)
    from_f = quiet_fit(ShallowNetClassifier(**settings), F, y)
    for a, b in zip(from_c.coefs_ + from_c.intercepts_, from_f.coefs_ + from_f.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_divergence_raises_and_keeps_the_state_before_the_epoch():
    X, y = binary_data()
    clf = quiet_fit(ShallowNetClassifier(solver="sgd", max_iter=2, warm_start=True, random_state=0), X, y)
    before = [a.copy() for a in clf.coefs_ + clf.intercepts_]
    clf.set_params(learning_rate_init=1e300)
    with pytest.raises(fs.DivergenceError, match="diverged in epoch 1"):  # n_iter_ counts this fit
        clf.fit(X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, before):
        np.testing.assert_array_equal(a, b)


def test_a_float32_model_judges_float64_X_before_casting_it():
    """X in float64 for a float32 network: the same bits as a float32 X, and a value
    beyond float32's range is reported as too large (not as the inf a cast makes of it),
    with no warning from the cast."""
    X, y = binary_data()
    fitted = quiet_fit(ShallowNetClassifier(max_iter=2, random_state=0, dtype="float32"), X, y)
    twin = quiet_fit(ShallowNetClassifier(max_iter=2, random_state=0, dtype="float32"), X.astype(np.float32), y)
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, twin.coefs_ + twin.intercepts_):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    huge = X.copy()
    huge[3, 1] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for call in (fitted.predict, fitted.predict_proba, lambda X: fitted.fit(X, y)):
            with pytest.raises(ValueError, match=r"X has values up to 1e\+300 in magnitude"):
                call(huge)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda X, y: (X * 1e17, y), "standardise X"),  # fastshallow's own check of X
        (lambda X, y: (X, np.zeros_like(y)), "only one class"),  # found while starting afresh
        (lambda X, y: (np.where(X > 2, np.inf, X), y), "X contains NaN or inf"),  # the same scan as the first
    ],
)
def test_a_fitted_model_survives_bad_data_unchanged(bad, message):
    X, y = binary_data()
    clf = quiet_fit(ShallowNetClassifier(max_iter=2, random_state=0), X, y)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in clf.__dict__.items()}
    params = {k: v.copy() for k, v in clf._params.items()}
    with pytest.raises(ValueError, match=message):
        clf.fit(*bad(X, y))
    assert clf.__dict__.keys() == state.keys()
    assert clf.n_iter_ == 2 and clf.n_features_in_ == X.shape[1]
    for k, v in params.items():
        np.testing.assert_array_equal(clf._params[k], v)
    np.testing.assert_array_equal(clf.predict(X), quiet_fit(ShallowNetClassifier(max_iter=2, random_state=0), X, y).predict(X))


@pytest.mark.parametrize(
    "setting, message",
    [
        (dict(activation="softplus"), "activation must be one of"),
        (dict(learning_rate_init=0.0), "learning_rate_init"),
        (dict(learning_rate=0.1), "learning_rate must be one of"),
        (dict(solver="newton"), "solver must be one of"),
        (dict(hidden_layer_sizes=(10, 10)), "fastshallow trains one hidden layer"),
        (dict(hidden_layer_sizes=0), r"hidden_layer_sizes must be > 0"),
        (dict(beta_2=1.0), "beta_2"),
        (dict(n_iter_no_change=0), "n_iter_no_change"),
        (dict(shuffle="yes"), "shuffle must be True or False"),
        (dict(batch_size=0), "batch_size"),
        (dict(momentum=1.5), "momentum"),
        (dict(dtype="float16"), "dtype must be float32 or float64"),
        (dict(hidden_layer_sizes=2.5), "hidden_layer_sizes must be an int"),
    ],
)
def test_bad_settings_are_named(setting, message):
    # scikit-learn's own class, as MLPClassifier raises (a ValueError and a TypeError).
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = binary_data(50)
    with pytest.raises(InvalidParameterError, match=message):
        ShallowNetClassifier(**setting).fit(X, y)
    if setting.get("hidden_layer_sizes") == (10, 10) or "dtype" in setting:
        return  # MLPClassifier takes more layers, and has no dtype
    with pytest.raises(InvalidParameterError):
        MLPClassifier(**setting).fit(X, y)


def test_a_regressors_bad_loss_is_an_invalid_parameter():
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = binary_data(50)
    with pytest.raises(InvalidParameterError, match="loss must be one of"):
        ShallowNetRegressor(loss="huber").fit(X, y.astype(float))


def test_verbose_prints_scikit_learns_line_per_epoch(capsys):
    X, y = binary_data()
    clf = quiet_fit(ShallowNetClassifier(max_iter=2, verbose=True, random_state=0), X, y)
    clf.partial_fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 1"]
    assert lines[-1] == f"Iteration 1, loss = {clf.loss_:.8f}"


def test_grid_search_in_two_processes_matches_one_process():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:600])
    y = y[:600]
    grid = {"hidden_layer_sizes": [16, 32], "learning_rate_init": [0.01, 0.05]}
    model = ShallowNetClassifier(solver="sgd", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = GridSearchCV(model, grid, cv=3, n_jobs=1).fit(X, y)
        two = GridSearchCV(model, grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])
    assert two.best_score_ > 0.85


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", ["binary-early-stopping", "multiclass", "regression", "poisson", "two-outputs"])
def test_the_same_settings_and_seed_give_scikit_learns_network(solver, target, weighted):
    # The same initial weights, shuffles and validation split as scikit-learn's, and the
    # same equations: the same network, to the rounding of sums. With sample weights too
    # (weighted losses, gradients, penalty and validation scores).
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 6))
    settings = dict(hidden_layer_sizes=(9,), solver=solver, max_iter=12, random_state=3, learning_rate_init=0.01,
                    batch_size=50, alpha=1e-3, tol=0.0)
    if target.startswith("binary"):
        y, ours, theirs = (X[:, 0] + X[:, 1] > 0).astype(int), ShallowNetClassifier, MLPClassifier
        settings["early_stopping"] = solver != "lbfgs"
    elif target == "multiclass":
        y, ours, theirs = np.argmax(X[:, :3], axis=1), ShallowNetClassifier, MLPClassifier
    else:
        ours, theirs = ShallowNetRegressor, MLPRegressor
        y = X[:, 0] - 0.5 * X[:, 1] ** 2
        if target == "poisson":
            y, settings["loss"] = rng.poisson(np.exp(0.5 * X[:, 0])), "poisson"
        elif target == "two-outputs":
            y = np.column_stack([y, X[:, 2]])
    w = rng.random(240) * 2 if weighted else None
    a = quiet_fit(ours(**settings), X, y, sample_weight=w)
    b = quiet_fit(theirs(**settings), X, y, sample_weight=w)
    assert a.n_iter_ == b.n_iter_
    if solver == "lbfgs":
        assert_close(a.loss_, b.loss_, np.float64, "loss", rtol=1e-8)
    else:
        assert_close(a.loss_curve_, b.loss_curve_, np.float64, "loss curve", rtol=1e-9)
        if settings.get("early_stopping"):
            assert_close(a.validation_scores_, b.validation_scores_, np.float64, "validation scores", rtol=1e-9)
    for mine, theirs_ in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_close(mine, theirs_, np.float64, "parameters", rtol=1e-7)
    assert a.out_activation_ == b.out_activation_ and a.n_outputs_ == b.n_outputs_ and a.n_layers_ == b.n_layers_
    # The fitted numbers are of MLP's types too (np.float64 where it has them), for code
    # that calls their NumPy methods.
    for name in ("loss_", "best_loss_", "best_validation_score_"):
        assert type(getattr(a, name, None)) is type(getattr(b, name, None)), name
    for name in ("loss_curve_", "validation_scores_"):
        assert [type(v) for v in getattr(a, name, None) or []] == [type(v) for v in getattr(b, name, None) or []], name


@pytest.mark.parametrize("beaten", [False, True], ids=["old-best-stands", "new-best"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_warm_fit_with_early_stopping_ends_where_scikit_learns_does(kind, beaten):
    # A warm fit compares its validation scores with the best of the fits before it. If
    # none beats that, scikit-learn's MLP ends with its last epoch's parameters (the
    # arrays it restored after the last fit are the ones it trains); else, as in any
    # fit, with this fit's best epoch's.
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(4)
    X = rng.standard_normal((160, 4))
    if kind == "classifier":
        y, ours, theirs = (X[:, 0] - X[:, 1] > 0).astype(int), ShallowNetClassifier, MLPClassifier
    else:
        y, ours, theirs = X[:, 0] - 0.5 * X[:, 1], ShallowNetRegressor, MLPRegressor
    settings = dict(hidden_layer_sizes=(5,), solver="sgd", max_iter=3, random_state=2, learning_rate_init=0.01,
                    early_stopping=True, warm_start=True, n_iter_no_change=5, tol=0.0)
    models = [ours(**settings), theirs(**settings)]
    for model in models:
        quiet_fit(model, X, y)
        first, best = len(model.validation_scores_), model.best_validation_score_
        # The second fit: a few epochs on other labels, which score worse than the first
        # fit's best, or more with a larger step on the same data, which improve on it.
        model.set_params(max_iter=12 if beaten else 3, learning_rate_init=0.05 if beaten else 0.001)
        quiet_fit(model, X, y if beaten else y[::-1])
        assert (max(model.validation_scores_[first:]) > best) == beaten
    a, b = models
    assert_close(a.validation_scores_, b.validation_scores_, np.float64, "validation scores", rtol=1e-9)
    for mine, theirs_ in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_close(mine, theirs_, np.float64, "parameters", rtol=1e-7)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_x_trains_the_dense_network(solver):
    # CSR and CSC X, read by the sparse kernels without densifying, give the dense fit,
    # with sample weights too.
    import scipy.sparse

    X = scipy.sparse.random(300, 50, density=0.1, random_state=0, format="csr")
    y = np.asarray(X[:, :5].sum(axis=1)).ravel() > 0.2
    w = np.random.default_rng(1).random(300)
    settings = dict(hidden_layer_sizes=8, solver=solver, max_iter=15, random_state=0, batch_size=64)
    dense = quiet_fit(ShallowNetClassifier(**settings), X.toarray(), y, sample_weight=w)
    for container in (X, X.tocsc()):
        fitted = quiet_fit(ShallowNetClassifier(**settings), container, y, sample_weight=w)
        for a, b in zip(fitted.coefs_ + fitted.intercepts_, dense.coefs_ + dense.intercepts_):
            assert_close(a, b, np.float64, "parameters", rtol=1e-9)
        assert_close(fitted.predict_proba(container), dense.predict_proba(X.toarray()), np.float64, "proba")
    regressor = quiet_fit(ShallowNetRegressor(**settings), X, y.astype(float))
    assert_close(regressor.predict(X), quiet_fit(ShallowNetRegressor(**settings), X.toarray(), y.astype(float))
                 .predict(X.toarray()), np.float64, "regression")


def test_a_regressor_whose_loss_ends_above_the_mean_predictor_warns_of_divergence():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 5))
    y = X[:, 0] * 3 + rng.standard_normal(500)
    settings = dict(hidden_layer_sizes=20, solver="sgd", max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"training diverged: the loss ended at .* predicting each output's mean"):
        ShallowNetRegressor(learning_rate_init=0.38, **settings).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ShallowNetRegressor(learning_rate_init=0.01, **settings).fit(X, y)
    assert not [w for w in caught if "diverged" in str(w.message)]


@pytest.mark.parametrize("n_batches", [1, 2, 7, 50, 333])
def test_an_epochs_loss_adds_its_batches_in_order_as_scikit_learn(n_batches):
    """loss_ and loss_curve_: each batch's loss times its size, added in batch order, over
    the examples (MLP's accumulated_loss), bit for bit, whatever the BLAS would order a dot
    product in."""
    rng = np.random.default_rng(n_batches)
    batch = 200
    m = batch * n_batches - (13 if n_batches > 1 else 0)  # a short last batch
    for _ in range(20):
        losses = rng.random(n_batches) * 3
        accumulated = 0.0
        for k, loss in enumerate(losses):
            accumulated += loss * (min((k + 1) * batch, m) - k * batch)
        got = _mean_loss(losses, m, batch)
        assert type(got) is np.float64 and got == accumulated / m
