"""Plots for the flower demo and the course: decision boundaries and cost curves.

matplotlib is an optional extra (pip install '.[plot]').
"""

import numpy as np

from .validation import finite_range, numeric_array, positive_int


def pyplot():
    """matplotlib.pyplot, on the Agg backend unless an interactive one is in use; an
    ImportError naming the extra if matplotlib is missing."""
    try:
        import matplotlib

        if matplotlib.get_backend().lower() in ("", "agg") or not _interactive():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install '.[plot]' in a fastshallow checkout, or pip install matplotlib") from exc
    return plt


def save_png(fig, path, *, what="plot", dpi=110, overwrite=False):
    """Write fig to path as a PNG, atomically and only where a file may be written
    (fastshallow.files: an existing regular file only with overwrite=True, nothing that
    is not a regular file), then close it."""
    from .files import write_atomically

    try:
        write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=dpi), overwrite=overwrite, what=what)
    finally:
        pyplot().close(fig)


def _interactive():
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("MPLBACKEND"))


def plot_decision_boundary(predict_fn, X, Y, ax=None, resolution=300):
    """Shade the plane by predict_fn's class and scatter the examples X (2, m) coloured by Y.

    predict_fn takes an (N, 2) array of points, one per row, and returns N labels (any
    shape with N elements), as in the assignment: lambda x: predict(parameters, x.T).
    Returns the axes.
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable ((N, 2) points -> N labels); got {type(predict_fn).__name__}")
    resolution = positive_int(resolution, "resolution")
    plt = pyplot()
    X = numeric_array(X, "X").astype(float)
    Y = numeric_array(Y, "Y").reshape(-1)
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] == 0:
        raise ValueError(f"X must be (2, m) for a plane plot, m >= 1; got shape {X.shape}")
    if Y.shape[0] != X.shape[1]:
        raise ValueError(f"Y must have one label per column of X ({X.shape[1]}); got {Y.shape[0]}")
    finite_range(X, "X")  # the grid spans X: a NaN in it made every grid point NaN
    if ax is None:
        _, ax = plt.subplots()
    pad = 1.0
    x0 = np.linspace(X[0].min() - pad, X[0].max() + pad, resolution)
    x1 = np.linspace(X[1].min() - pad, X[1].max() + pad, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    labels = numeric_array(predict_fn(np.c_[g0.ravel(), g1.ravel()]), "predict_fn's result")
    if labels.size != g0.size:
        raise ValueError(f"predict_fn must return one label per point: {g0.size} points gave {labels.size} values")
    labels = labels.astype(float).reshape(g0.shape)
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    # One hue per class: light for the region predicted as that class, dark for its points.
    light, dark = ["#fdd0a2", "#c6dbef"], ["#d94801", "#2171b5"]
    ax.contourf(g0, g1, labels, levels=[-0.5, 0.5, 1.5], cmap=ListedColormap(light))
    for cls in (0, 1):
        keep = Y == cls
        ax.scatter(X[0, keep], X[1, keep], s=16, color=dark[cls], edgecolors="k", linewidths=0.3, label=f"y = {cls}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    handles, names = ax.get_legend_handles_labels()
    handles += [Patch(color=light[0], label="predicted 0"), Patch(color=light[1], label="predicted 1")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    return ax


def plot_costs(costs, ax=None, every=1):
    """The cost at each iteration (a sequence of floats), on a log scale. Returns the axes."""
    plt = pyplot()
    costs = numeric_array(costs, "costs").astype(float)
    if costs.ndim != 1:
        raise ValueError(f"costs must be one value per iteration (1-D); got shape {costs.shape}")
    if ax is None:
        _, ax = plt.subplots()
    its = np.arange(0, costs.shape[0], every)
    ax.plot(its, costs[::every])
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (cross-entropy)")
    ax.grid(True, which="both", alpha=0.3)
    return ax
