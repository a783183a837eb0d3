"""scikit-learn's own estimator checks, run on ShallowNetClassifier with nothing waived."""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastshallow import ShallowNetClassifier  # noqa: E402


@parametrize_with_checks([ShallowNetClassifier()])
def test_sklearn_check(estimator, check):
    check(estimator)
