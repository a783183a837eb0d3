"""ShallowNetClassifier: the network behind scikit-learn's estimator interface.

Needs scikit-learn (``pip install '.[sklearn]'`` from a checkout); the rest of fastshallow does not.

Data arrive the scikit-learn way, X (n_samples, n_features). The kernels take examples as
columns, and X.T is exactly that, as a view: a C-ordered X becomes an F-ordered (n_x, m)
X.T, which the kernels read in place, as they do an F-ordered X. Only a strided X (neither
layout) or another dtype is copied. Mini-batches and the early-stopping split are index
arrays into X (kernels/step.py, `cols`), never copies.

Outputs, by the type of target (sklearn.utils.multiclass.type_of_target):
- binary: one sigmoid unit with binary cross-entropy (the seed's network);
- multiclass: a softmax over one unit per class, with categorical cross-entropy;
- multilabel indicator: one sigmoid unit per label.
The optimiser is engine.sgd's rule; kernels/descent.py documents its equations.
"""

import warnings
from functools import partial
from typing import Callable, NamedTuple, Optional

import numpy as np
from scipy.special import entr, log_expit, log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import engine
from ._progress import Progress
from ._threads import max_threads
from ._validation import PARAM_NAMES, check_separate, check_X, finite_real, float_dtype, positive_int
from .engine import Activation, Output
from .errors import cluster_error, divergence_error

# MLPClassifier's activation names ("logistic" among them), plus this library's "sigmoid".
_ACTIVATIONS = engine.ACTIVATION_NAMES


class ShallowNetClassifier(ClassifierMixin, BaseEstimator):
    """A one-hidden-layer network classifier trained by mini-batch SGD with momentum.

    The interface of scikit-learn's MLPClassifier with one hidden layer and solver="sgd",
    with the same equations (L2 penalty, momentum, Nesterov's momentum), computed by
    fastshallow's compiled kernels. The same random_state gives the same bits for any
    number of threads.

    Parameters
    ----------
    n_hidden : int, default=100
        Hidden units.
    activation : {"relu", "tanh", "logistic", "sigmoid", "identity"}, default="relu"
        The hidden layer's activation; "sigmoid" is "logistic".
    learning_rate : float, default=0.01
        The SGD step size (constant).
    max_iter : int, default=200
        The most epochs (passes over the training data) fit runs.
    tol, n_iter_no_change : float, default=1e-4, and int, default=10
        Training stops once the loss (or, with early_stopping, the validation accuracy) has
        failed to improve by at least tol for more than n_iter_no_change epochs in a row.
    batch_size : int or None, default=200
        Examples per mini-batch, capped at the training set's size; the order is shuffled
        every epoch with random_state. None: full-batch gradient descent, one step per epoch.
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), scaled as in MLPClassifier.
    early_stopping : bool, default=False
        Hold out validation_fraction of the training data (stratified), stop on its
        accuracy, and keep the parameters of the best epoch.
    validation_fraction : float in (0, 1), default=0.1
    random_state : None, int or numpy.random.RandomState
        Initial weights, the shuffling and the validation split.
    n_threads : int or None, default=None
        The most threads to use; None, or a number above the threads available
        (NUMBA_NUM_THREADS, which joblib lowers in its worker processes), means all.
        With Dask arrays: the threads of each chunk task on the workers, None meaning 1
        (Dask runs one task per worker thread).
    dtype : "float64" or "float32", default="float64"
        The precision of the parameters and of all arithmetic.
    warm_start : bool, default=False
        fit continues from the previous solution instead of starting again.
    verbose : bool, default=False
        Report each epoch's loss: a tqdm progress bar when tqdm is installed, else a line.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ (when X has string column names)
    coefs_, intercepts_ : lists of arrays
        Weights in scikit-learn's (fan_in, fan_out) orientation and biases (fan_out,), as
        views of the parameters the kernels use (which are (fan_out, fan_in)).
    loss_, loss_curve_, best_loss_ : the last epoch's mean loss (penalty included), every
        epoch's, and the lowest (None with early stopping)
    validation_scores_, best_validation_score_ : with early stopping, the accuracy on the
        held-out set at every epoch, and the best
    n_iter_ : epochs run; t_ : training examples seen
    """

    def __init__(
        self,
        n_hidden=100,
        *,
        activation="relu",
        learning_rate=0.01,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        batch_size=200,
        momentum=0.9,
        nesterovs_momentum=True,
        alpha=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        random_state=None,
        n_threads=None,
        dtype="float64",
        warm_start=False,
        verbose=False,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.batch_size = batch_size
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_threads = n_threads
        self.dtype = dtype
        self.warm_start = warm_start
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # -- the fitted parameters, in scikit-learn's orientation ---------------------------

    @property
    def coefs_(self):
        check_is_fitted(self)
        return [self._params["W1"].T, self._params["W2"].T]

    @coefs_.setter
    def coefs_(self, coefs):
        self._set_layers("coefs_", coefs, ("W1", "W2"), lambda a: a.T)

    @property
    def intercepts_(self):
        check_is_fitted(self)
        return [self._params["b1"][:, 0], self._params["b2"][:, 0]]

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._set_layers("intercepts_", intercepts, ("b1", "b2"), lambda a: a[:, None])

    def _set_layers(self, name, layers, keys, to_kernel):
        """Assign a fitted model's coefs_ or intercepts_ (a list of two arrays, one per layer,
        in scikit-learn's orientation): every array is checked first, then copied in, so
        the model never shares memory with the caller's arrays or is left half-assigned."""
        check_is_fitted(self)
        if not isinstance(layers, (list, tuple)) or len(layers) != 2:
            raise ValueError(f"{name} must be a list of 2 arrays, one per layer; got {type(layers).__name__}")
        new = {}
        for i, (key, layer, now) in enumerate(zip(keys, layers, getattr(self, name))):
            a = np.asarray(layer)
            if a.shape != now.shape:
                raise ValueError(f"{name}[{i}] has shape {a.shape}; expected {now.shape}")
            if a.dtype.kind not in "biuf" or not np.isfinite(a).all():
                raise ValueError(f"{name}[{i}] must hold finite real numbers")
            new[key] = np.array(to_kernel(a), dtype=now.dtype, order="C")
        self._params = {**self._params, **new}

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X, y):
        """Train for up to max_iter epochs (from scratch unless warm_start). Returns self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current state. The first call must
        give every class in `classes` (except for multilabel targets). Returns self."""
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, *, incremental, classes=None):
        prepare = self._prepare_dask if _is_dask(X) or _is_dask(y) else self._prepare
        saved = self.__dict__.copy()
        try:
            run = prepare(X, y, incremental, classes)
        except BaseException:
            # Bad input loses nothing: a fitted model stays as it was.
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        try:
            return self._epochs(run, incremental)
        finally:
            run.release()

    def _prepare(self, X, y, incremental, classes):
        """Check NumPy-like input and make the model ready to train on it. Returns the
        _Run for _epochs."""
        settings = self._settings()
        dtype = settings["dtype"]
        fresh = self._afresh(incremental)
        X, y = validate_data(self, X, y, reset=fresh, dtype=dtype, multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        XT = _examples_as_columns(X, X.shape[1], dtype)
        if fresh:
            self._start(y, X.shape[1], classes, settings, incremental)
        else:
            self._check_targets(y, classes)
        if not fresh:
            # The epoch kernel writes the parameters while it reads X: they must not overlap.
            check_separate({f"the model's {k}": v for k, v in self._params.items()} | {"X": XT})
        Y = _targets(self._label_binarizer, y, dtype)
        train_idx, val_idx = self._split(y, incremental, settings)

        def epoch():
            return self._epoch(XT, Y, train_idx, settings)

        def score():
            return accuracy_score(y[val_idx], self._predict_columns(XT, val_idx))

        # Label counts of the training examples, without copying their columns of Y.
        counts = Y.sum(axis=1, dtype=np.float64)
        if val_idx is not None:
            counts -= Y[:, val_idx].sum(axis=1, dtype=np.float64)
        baseline = _baseline_loss(counts / train_idx.shape[0], self._output)
        return _Run(settings, epoch, train_idx.shape[0], None if val_idx is None else score, lambda: None, baseline)

    def _afresh(self, incremental):
        """True when this fit starts a new model rather than continuing the current one."""
        return not hasattr(self, "_params") or not (incremental or self.warm_start)

    def _epochs(self, run, incremental):
        """Run run.epoch() until converged or max_iter, or once for partial_fit. Returns self."""
        settings, epoch, m, score = run.settings, run.epoch, run.m, run.score
        if not incremental:
            # Every fit is a new run of the optimiser from the current weights (MLPClassifier
            # does the same under warm_start); partial_fit calls continue one run.
            for v in self._velocity.values():
                v[...] = 0
            self._no_improvement_count = 0
            if score is not None:
                self.validation_scores_ = getattr(self, "validation_scores_", [])
                self.best_validation_score_ = -np.inf
                self._best_params = {k: v.copy() for k, v in self._params.items()}
        epochs = 1 if incremental else settings["max_iter"]
        progress = Progress(
            epochs, "epoch", enabled=self.verbose, desc="ShallowNetClassifier", line=partial(_epoch_line, self.n_iter_)
        )
        converged = False
        try:
            for _ in range(epochs):
                loss = epoch()
                self.n_iter_ += 1
                self.t_ += m
                self.loss_ = loss
                self.loss_curve_.append(loss)
                accuracy = None
                if score is not None:
                    accuracy = score()
                    self.validation_scores_.append(accuracy)
                progress.update(1, loss=f"{loss:.6g}", **({} if accuracy is None else {"val": f"{accuracy:.4f}"}))
                if self._no_improvement(loss, accuracy, settings["tol"]) and not incremental:
                    converged = True
                    break
        finally:
            progress.close()
        if score is not None:
            self._params = self._best_params  # the best epoch's, as MLPClassifier keeps
            del self._best_params
        if run.baseline is not None and self.loss_ > DIVERGED * run.baseline:
            warnings.warn(
                f"ShallowNetClassifier: training diverged: the loss ended at {self.loss_:.4g}, more than "
                f"{DIVERGED} times the {run.baseline:.4g} of predicting each label's frequency; lower learning_rate (was "
                f"{settings['learning_rate']}) or standardise X.",
                ConvergenceWarning,
                stacklevel=4,
            )
        elif not incremental and not converged:
            warnings.warn(
                f"ShallowNetClassifier: reached max_iter = {settings['max_iter']} epochs without "
                f"converging (the {'validation score' if score is not None else 'loss'} still "
                f"improved by more than tol = {settings['tol']} within n_iter_no_change = "
                f"{settings['n_iter_no_change']} epochs); raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return self

    def _prepare_dask(self, X, y, incremental, classes):
        """_prepare for Dask arrays: the data is checked and persisted on the cluster
        (fastshallow.distributed.Chunks), and each epoch's batches are summed there."""
        import dask.array as da

        from . import distributed as fsd

        settings = self._settings()
        if self.early_stopping:
            raise ValueError(
                "early_stopping is not supported with Dask arrays: hold out a validation set and "
                "use partial_fit, or fit on NumPy data"
            )
        if not _is_dask(X) or not _is_dask(y):
            raise TypeError(
                f"X and y must both be Dask arrays, or neither; got {type(X).__name__} and {type(y).__name__}"
            )
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, (n_samples, n_features); got shape {X.shape}")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        fresh = self._afresh(incremental)
        if not fresh and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but ShallowNetClassifier is expecting "
                f"{self.n_features_in_} features as input"
            )
        # The labels, without bringing y to the client: its distinct values, or for an
        # indicator matrix its first rows (every chunk's values are checked where it is
        # binarised, on its worker).
        labels = y[:1000].compute() if y.ndim == 2 else np.unique(da.unique(y).compute())
        check_classification_targets(labels)
        if fresh:
            self._start(labels, X.shape[1], classes, settings, incremental)
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            self._check_targets(labels, classes)
        if labels.ndim == 1:
            _label_index(self.classes_, labels)  # before the cluster loads anything
        n_h, n_x = self._params["W1"].shape
        data = fsd.Chunks(
            fsd._client(None),
            X,
            y,
            n_x=n_x,
            n_h=n_h,
            n_y=self._params["W2"].shape[0],
            dtype=settings["dtype"],
            out=self._output,
            layout="rows",
            n_threads=settings["n_threads"] or 1,
            encode=partial(_targets, self._label_binarizer, dtype=settings["dtype"]),
        )
        return _Run(settings, partial(self._dask_epoch, data, settings), data.m, None, data.release, None)

    def _dask_epoch(self, data, settings):
        """One epoch over the cluster's data; returns the mean loss. Batches are drawn as in
        _epoch, so the two paths take the same steps, up to the rounding of the sums."""
        from . import distributed as fsd

        m = data.m
        batch = _batch_size(settings, m)
        order = None if settings["batch_size"] is None else self._rng.permutation(m)
        batches = [None] if order is None else [order[k : k + batch] for k in range(0, m, batch)]
        run = fsd.Descent(
            data,
            tuple(self._params[k] for k in PARAM_NAMES),
            settings["code"],
            self._output,
            self._rule(settings),
            velocity=tuple(self._velocity[k] for k in PARAM_NAMES),
        )
        losses = np.empty(len(batches))
        try:
            done, status = run.steps(batches, losses)()
        except Exception as exc:
            raise cluster_error(
                exc,
                at=f"in epoch {self.n_iter_ + 1}",
                state=f"the model keeps its state after epoch {self.n_iter_}",
                iteration=self.n_iter_,
                costs=self.loss_curve_,
                kept=self.n_iter_,
            ) from exc
        if status != engine.OK:
            raise self._diverged(done, status, losses, settings)
        self._params = dict(zip(PARAM_NAMES, run.params))
        self._velocity = dict(zip(PARAM_NAMES, run.velocity))
        return _mean_loss(losses, m, batch)

    def _rule(self, settings):
        """The optimiser's rule for the engine."""
        return engine.sgd(settings["learning_rate"], settings["momentum"], bool(self.nesterovs_momentum), settings["alpha"])

    def _settings(self):
        """The hyperparameters, checked; a ValueError or TypeError names any bad one."""
        if not isinstance(self.activation, str) or self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}; got {self.activation!r}"
            )
        batch = self.batch_size
        n_threads = self.n_threads
        if n_threads is not None:
            n_threads = min(positive_int(n_threads, "n_threads"), max_threads())
        return {
            "dtype": float_dtype(self.dtype),
            "code": _ACTIVATIONS[self.activation],
            "n_hidden": positive_int(self.n_hidden, "n_hidden"),
            "learning_rate": finite_real(self.learning_rate, "learning_rate", positive=True),
            "max_iter": positive_int(self.max_iter, "max_iter"),
            "tol": finite_real(self.tol, "tol", low=0.0),
            "n_iter_no_change": positive_int(self.n_iter_no_change, "n_iter_no_change"),
            "batch_size": None if batch is None else positive_int(batch, "batch_size"),
            "momentum": finite_real(self.momentum, "momentum", low=0.0, high=1.0),
            "alpha": finite_real(self.alpha, "alpha", low=0.0),
            "validation_fraction": _fraction(self.validation_fraction, "validation_fraction"),
            "n_threads": n_threads,
        }

    def _start(self, y, n_x, classes, settings, incremental):
        """A fresh model: labels, output layer, initial parameters, empty history."""
        if y.ndim == 1 and incremental and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        # An indicator matrix names its labels by its columns, whatever `classes` says.
        self._label_binarizer = LabelBinarizer().fit(y if classes is None or y.ndim == 2 else classes)
        target = self._label_binarizer.y_type_
        self.classes_ = self._label_binarizer.classes_
        if target != "multilabel-indicator" and len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({self.classes_[0]!r}); a classifier needs at least 2 classes"
            )
        self._output = Output.SOFTMAX if self._label_binarizer.y_type_ == "multiclass" else Output.SIGMOID
        n_y = 1 if self._label_binarizer.y_type_ == "binary" else len(self.classes_)
        self._rng = check_random_state(self.random_state)
        self._params = _initial_params(n_x, settings["n_hidden"], n_y, self.activation, self._rng, settings["dtype"])
        self._velocity = {k: np.zeros_like(v) for k, v in self._params.items()}
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self._no_improvement_count = 0
        if self.early_stopping and not incremental:
            self.validation_scores_ = []

    def _check_targets(self, y, classes):
        """y's shape and `classes`, if given, must agree with the first fit. (That y's labels
        are all classes is checked where they are binarised: _targets.)"""
        lb = self._label_binarizer
        if lb.y_type_ == "multilabel-indicator":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a multilabel indicator matrix with {len(self.classes_)} columns, as "
                    f"in the first fit; got shape {y.shape}"
                )
            return
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes of the first call, "
                f"{self.classes_.tolist()}"
            )

    def _split(self, y, incremental, settings):
        """(training indices, validation indices or None), int64 index arrays into X."""
        m = y.shape[0]
        every = np.arange(m, dtype=np.int64)
        if not self.early_stopping or incremental:
            return every, None
        stratify = y if self._label_binarizer.y_type_ != "multilabel-indicator" else None
        fraction = settings["validation_fraction"]
        try:
            train_idx, val_idx = train_test_split(every, test_size=fraction, random_state=self._rng, stratify=stratify)
        except ValueError as exc:  # too few samples, or classes, for this split
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction={fraction} of {m} samples: {exc}"
            ) from None
        return np.sort(train_idx), np.sort(val_idx)

    def _epoch(self, XT, Y, train_idx, settings):
        """One pass over the training examples; returns the mean loss (penalty included).

        On divergence the model goes back to its state before the epoch, and
        DivergenceError says so."""
        m = train_idx.shape[0]
        batch = _batch_size(settings, m)
        order = train_idx if settings["batch_size"] is None else self._rng.permutation(train_idx)
        losses = np.empty(-(-m // batch))
        params = tuple(self._params[k] for k in PARAM_NAMES)
        velocity = tuple(self._velocity[k] for k in PARAM_NAMES)
        n_h, n_x = params[0].shape
        n_y = params[2].shape[0]
        dtype = settings["dtype"]
        the_plan = engine.plan(batch, params)
        engine.check_memory(the_plan, n_x, n_h, n_y, 0, dtype)
        before = [a.copy() for a in params + velocity]
        run = engine.descend(
            params,
            XT,
            Y,
            losses,
            activation=settings["code"],
            output=self._output,
            rule=self._rule(settings),
            the_plan=the_plan,
            n_threads=settings["n_threads"],
            order=order,
            batch=batch,
            velocity=velocity,
        )
        if run.status != engine.OK:
            for target, saved in zip(params + velocity, before):
                target[...] = saved
            raise self._diverged(run.done, run.status, losses, settings)
        if run.final is not params:  # the last step's state is in descend's spare buffer
            for target, source in zip(params, run.final):
                target[...] = source
        return _mean_loss(losses, m, batch)

    def _diverged(self, batch, status, losses, settings):
        """The DivergenceError for batch `batch` of epoch n_iter_ + 1 (losses: that epoch's
        batches'); the model is back at its state after n_iter_ epochs."""
        return divergence_error(
            status,
            at=f"in epoch {self.n_iter_ + 1}, batch {batch}",
            cost=losses[batch],
            learning_rate=settings["learning_rate"],
            state="The model keeps its state from before that epoch.",
            iteration=self.n_iter_,
            costs=self.loss_curve_,
            kept=self.n_iter_,
        )

    def _no_improvement(self, loss, score, tol):
        """Track the best epoch (engine.track); True once more than n_iter_no_change epochs
        in a row have not improved on it by tol."""
        if score is not None:
            record = engine.Plateau(self.best_validation_score_, self._no_improvement_count)
            record, improved = engine.track(record, score, tol, higher_is_better=True)
            self.best_validation_score_ = record.best
            if improved:
                self._best_params = {k: v.copy() for k, v in self._params.items()}
            self.best_loss_ = None
        else:
            record, _ = engine.track(engine.Plateau(self.best_loss_, self._no_improvement_count), loss, tol, False)
            self.best_loss_ = record.best
        self._no_improvement_count = record.stalled
        return self._no_improvement_count > self.n_iter_no_change

    # -- prediction -----------------------------------------------------------------------

    def _outputs(self, XT, cols, out):
        """The output layer `out` (engine.Output: SIGMOID, SOFTMAX or IDENTITY) on the examples `cols`
        (None: all) of XT; shape (n_samples, n_y)."""
        params = tuple(self._params[k] for k in PARAM_NAMES)
        m = XT.shape[1] if cols is None else cols.shape[0]
        A = engine.outputs(params, XT, activation=_ACTIVATIONS[self.activation], output=out,
                           the_plan=engine.plan(m, params), cols=cols, n_threads=self._settings()["n_threads"])
        return np.ascontiguousarray(A.T)

    def _columns(self, X):
        check_is_fitted(self)
        dtype = self._params["W1"].dtype
        X = validate_data(self, X, reset=False, dtype=dtype)
        return _examples_as_columns(X, self.n_features_in_, dtype)

    def _labels_from_logits(self, Z):
        """Predicted labels from logits Z (n_samples, n_y): argmax for softmax, Z > 0 (that
        is, probability > 0.5) for sigmoid outputs."""
        if self._output == Output.SOFTMAX:
            return self.classes_[np.argmax(Z, axis=1)]
        positive = (Z > 0).astype(int)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return positive
        return self.classes_[positive[:, 0]]

    def _predict_columns(self, XT, cols):
        return self._labels_from_logits(self._outputs(XT, cols, Output.IDENTITY))

    def _per_block(self, X, method):
        """method (a prediction method's name) on each block of rows of the Dask array X,
        as a lazy Dask array: the model goes to the workers, the data stays there."""
        check_is_fitted(self)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features) = (n_samples, {self.n_features_in_})")
        n_y = self._params["W2"].shape[0]
        y_type = self._label_binarizer.y_type_
        if method == "predict":
            columns = n_y if y_type == "multilabel-indicator" else None
            dtype = np.dtype(int) if y_type == "multilabel-indicator" else self.classes_.dtype
        else:
            two = 2 if method != "decision_function" else None  # binary: [1 - p, p], or one logit
            columns = two if y_type == "binary" else n_y
            dtype = self._params["W1"].dtype
        X = X.rechunk({1: -1})
        if columns is None:
            return X.map_blocks(_call, self, method, drop_axis=1, dtype=dtype)
        return X.map_blocks(_call, self, method, chunks=(X.chunks[0], (columns,)), dtype=dtype)

    def decision_function(self, X):
        """The logits: shape (n_samples,) for binary targets, else (n_samples, n_y)."""
        if _is_dask(X):
            return self._per_block(X, "decision_function")
        Z = self._outputs(self._columns(X), None, Output.IDENTITY)
        return Z[:, 0] if self._label_binarizer.y_type_ == "binary" else Z

    def predict(self, X):
        """Class labels (n_samples,), or a 0/1 indicator matrix for multilabel targets.
        Prediction methods take Dask arrays too, and return lazy Dask arrays."""
        if _is_dask(X):
            return self._per_block(X, "predict")
        return self._predict_columns(self._columns(X), None)

    def predict_proba(self, X):
        """Probabilities (n_samples, n_classes): softmax, or sigmoid per label, or
        [1 - p, p] for binary targets."""
        if _is_dask(X):
            return self._per_block(X, "predict_proba")
        A = self._outputs(self._columns(X), None, self._output)
        if self._label_binarizer.y_type_ == "binary":
            return np.hstack([1 - A, A])
        return A

    def predict_log_proba(self, X):
        """log of predict_proba, computed from the logits so that it stays finite where a
        probability rounds to 0."""
        if _is_dask(X):
            return self._per_block(X, "predict_log_proba")
        Z = self.decision_function(X)
        if self._label_binarizer.y_type_ == "binary":
            return np.column_stack([log_expit(-Z), log_expit(Z)])
        if self._output == Output.SOFTMAX:
            return log_softmax(Z, axis=1)
        return log_expit(Z)


# A fit whose loss ends above this multiple of the baseline (_baseline_loss) has done
# worse than zero weights would: its updates overshot. The margin keeps a fit that merely
# learned nothing (labels unrelated to X) from being called diverged.
DIVERGED = 2.0


class _Run(NamedTuple):
    """A fit made ready by _prepare or _prepare_dask, for _epochs."""

    settings: dict  # the checked hyperparameters (_settings)
    epoch: Callable  # trains one epoch, returns its mean loss (penalty included)
    m: int  # training examples per epoch
    score: Optional[Callable]  # the validation accuracy, with early stopping
    release: Callable  # frees what the run holds (Dask's persisted chunks)
    baseline: Optional[float]  # the loss of predicting each label's frequency (None: not known)


def _baseline_loss(frequency, output):
    """The loss of a model that predicts each label's frequency (n_y,) among the training
    targets, whatever the input: the entropy of the labels, which zero weights and
    the matching biases reach. A trained model should end below it."""
    if output == Output.SOFTMAX:
        return float(entr(frequency).sum())
    return float((entr(frequency) + entr(1 - frequency)).sum())


def _fraction(value, name):
    """A share of the samples, in [0, 1) (all of them would leave nothing to train on)."""
    value = finite_real(value, name, low=0.0, high=1.0)
    if value == 1.0:
        raise ValueError(f"{name} must be in [0, 1) (1 would hold out every sample); got {value}")
    return value


def _is_dask(a):
    """True for a Dask collection; tested by module so that dask is never imported here."""
    return type(a).__module__.split(".")[0] == "dask"


def _batch_size(settings, m):
    """Examples per batch of an epoch over m: batch_size capped at m, or m (full batch)."""
    return m if settings["batch_size"] is None else min(settings["batch_size"], m)


def _mean_loss(losses, m, batch):
    """An epoch's loss: its batches' losses weighted by their sizes (the last may be short)."""
    sizes = np.full(len(losses), batch, dtype=np.float64)
    sizes[-1] = m - batch * (len(losses) - 1)
    return float(losses @ sizes / m)


def _call(block, model, method):
    """model.method(block), for Dask's map_blocks."""
    return getattr(model, method)(block)


def _targets(label_binarizer, y, dtype):
    """The kernels' targets (n_y, m), C-contiguous in `dtype`, for labels y (m,) or an
    indicator matrix (m, k): label_binarizer.transform(y).T. ValueError if a label is not
    one of its classes. Also run on Dask's workers, chunk by chunk.

    Labels are found by a binary search of the sorted classes_: for 75,000 binary labels
    0.75 ms against transform's 4.3 (which checks the type of target and finds the labels
    again)."""
    lb = label_binarizer
    if lb.y_type_ == "multilabel-indicator":
        return np.ascontiguousarray(lb.transform(y).T, dtype=dtype)
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D, one label per sample, as in the first fit ({lb.y_type_} targets); "
            f"got shape {y.shape}"
        )
    index = _label_index(lb.classes_, y)
    if lb.y_type_ == "binary":  # one output: 1 for the second class
        return (index == 1).astype(dtype)[None, :]
    Y = np.zeros((len(lb.classes_), len(y)), dtype)
    Y[index, np.arange(len(y))] = 1
    return Y


def _label_index(classes, y):
    """Each label of y (m,) as its index in the sorted array `classes`; ValueError naming
    the labels that are not among them."""
    index = np.searchsorted(classes, y)
    known = index < len(classes)
    known[known] = classes[index[known]] == y[known]
    if not known.all():
        raise ValueError(
            f"y has labels {np.unique(y[~known]).tolist()} that are not among classes_ = {classes.tolist()}"
        )
    return index


def _examples_as_columns(X, n_x, dtype):
    """X (m, n_x) -> (n_x, m) for the kernels: a view when X is C- or F-ordered, otherwise a
    copy (a strided view would make every tile load a gather)."""
    XT = X.T
    if not (XT.flags.c_contiguous or XT.flags.f_contiguous):
        XT = np.ascontiguousarray(X).T
    return check_X(XT, n_x, dtype)  # the magnitude check; finiteness is checked already


def _initial_params(n_x, n_h, n_y, activation, rng, dtype):
    """Glorot-uniform weights and biases, U(-r, r) with r = sqrt(6 / (fan_in + fan_out)),
    or sqrt(2 / ...) for the logistic activation: the initialisation MLPClassifier uses,
    so the two start from the same distribution. Drawn in float64, then cast."""
    factor = 2.0 if _ACTIVATIONS[activation] == Activation.SIGMOID else 6.0
    params = {}
    for (w, b), (fan_in, fan_out) in zip((("W1", "b1"), ("W2", "b2")), ((n_x, n_h), (n_h, n_y))):
        r = np.sqrt(factor / (fan_in + fan_out))
        params[w] = rng.uniform(-r, r, (fan_out, fan_in)).astype(dtype)
        params[b] = rng.uniform(-r, r, (fan_out, 1)).astype(dtype)
    return params


def _epoch_line(before, done, total, stats):
    """verbose's line without tqdm, in MLPClassifier's manner; `before` epochs were run by
    earlier calls."""
    extra = f", validation accuracy = {stats['val']}" if "val" in stats else ""
    return f"Epoch {before + done}, loss = {stats['loss']}{extra}"
