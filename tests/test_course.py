"""fastshallow.course is a drop-in for the assignment's functions: same names, signatures,
types and numbers (float64, about 1e-12 against fastshallow.reference)."""

import contextlib
import io

import numpy as np
import pytest

import fastshallow as fs
from fastshallow import course as nn
from fastshallow import reference as ref
from helpers import assert_close

TIGHT = 1e-12


@pytest.fixture
def flower():
    return fs.datasets.load_planar_dataset()


@pytest.fixture
def params():
    return nn.initialize_parameters(2, 4, 1)


def test_layer_sizes(flower):
    X, Y = flower
    assert nn.layer_sizes(X, Y) == (2, 4, 1)
    assert nn.layer_sizes(np.zeros((5, 3)), np.zeros((2, 3))) == (5, 4, 2)


def test_initialize_parameters_reseeds_with_2_like_the_classic_version():
    p = nn.initialize_parameters(2, 4, 1)
    np.random.seed(2)
    np.testing.assert_array_equal(p["W1"], np.random.randn(4, 2) * 0.01)
    np.testing.assert_array_equal(p["W2"], np.random.randn(1, 4) * 0.01)
    assert p["b1"].shape == (4, 1) and p["b2"].shape == (1, 1) and not p["b1"].any() and not p["b2"].any()


def test_initialize_parameters_without_seed_draws_from_the_global_state():
    np.random.seed(3)
    p = nn.initialize_parameters(2, 4, 1, seed=None)
    np.random.seed(3)
    np.testing.assert_array_equal(p["W1"], np.random.randn(4, 2) * 0.01)


def test_forward_propagation_matches_reference(flower, params):
    X, _ = flower
    params = {k: v * 300 for k, v in params.items()}  # away from the linear regime
    A2, cache = nn.forward_propagation(X, params)
    expected = ref.forward_cache(params, X)
    assert set(cache) == {"Z1", "A1", "Z2", "A2"} and cache["A2"] is A2
    for k in expected:
        assert isinstance(cache[k], np.ndarray) and cache[k].shape == expected[k].shape
        assert_close(cache[k], expected[k], np.float64, k, rtol=TIGHT)


def test_compute_cost_matches_the_formula_and_is_a_python_float(flower):
    _, Y = flower
    A2 = np.random.default_rng(0).uniform(0.01, 0.99, Y.shape)
    cost = nn.compute_cost(A2, Y)
    expected = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / Y.shape[1]
    assert type(cost) is float
    assert cost == pytest.approx(expected, rel=TIGHT)
    assert nn.compute_cost(A2, Y, {"ignored": True}) == cost  # older versions pass parameters


def test_compute_cost_of_a_confident_correct_output_is_zero_not_nan():
    assert nn.compute_cost(np.array([[1.0, 0.0]]), np.array([[1, 0]])) == 0.0


def test_backward_propagation_matches_reference(flower):
    X, Y = flower
    params = {k: v * 300 for k, v in nn.initialize_parameters(2, 4, 1).items()}
    _, cache = nn.forward_propagation(X, params)
    grads = nn.backward_propagation(params, cache, X, Y)
    _, expected = ref.gradients(params, X, Y)
    assert set(grads) == {"dW1", "db1", "dW2", "db2"}
    for k in expected:
        assert_close(grads[k], expected[k], np.float64, k, rtol=TIGHT)


def test_update_parameters_returns_new_arrays_and_leaves_inputs_alone(params):
    grads = {"d" + k: np.full_like(v, 0.5) for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    grads_before = {k: v.copy() for k, v in grads.items()}
    new = nn.update_parameters(params, grads)  # learning_rate defaults to 1.2
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        np.testing.assert_array_equal(grads["d" + k], grads_before["d" + k])
        assert new[k] is not params[k]
        assert_close(new[k], before[k] - 1.2 * 0.5, np.float64, k, rtol=TIGHT)


def test_nn_model_prints_like_the_assignment_and_matches_the_reference_trajectory(flower):
    X, Y = flower
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        params = nn.nn_model(X, Y, 4, num_iterations=3000, print_cost=True)
    lines = out.getvalue().splitlines()
    assert lines == [line for line in lines if line.startswith("Cost after iteration ")]
    assert [line.split(":")[0] for line in lines] == [f"Cost after iteration {i}" for i in (0, 1000, 2000)]
    assert lines[0] == "Cost after iteration 0: 0.693048"  # the assignment's published value
    # The reference from the same start: 3000 iterations amplify rounding, so the bound is
    # looser than the per-function 1e-12.
    np.random.seed(3)
    expected = nn.initialize_parameters(2, 4, 1)
    ref_costs = ref.train(expected, X, Y, learning_rate=1.2, num_iterations=3000)
    assert lines[2] == f"Cost after iteration 2000: {ref_costs[2000]:f}"
    for k in expected:
        assert_close(params[k], expected[k], np.float64, k, rtol=1e-6)


def test_predict_is_a_boolean_threshold_at_one_half(flower):
    X, Y = flower
    params = nn.nn_model(X, Y, 4, num_iterations=200)
    A2, _ = nn.forward_propagation(X, params)
    P = nn.predict(params, X)
    assert P.shape == (1, 400)
    np.testing.assert_array_equal(P, A2 > 0.5)


def test_assignment_code_runs_unchanged():
    # The notebook's cells, as written against its own functions.
    X, Y = fs.datasets.load_planar_dataset()
    shape_X, shape_Y, m = X.shape, Y.shape, Y.shape[1]
    assert (shape_X, shape_Y, m) == ((2, 400), (1, 400), 400)
    n_x, n_h, n_y = nn.layer_sizes(X, Y)
    parameters = nn.initialize_parameters(n_x, n_h, n_y)
    A2, cache = nn.forward_propagation(X, parameters)
    cost = nn.compute_cost(A2, Y)
    grads = nn.backward_propagation(parameters, cache, X, Y)
    parameters = nn.update_parameters(parameters, grads)
    parameters = nn.nn_model(X, Y, n_h=4, num_iterations=10000, print_cost=False)
    predictions = nn.predict(parameters, X)
    # The notebook wraps this (1, 1) array in float(), which NumPy >= 2.4 refuses whatever the
    # backend; .item() is the same number.
    accuracy = ((np.dot(Y, predictions.T) + np.dot(1 - Y, 1 - predictions.T)) / float(Y.size) * 100).item()
    assert isinstance(cost, float) and 89 <= accuracy <= 92


def test_inputs_may_be_lists_and_labels_bool(flower):
    X, Y = flower
    params = nn.initialize_parameters(2, 4, 1)
    A2, _ = nn.forward_propagation(X[:, :5].tolist(), {k: v.tolist() for k, v in params.items()})
    A2_ref, _ = nn.forward_propagation(X[:, :5], params)
    np.testing.assert_array_equal(A2, A2_ref)
    assert nn.compute_cost(A2, Y[:, :5].astype(bool)) == nn.compute_cost(A2, Y[:, :5].astype(float))


def test_float32_parameters_compute_in_float64(flower, params):
    # The course works in float64: float32 parameters are widened (exactly) first, so
    # every function gives what the widened parameters give.
    X, Y = flower
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    A2, cache = nn.forward_propagation(X, p32)
    A2_64, cache_64 = nn.forward_propagation(X, p64)
    assert A2.dtype == np.float64 and np.array_equal(A2, A2_64)
    grads = nn.backward_propagation(p32, cache, X, Y)
    grads_64 = nn.backward_propagation(p64, cache_64, X, Y)
    assert all(grads[k].dtype == np.float64 and np.array_equal(grads[k], grads_64[k]) for k in grads_64)
    new, new_64 = nn.update_parameters(p32, grads), nn.update_parameters(p64, grads_64)
    assert all(new[k].dtype == np.float64 and np.array_equal(new[k], new_64[k]) for k in new_64)


def test_bad_input_gets_the_core_api_errors(flower, params):
    X, Y = flower
    with pytest.raises(ValueError, match=r"X has 3 rows \(features\) but params\['W1'\] expects n_x = 2"):
        nn.forward_propagation(np.zeros((3, 10)), params)
    with pytest.raises(ValueError, match=r"Y must hold labels in \[0, 1\]"):
        nn.compute_cost(np.full((1, 400), 0.5), Y * 2)
    with pytest.raises(ValueError, match=r"A2 must hold probabilities in \[0, 1\]"):
        nn.compute_cost(np.full((1, 400), 1.5), Y)
    # compute_cost has no parameters or X: Y's shape is A2's.
    with pytest.raises(ValueError, match=r"Y has shape \(1, 400\); expected \(n_y, m\) = \(1, 10\) from A2's shape$"):
        nn.compute_cost(np.full((1, 10), 0.5), Y)
    with pytest.raises(ValueError, match=r"cache\['A1'\] has shape \(4, 3\); expected \(4, 400\)"):
        nn.backward_propagation(params, {"A1": np.zeros((4, 3)), "A2": np.zeros((1, 400))}, X, Y)
    with pytest.raises(ValueError, match=r"grads is missing 'db2'"):
        nn.update_parameters(params, {"dW1": params["W1"], "db1": params["b1"], "dW2": params["W2"]})
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        nn.nn_model(np.full((2, 4), np.nan), np.zeros((1, 4)), 4)


def test_gradients_and_caches_that_are_not_real_arrays_are_named(flower, params):
    """Strings, complex numbers, None or ragged lists where the course expects a gradient
    or a cached matrix: an error naming it, never a silent cast (complex to real dropped
    the imaginary part) or NumPy's anonymous message."""
    X, Y = flower
    A2, cache = nn.forward_propagation(X, params)
    grads = nn.backward_propagation(params, cache, X, Y)
    cases = [
        (TypeError, r"grads\['dW1'\] must hold real numbers; got dtype complex128", {"dW1": grads["dW1"] + 0j}),
        (TypeError, r"grads\['db2'\] must hold real numbers; got dtype <U1", {"db2": np.full((1, 1), "x")}),
        (ValueError, r"grads\['dW2'\] must be a rectangular array", {"dW2": [[1.0, 2.0], [3.0]]}),
    ]
    for exc, message, change in cases:
        with pytest.raises(exc, match=message):
            nn.update_parameters(params, {**grads, **change})
    for value, message in ((None, r"cache\['A1'\] must hold real numbers; got dtype object"),
                           (np.full((4, 400), "x"), r"cache\['A1'\] must hold real numbers")):
        with pytest.raises(TypeError, match=message):
            nn.backward_propagation(params, {**cache, "A1": value}, X, Y)
    with pytest.raises(ValueError, match=r"X must be a rectangular array"):
        nn.forward_propagation([[1.0, 2.0], [3.0]], params)
    np.testing.assert_array_equal(nn.update_parameters(params, {k: v.tolist() for k, v in grads.items()})["W1"],
                                  nn.update_parameters(params, grads)["W1"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_probabilities_and_gradients_are_refused(flower, params, bad):
    # compute_cost reads A2's range from one compiled scan, update_parameters checks the
    # four gradients in one: a NaN compares false both ways and must still fail.
    _, Y = flower
    A2 = np.full((1, 400), 0.5)
    A2[0, 123] = bad
    with pytest.raises(ValueError, match=r"A2 must hold probabilities in \[0, 1\]"):
        nn.compute_cost(A2, Y)
    for k in ("dW1", "db1", "dW2", "db2"):
        grads = {"d" + name: np.zeros_like(a) for name, a in params.items()}
        grads[k].flat[-1] = bad
        before = {name: a.copy() for name, a in params.items()}
        with pytest.raises(ValueError, match=rf"grads\['{k}'\] contains NaN or inf"):
            nn.update_parameters(params, grads)
        for name, a in params.items():
            np.testing.assert_array_equal(a, before[name])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_update_parameters_names_a_non_finite_parameter_before_any_gradient(params, bad):
    # The parameters' NaN and inf are looked for only once the update's result shows one:
    # a parameter's must still be refused, and named before a gradient's.
    grads = {"d" + name: np.zeros_like(a) for name, a in params.items()}
    grads["dW1"][0, 0] = np.nan
    for name in ("W1", "b1", "W2", "b2"):
        bad_params = {k: a.copy() for k, a in params.items()}
        bad_params[name].flat[-1] = bad
        with pytest.raises(ValueError, match=rf"params\['{name}'\] contains NaN or inf"):
            nn.update_parameters(bad_params, grads)


def test_update_parameters_takes_gradients_in_any_real_dtype_and_layout(params):
    grads = {"d" + name: np.full_like(a, 0.25) for name, a in params.items()}
    expected = {k: params[k] - 1.2 * 0.25 for k in params}
    # float32, F order, big-endian (as read from a file), strided: each takes the conversion.
    for change in (lambda a: a.astype(np.float32), lambda a: np.asfortranarray(a),
                   lambda a: a.astype(a.dtype.newbyteorder()), lambda a: np.repeat(a, 2, axis=1)[:, ::2]):
        new = nn.update_parameters(params, {k: change(g) for k, g in grads.items()})
        for k in params:
            np.testing.assert_array_equal(new[k], expected[k])
    with pytest.raises(TypeError, match=r"grads must be a dict with keys dW1, db1, dW2, db2; got list"):
        nn.update_parameters(params, list(grads.values()))


@pytest.mark.parametrize("bad", [np.nan, 1.5, -0.5])
def test_compute_cost_names_labels_out_of_range(flower, bad):
    # One compiled call takes the cost and tests both arrays' ranges; which one failed is
    # then said as before.
    _, Y = flower
    labels = Y.astype(np.float64)
    labels[0, 7] = bad
    message = r"Y contains NaN or inf" if np.isnan(bad) else r"Y must hold labels in \[0, 1\]"
    with pytest.raises(ValueError, match=message):
        nn.compute_cost(np.full((1, 400), 0.5), labels)
    with pytest.raises(ValueError, match=r"A2 must hold probabilities"):  # A2 is named first
        nn.compute_cost(np.full((1, 400), 2.0), labels)


def test_extra_datasets_are_column_per_example():
    pytest.importorskip("sklearn")
    sets = fs.datasets.load_extra_datasets(seed=0)
    assert len(sets) == 4
    for X, Y in sets:
        assert X.shape == (2, 200) and Y.shape == (1, 200)
    assert set(np.unique(sets[2][1])) == set(range(6))  # blobs: the caller takes labels mod 2
    params = nn.nn_model(sets[1][0], sets[1][1], 4, num_iterations=1000)  # moons train as they are
    assert np.mean(nn.predict(params, sets[1][0]) == sets[1][1]) > 0.8


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"n_samples": 1}, ValueError, r"n_samples must be >= 2; got 1"),
    ({"n_samples": 2.5}, TypeError, r"n_samples must be an integer; got float 2.5"),
    ({"seed": "x"}, TypeError, r"seed must be an integer; got str 'x'"),
    ({"seed": -1}, ValueError, r"seed must be >= 0; got -1"),
])
def test_extra_datasets_name_a_bad_argument(kwargs, exc, message):
    pytest.importorskip("sklearn")
    with pytest.raises(exc, match=message):
        fs.datasets.load_extra_datasets(**kwargs)


def test_extra_datasets_without_sklearn_say_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install '\.\[sklearn\]' in a fastshallow checkout"):
        fs.datasets.load_extra_datasets()


def test_plots_draw_the_boundary_and_the_cost_curve(flower, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, Y = flower
    params = nn.nn_model(X, Y, 4, num_iterations=500)
    ax = fs.plot_decision_boundary(lambda x: nn.predict(params, x.T), X, Y)
    assert len(ax.collections) >= 3  # the shaded regions and the two classes' points
    ax2 = fs.plot_costs(fs.train(params, X, Y, num_iterations=50))
    assert ax2.get_yscale() == "log" and len(ax2.lines[0].get_xdata()) == 50
    ax.figure.savefig(tmp_path / "boundary.png")
    assert (tmp_path / "boundary.png").stat().st_size > 1000


def test_plots_name_what_they_cannot_draw(flower):
    pytest.importorskip("matplotlib")
    X, Y = flower
    with pytest.raises(ValueError, match=r"costs must be one value per iteration \(1-D\); got shape \(2, 2\)"):
        fs.plot_costs(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"costs must hold real numbers"):
        fs.plot_costs("abc")
    with pytest.raises(TypeError, match=r"predict_fn's result must hold real numbers"):
        fs.plot_decision_boundary(lambda points: "yes", X, Y)
    with pytest.raises(ValueError, match=r"predict_fn must return one label per point: 90000 points gave 3"):
        fs.plot_decision_boundary(lambda points: np.zeros(3), X, Y)
    # These met Python's "'NoneType' object is not callable", a NaN grid the predictor
    # blamed on its own X, and NumPy's "zero-size array to reduction operation".
    with pytest.raises(TypeError, match=r"^predict_fn must be callable \(\(N, 2\) points -> N labels\); got NoneType$"):
        fs.plot_decision_boundary(None, X, Y)
    unseen = []
    with pytest.raises(ValueError, match="^X contains NaN or inf$"):
        fs.plot_decision_boundary(unseen.append, np.where(X > 3, np.nan, X), Y)
    assert not unseen  # refused before the predictor ran
    with pytest.raises(ValueError, match=r"^X must be \(2, m\) for a plane plot, m >= 1; got shape \(2, 0\)$"):
        fs.plot_decision_boundary(unseen.append, np.zeros((2, 0)), np.zeros(0))
