"""scikit-learn's own estimator checks, run on both estimators with nothing waived."""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastshallow import ShallowNetClassifier, ShallowNetRegressor  # noqa: E402


@parametrize_with_checks([ShallowNetClassifier(), ShallowNetRegressor()])
def test_sklearn_check(estimator, check):
    check(estimator)
