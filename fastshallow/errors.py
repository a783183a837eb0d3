"""The errors that stop training, and the one place that words them.

Both carry what happened as attributes: ``iteration`` (the iteration, or epoch, that
failed, counted from 0), ``costs`` (the finite costs recorded before it, float64) and
``kept`` (how many updates, or epochs, the parameters now hold).

- DivergenceError: an iteration's cost or update was not finite (divergence_error).
- ClusterError: the Dask cluster failed beyond what Dask recovers (cluster_error).
"""

import numpy as np

from .kernels.descent import COST_NOT_FINITE, UPDATE_NOT_FINITE


class TrainingStopped(Exception):
    """Training stopped before it finished; the parameters hold a whole, earlier state."""

    def __init__(self, message, iteration, costs, kept):
        super().__init__(message)
        self.iteration = iteration
        self.costs = np.asarray(costs, dtype=np.float64)
        self.kept = kept

    def __reduce__(self):  # so that it pickles (joblib, Dask) with its attributes
        return type(self), (str(self), self.iteration, self.costs, self.kept)


class DivergenceError(TrainingStopped, ValueError, FloatingPointError):
    """Training produced a non-finite cost or non-finite parameters.

    A ValueError (the inputs or the learning rate are the cause) and a FloatingPointError.
    """


class ClusterError(TrainingStopped, RuntimeError):
    """The cluster failed during training (a worker lost beyond Dask's retries, data lost,
    the connection closed). The original error is the ``__cause__``."""


def divergence_error(status, *, at, cost, learning_rate, state, iteration, costs, kept, first=False):
    """The DivergenceError for a failure with kernels.descent's `status`, worded in one way
    for every entry point: `at` says where ("at iteration 3", "in epoch 2, batch 5"),
    `cost` is the cost that was not finite (for COST_NOT_FINITE), and `state` says what the
    parameters now hold. first: the cost was the first of the call, before any update of
    it, so this call's learning rate cannot be the cause."""
    what = f"the cost was {cost}" if status == COST_NOT_FINITE else "the update made a parameter non-finite"
    if first and status == COST_NOT_FINITE:
        advice = (f"The parameters passed in give this cost before any update: if earlier steps made them, try a "
                  f"smaller learning_rate (this call's was {learning_rate}); else check the magnitudes of Y and of "
                  "the parameters, and standardise X.")
    else:
        advice = f"Try a smaller learning_rate (was {learning_rate}) or standardise X."
    return DivergenceError(
        f"training diverged {at}: {what}. {state} {advice}",
        iteration=iteration,
        costs=costs,
        kept=kept,
    )


def iterations_diverged(done, status, costs, learning_rate):
    """The DivergenceError of a gradient-descent call (fastshallow.train, or
    distributed.train) that stopped at iteration `done` with `status`, the parameters
    rolled back as kernels/descent.py describes; costs has every iteration's."""
    kept = done - 1 if status == COST_NOT_FINITE and done > 0 else done
    return divergence_error(
        status,
        at=f"at iteration {done}",
        cost=costs[done] if done < len(costs) else None,
        learning_rate=learning_rate,
        state=f"params hold the last state with finite parameters and cost ({kept} update(s) into this call).",
        iteration=done,
        costs=costs[: done + (status == UPDATE_NOT_FINITE)].copy(),
        kept=kept,
        first=done == 0,
    )


def cluster_error(cause, *, at, state, iteration, costs, kept):
    """The ClusterError for the cluster's exception `cause`, raised `at` a point of
    training ("in iteration 3"), the parameters holding `state`."""
    return ClusterError(
        f"the cluster failed {at} ({type(cause).__name__}: {cause}); {state}",
        iteration=iteration,
        costs=costs,
        kept=kept,
    )
