"""``sample_weight`` in every plsim ensemble, checked against scikit-learn's own ensembles.

Bootstrap bagging follows scikit-learn >= 1.8 (PR #31414): the weights are the
rows' probabilities of being drawn and a fractional ``max_samples`` is a
fraction of their sum. plsim draws its own rows (from its seed tree), so the
comparison with ``sklearn.ensemble.BaggingClassifier`` hands scikit-learn
plsim's draws through its index-drawing function: same rows and columns per
member, then scikit-learn fits (with the draw counts as weights when the base
estimator takes them, by indexing otherwise) and averages its own way.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    BaggingClassifier,
    BaggingRegressor,
    StackingClassifier,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from plsim.ensembles import (ParallelBaggingClassifier, ParallelBaggingRegressor, ParallelStackingClassifier,
                             ParallelVotingClassifier, ParallelVotingRegressor, RandomSubspaceClassifier,
                             SweepEnsembleClassifier)

X, Y = make_classification(240, 6, n_informative=4, n_classes=3, random_state=0)
XR, YR = make_regression(200, 5, noise=3.0, random_state=0)
W = np.random.default_rng(0).integers(0, 4, len(X)).astype(float)  # integer weights with zeros: counts
WR = np.random.default_rng(1).integers(0, 4, len(XR)).astype(float)
SKLEARN_18 = tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8)


def fit_sklearn_on_our_draws(theirs, ours, X, y, w, monkeypatch):
    """Fit scikit-learn's bagging ``theirs`` with the rows and columns each member of ``ours`` drew."""
    import sklearn.ensemble._bagging as bagging

    draws = list(zip(ours.estimators_features_, ours.estimators_samples_))
    asked = []

    def our_draw(random_state, bootstrap_features, bootstrap_samples, n_features, n_samples, max_features,
                 max_samples, sample_weight):
        asked.append((max_features, max_samples))
        return draws[len(asked) - 1]

    monkeypatch.setattr(bagging, "_generate_bagging_indices", our_draw)
    theirs.fit(X, y, sample_weight=w)
    # scikit-learn asked for as many rows and columns per member as plsim drew (its own count rule)
    assert asked == [(len(f), len(s)) for f, s in draws]
    return theirs


@pytest.mark.skipif(not SKLEARN_18, reason="scikit-learn < 1.8 passed weights to the members instead")
@pytest.mark.parametrize("base, exact", [(GaussianNB(), False), (KNeighborsClassifier(3), True)])
def test_bootstrap_bagging_classifier_matches_sklearn_on_the_same_draws(base, exact, monkeypatch):
    ours = ParallelBaggingClassifier(base, n_estimators=6, max_samples=0.8, max_features=4,
                                     random_state=0).fit(X, Y, sample_weight=W)
    theirs = fit_sklearn_on_our_draws(BaggingClassifier(base, n_estimators=6, max_samples=0.8, max_features=4,
                                                        random_state=0), ours, X, Y, W, monkeypatch)
    assert len(ours.estimators_samples_[0]) == int(0.8 * W.sum())  # a fraction of the weights' sum
    if exact:  # KNN takes no sample_weight: scikit-learn indexes the rows, as plsim does
        np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
    else:  # GaussianNB gets the draw counts as weights there, repeated rows here
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.skipif(not SKLEARN_18, reason="scikit-learn < 1.8 passed weights to the members instead")
@pytest.mark.parametrize("base", [Ridge(), KNeighborsRegressor(4)])
def test_bootstrap_bagging_regressor_matches_sklearn_on_the_same_draws(base, monkeypatch):
    ours = ParallelBaggingRegressor(base, n_estimators=5, max_samples=150, max_features=0.6,
                                    random_state=3).fit(XR, YR, sample_weight=WR)
    theirs = fit_sklearn_on_our_draws(BaggingRegressor(base, n_estimators=5, max_samples=150, max_features=0.6,
                                                       random_state=3), ours, XR, YR, WR, monkeypatch)
    np.testing.assert_allclose(ours.predict(XR), theirs.predict(XR), rtol=1e-9, atol=1e-9)


def test_bootstrap_draws_follow_the_weights():
    w = np.where(np.arange(len(X)) < 120, 3.0, 1.0)
    w[:10] = 0.0
    model = ParallelBaggingClassifier(n_estimators=200, max_samples=1.0, random_state=5)
    model.fit(X, Y, sample_weight=w)
    counts = np.bincount(np.concatenate(model.estimators_samples_), minlength=len(X))
    assert counts[:10].sum() == 0  # weight 0: never drawn
    drawn_rate = counts[10:120].mean() / counts[120:].mean()
    assert 2.8 < drawn_rate < 3.2  # weight 3 is drawn three times as often as weight 1 (expected 3.0)
    assert len(model.estimators_samples_[0]) == int(w.sum())  # fraction 1.0 of the weights' sum


def test_equal_weights_draw_as_no_weights_and_integer_weights_count_rows():
    plain = ParallelBaggingClassifier(n_estimators=4, random_state=2).fit(X, Y)
    ones = ParallelBaggingClassifier(n_estimators=4, random_state=2).fit(X, Y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(plain.predict_proba(X), ones.predict_proba(X))
    twos = ParallelBaggingClassifier(n_estimators=2, random_state=2).fit(X, Y, sample_weight=2)
    assert [len(s) for s in twos.estimators_samples_] == [2 * len(X)] * 2  # each row counts twice


def test_weights_summing_to_little_draw_few_rows_and_say_so():
    w = np.full(len(X), 1 / len(X))  # probabilities, not counts: they sum to 1
    w[0] *= 2
    with pytest.warns(UserWarning, match=r"draws only 1 rows per member out of 240.*give max_samples as a count"):
        model = ParallelBaggingClassifier(n_estimators=2, random_state=0).fit(X, Y, sample_weight=w)
    assert [len(s) for s in model.estimators_samples_] == [1, 1]
    counted = ParallelBaggingClassifier(n_estimators=2, max_samples=240, random_state=0).fit(X, Y, sample_weight=w)
    assert [len(s) for s in counted.estimators_samples_] == [240, 240]


def test_without_bootstrap_each_member_fit_gets_its_rows_weights():
    base = LogisticRegression(max_iter=2000)
    subspace = RandomSubspaceClassifier(base, n_estimators=3, max_features=3, random_state=1).fit(X, Y, W)
    for member, cols in zip(subspace.estimators_, subspace.estimators_features_):
        alone = clone(base).set_params(random_state=member.random_state).fit(X[:, cols], Y, sample_weight=W)
        np.testing.assert_array_equal(member.coef_, alone.coef_)
    pasting = ParallelBaggingClassifier(base, n_estimators=3, max_samples=0.5, bootstrap=False,
                                        random_state=1).fit(X, Y, sample_weight=W)
    for member, rows in zip(pasting.estimators_, pasting.estimators_samples_):
        alone = clone(base).set_params(random_state=member.random_state).fit(X[rows], Y[rows],
                                                                             sample_weight=W[rows])
        np.testing.assert_array_equal(member.coef_, alone.coef_)


def test_base_estimator_without_sample_weight():
    # Bootstrap: the weights only steer the draw, so any base estimator works (as in scikit-learn >= 1.8).
    ParallelBaggingClassifier(KNeighborsClassifier(), n_estimators=2, random_state=0).fit(X, Y, sample_weight=W)
    # Without bootstrap the members' fit must take them.
    with pytest.raises(TypeError, match=r"estimator=KNeighborsClassifier\(\) does not support sample_weight"):
        RandomSubspaceClassifier(KNeighborsClassifier(), n_estimators=2).fit(X, Y, sample_weight=W)
    with pytest.raises(TypeError, match=r"estimators\['knn'\]=KNeighborsClassifier\(\) does not support"):
        ParallelVotingClassifier([("nb", GaussianNB()), ("knn", KNeighborsClassifier())]).fit(X, Y, W)
    with pytest.raises(TypeError, match=r"final_estimator=KNeighborsClassifier\(\) does not support"):
        ParallelStackingClassifier([("nb", GaussianNB())], KNeighborsClassifier(), cv=3).fit(X, Y, W)
    with pytest.raises(TypeError, match=r"estimator=KNeighborsClassifier\(\) does not support"):
        SweepEnsembleClassifier(KNeighborsClassifier(), {"n_neighbors": [3, 5]}, top_k=1).fit(X, Y, W)


# -- voting, stacking, sweep: the weights go to every fit, as in scikit-learn --------------------

MEMBERS = [("tree", DecisionTreeClassifier(max_depth=4, random_state=0)), ("lr", LogisticRegression(max_iter=2000)),
           ("nb", GaussianNB())]


@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_voting_classifier_matches_sklearn(voting):
    ours = ParallelVotingClassifier(MEMBERS, voting=voting, weights=[1, 2, 1]).fit(X, Y, sample_weight=W)
    theirs = VotingClassifier(MEMBERS, voting=voting, weights=[1, 2, 1]).fit(X, Y, sample_weight=W)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if voting == "soft":
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    unweighted = ParallelVotingClassifier(MEMBERS, voting=voting, weights=[1, 2, 1]).fit(X, Y)
    assert not np.array_equal(unweighted.estimators_[0].tree_.threshold, ours.estimators_[0].tree_.threshold)


def test_voting_regressor_matches_sklearn():
    members = [("tree", DecisionTreeRegressor(max_depth=3, random_state=0)), ("ridge", Ridge())]
    ours = ParallelVotingRegressor(members).fit(XR, YR, sample_weight=WR)
    theirs = VotingRegressor(members).fit(XR, YR, sample_weight=WR)
    np.testing.assert_allclose(ours.predict(XR), theirs.predict(XR), rtol=1e-12)


def test_stacking_matches_sklearn():
    cv = StratifiedKFold(4)
    ours = ParallelStackingClassifier(MEMBERS, cv=cv).fit(X, Y, sample_weight=W)
    theirs = StackingClassifier(MEMBERS, cv=cv).fit(X, Y, sample_weight=W)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_sweep_scores_match_gridsearch():
    tree = DecisionTreeClassifier(random_state=0)
    grid = {"max_depth": [1, 3, 5]}
    ours = SweepEnsembleClassifier(tree, grid, top_k=2, cv=StratifiedKFold(3)).fit(X, Y, sample_weight=W)
    theirs = GridSearchCV(tree, grid, cv=StratifiedKFold(3)).fit(X, Y, sample_weight=W)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    best = theirs.best_estimator_
    np.testing.assert_array_equal(ours.estimators_[0].tree_.threshold, best.tree_.threshold)


# -- checks -------------------------------------------------------------------------------------

def _fitters():
    return {
        "bagging": lambda w: ParallelBaggingClassifier(n_estimators=2).fit(X, Y, sample_weight=w),
        "subspace": lambda w: RandomSubspaceClassifier(n_estimators=2).fit(X, Y, sample_weight=w),
        "bagging regressor": lambda w: ParallelBaggingRegressor(n_estimators=2).fit(X, Y, sample_weight=w),
        "voting": lambda w: ParallelVotingClassifier(MEMBERS[:1]).fit(X, Y, sample_weight=w),
        "stacking": lambda w: ParallelStackingClassifier(MEMBERS[:1], cv=2).fit(X, Y, sample_weight=w),
        "sweep": lambda w: SweepEnsembleClassifier(MEMBERS[0][1], {"max_depth": [2]}, top_k=1).fit(X, Y, w),
    }


BAD_WEIGHTS = [
    (np.ones(10), ValueError,
     r"sample_weight has shape \(10,\); it needs one number per training row, shape \(240,\)"),
    (np.ones((240, 2)), ValueError, r"shape \(240, 2\)"),
    (np.where(np.arange(240) == 7, np.nan, 1.0), ValueError,
     r"sample_weight has NaN or inf: \[nan\] at rows \[7\]; weights must be finite numbers >= 0"),
    (np.where(np.arange(240) == 3, np.inf, 1.0), ValueError, r"NaN or inf: \[inf\] at rows \[3\]"),
    (np.where(np.arange(240) == 5, -1.0, 1.0), ValueError, r"negative values: \[-1.0\] at rows \[5\]; weights"),
    (np.zeros(240), ValueError, r"sample_weight is all zeros"),
    (["a"] * 240, TypeError, r"sample_weight must be numbers"),
    ({"w": 1}, TypeError, r"sample_weight must be numbers"),
]


@pytest.mark.parametrize("name", list(_fitters()))
@pytest.mark.parametrize("weights, error, match", BAD_WEIGHTS)
def test_bad_sample_weight_is_refused_with_a_clear_error(name, weights, error, match):
    with pytest.raises(error, match=match):
        _fitters()[name](weights)


@pytest.mark.parametrize("name", list(_fitters()))
def test_sample_weight_is_not_mutated_nor_kept_by_reference(name):
    w = W.copy()
    model = _fitters()[name](w)
    np.testing.assert_array_equal(w, W)
    assert not any(isinstance(v, np.ndarray) and np.shares_memory(v, w) for v in vars(model).values())


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    lambda c: ParallelBaggingClassifier(n_estimators=5, max_features=0.7, executor=c, random_state=4),
    lambda c: RandomSubspaceClassifier(LogisticRegression(max_iter=2000), n_estimators=4, executor=c, random_state=4),
    lambda c: ParallelVotingClassifier(MEMBERS, voting="soft", executor=c, random_state=4),
    lambda c: ParallelStackingClassifier(MEMBERS, cv=3, executor=c, random_state=4),
], ids=["bagging", "subspace", "voting", "stacking"])
def test_weighted_fit_identical_sequential_and_on_two_workers(make, client):
    seq = make(None).fit(X, Y, sample_weight=W)
    par = make(client).fit(X, Y, sample_weight=W)
    np.testing.assert_array_equal(seq.predict_proba(X), par.predict_proba(X))
    assert set(par.member_workers_) <= set(client.nthreads())
