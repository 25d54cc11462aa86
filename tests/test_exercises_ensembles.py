"""Notebook 02's exercises: each worked solution passes its check, and wrong answers fail it.

Expected values are checked independently where possible: the member draws
against the fitted ``ParallelBaggingClassifier``'s own rows and seeds, bagging by
hand against trees fitted here on those draws and a majority vote counted here,
the unseen share against ``np.isin``, the most different member on a
hand-written matrix.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from _exercise_solutions import (  # noqa: F401
    SOLUTIONS,
    exec_solution as _exec_solution,
    no_predictions_left,
    on_clusters,
)
from plsim.ensembles import ParallelBaggingClassifier
from plsim.exercises import check, check_code, predict, reveal
from plsim.exercises import _core
from plsim.exercises import ensembles as ex


# -- member_draws: plsim's own rows and seeds ---------------------------------------------------------

def test_member_draws_are_the_fitted_members_rows_and_seeds():
    X = np.random.default_rng(0).normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    model = ParallelBaggingClassifier(n_estimators=5, random_state=3).fit(X, y)
    draws = ex.member_draws(5, 120, 3)
    assert len(draws) == 5
    for (rows, seed), fitted_rows, member in zip(draws, model.estimators_samples_, model.estimators_):
        assert np.array_equal(rows, fitted_rows)
        assert seed == member.random_state
        assert rows.shape == (120,) and rows.min() >= 0 and rows.max() < 120
    # a bootstrap sample repeats rows; different members draw different rows
    assert len(np.unique(draws[0][0])) < 120
    assert not np.array_equal(draws[0][0], draws[1][0])
    # member i does not depend on how many members there are
    assert np.array_equal(ex.member_draws(2, 120, 3)[1][0], draws[1][0])


@pytest.mark.parametrize("args, error, match", [
    ((0, 10, 0), ValueError, "n_members=0"),
    ((2.5, 10, 0), TypeError, "n_members must be an integer >= 1, got 2.5"),
    ((2, -1, 0), ValueError, "n_samples=-1"),
    ((2, 10, "seed"), TypeError, "random_state must be an integer >= 0, got 'seed'"),
])
def test_member_draws_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        ex.member_draws(*args)


# -- bagging_by_hand (code) ---------------------------------------------------------------------------

def _by_hand(case, all_rows=False, seeds=True):
    """Trees fitted here on the draws, and a majority vote counted here."""
    X, y = case["X"], case["y"]
    votes = []
    for rows, seed in ex.member_draws(case["n_members"], len(y), case["random_state"]):
        rows = np.arange(len(y)) if all_rows else rows
        tree = DecisionTreeClassifier(random_state=seed if seeds else 0).fit(X[rows], y[rows])
        votes.append(tree.predict(case["X_test"]))
    votes = np.stack(votes)
    return np.array([np.bincount(col, minlength=3).argmax() for col in votes.T])


def test_the_reference_is_a_majority_vote_of_trees_on_the_draws():
    case = ex.bagging_case()
    assert np.array_equal(ex.reference_bagging(case), _by_hand(case))


@on_clusters
def test_bagging_solution_passes(cluster, request):
    ns = _exec_solution("bagging_by_hand", client=request.getfixturevalue(cluster))
    fb = ns["_feedback"][-1]
    assert fb.correct is True, fb
    assert "exactly" in fb and "each fitted by its own task on the cluster" in fb and "went to the cluster once" in fb


def _local_fit(case_fn):
    """A wrong implementation factory: computes in this process, no task on the cluster."""
    def fn(client, X, y, X_test, n_members, random_state):
        return case_fn(dict(X=X, y=y, X_test=X_test, n_members=n_members, random_state=random_state))
    return fn


def _on_cluster(all_rows=False, seeds=True):
    def fn(client, X, y, X_test, n_members, random_state):
        case = dict(X=X, y=y, X_test=X_test, n_members=n_members, random_state=random_state)
        futures = client.map(lambda i: i, range(n_members), pure=False)  # tasks ran, but the vote is computed here
        client.gather(futures)
        return _by_hand(case, all_rows=all_rows, seeds=seeds)
    return fn


def test_wrong_bagging_fails(client):
    # right answer, but no task on the cluster
    fb = check_code("bagging_by_hand", _local_fit(_by_hand), client=client, quiet=True)
    assert fb.correct is False and "task" in fb
    # every member on all the rows
    fb = check_code("bagging_by_hand", _on_cluster(all_rows=True), client=client, quiet=True)
    assert fb.correct is False and "all the rows" in fb
    # the members' seeds ignored
    fb = check_code("bagging_by_hand", _on_cluster(seeds=False), client=client, quiet=True)
    assert fb.correct is False and "agree" in fb
    # one label per member instead of one per test row
    fb = check_code("bagging_by_hand", lambda c, X, y, Xt, m, rs: np.zeros(m), client=client, quiet=True)
    assert fb.correct is False and "shape" in fb


def test_calling_plsims_own_bagging_fails(client):
    """The one-line answer: plsim's ParallelBaggingClassifier on the cluster gives exactly the right labels."""
    from plsim.ensembles import ParallelBaggingClassifier

    def one_line(client, X, y, X_test, n_members, random_state):
        return ParallelBaggingClassifier(n_estimators=n_members, random_state=random_state,
                                         executor=client).fit(X, y).predict(X_test)

    fb = check_code("bagging_by_hand", one_line, client=client, quiet=True)
    assert fb.correct is False and re.search(r"(\d+) of the \1 tasks were plsim's own", fb), fb


# -- bagging_by_hand: forgeries the scheduler's record exposes ------------------------------------------

def _fit(X, y, rows, seed):
    return DecisionTreeClassifier(random_state=seed).fit(X[rows], y[rows])


def _majority(trees, X_test):
    votes = np.stack([t.predict(X_test) for t in trees])
    return np.array([np.bincount(col, minlength=3).argmax() for col in votes.T])


def test_kernel_work_plus_dummy_tasks_fails(client):
    """plsim's bagging fitted in this process, and n tasks for show: the answer is exactly right."""
    def kernel_plus_dummies(client, X, y, X_test, n_members, random_state):
        client.gather(client.map(abs, range(n_members), pure=False))
        return ParallelBaggingClassifier(n_estimators=n_members, random_state=random_state,
                                         executor=None).fit(X, y).predict(X_test)

    fb = check_code("bagging_by_hand", kernel_plus_dummies, client=client, quiet=True)
    assert fb.correct is False, fb
    assert "8 of the 8 members' trees your answer needs were not computed by any task on the cluster" in fb, fb
    assert "returned int" in fb


def test_x_inside_every_task_fails_and_teaches_scatter(client):
    def x_in_every_task(client, X, y, X_test, n_members, random_state):
        futures = [client.submit(_fit, X, y, rows, seed, pure=False)
                   for rows, seed in ex.member_draws(n_members, len(y), random_state)]
        return _majority(client.gather(futures), X_test)

    fb = check_code("bagging_by_hand", x_in_every_task, client=client, quiet=True)
    assert fb.correct is False, fb
    assert "8 of your 8 member tasks carried the training data inside the task" in fb, fb
    assert "client.scatter([X, y], broadcast=True)" in fb
    # the bytes quoted are the tasks' own: at least X and y in each (336 kB + 16.8 kB here)
    kb = int(re.search(r"about (\d+) kB each", fb).group(1))
    case = ex.bagging_case()
    assert kb >= (case["X"].nbytes + case["y"].nbytes) / 1e3 - 1


def test_scattering_inside_the_loop_fails(client):
    def scatter_per_member(client, X, y, X_test, n_members, random_state):
        futures = []
        for rows, seed in ex.member_draws(n_members, len(y), random_state):
            X_f, y_f = client.scatter([X, y], hash=False)  # a fresh copy for every member
            futures.append(client.submit(_fit, X_f, y_f, rows, seed, pure=False))
        return _majority(client.gather(futures), X_test)

    fb = check_code("bagging_by_hand", scatter_per_member, client=client, quiet=True)
    assert fb.correct is False and "the training data went to the cluster 8 times" in fb, fb


def test_trees_fitted_here_and_passed_through_tasks_fail(client):
    """Members fitted in this process, each sent through a task that returns it: the results are right trees."""
    def laundered(client, X, y, X_test, n_members, random_state):
        trees = [_fit(X, y, rows, seed) for rows, seed in ex.member_draws(n_members, len(y), random_state)]
        return _majority(client.gather([client.submit(lambda t: t, t, pure=False) for t in trees]), X_test)

    fb = check_code("bagging_by_hand", laundered, client=client, quiet=True)
    assert fb.correct is False and "8 of your 8 member tasks never received the training data" in fb, fb


def test_one_member_at_a_time_fails(client):
    def sequential(client, X, y, X_test, n_members, random_state):
        X_f, y_f = client.scatter([X, y], broadcast=True)
        trees = [client.submit(_fit, X_f, y_f, rows, seed, pure=False).result()
                 for rows, seed in ex.member_draws(n_members, len(y), random_state)]
        return _majority(trees, X_test)

    fb = check_code("bagging_by_hand", sequential, client=client, quiet=True)
    assert fb.correct is False and "the 8 tasks that computed your members' trees ran one at a time" in fb, fb


def test_members_predicting_on_the_workers_pass(client):
    """Another honest design: each task returns its member's labels on X_test instead of the tree."""
    def labels_from_tasks(client, X, y, X_test, n_members, random_state):
        X_f, y_f, Xt_f = client.scatter([X, y, X_test], broadcast=True)
        futures = [client.submit(lambda X, y, Xt, rows, seed: _fit(X, y, rows, seed).predict(Xt), X_f, y_f, Xt_f,
                                 rows, seed, pure=False)
                   for rows, seed in ex.member_draws(n_members, len(y), random_state)]
        votes = np.stack(client.gather(futures))
        return np.array([np.bincount(col, minlength=3).argmax() for col in votes.T])

    fb = check_code("bagging_by_hand", labels_from_tasks, client=client, quiet=True)
    assert fb.correct is True, fb


def test_bagging_that_mutates_its_input_fails(client):
    def mutating(client, X, y, X_test, n_members, random_state):
        X -= X.mean(axis=0)
        return _on_cluster()(client, X, y, X_test, n_members, random_state)

    fb = check_code("bagging_by_hand", mutating, client=client, quiet=True)
    assert fb.correct is False and "in place" in fb


def test_bagging_without_client_says_what_to_pass():
    fb = check_code("bagging_by_hand", _on_cluster(), quiet=True)
    assert fb.correct is False and "client=client" in fb


# -- poor_team_vote (predict -> run -> explain) -------------------------------------------------------

def _comparison(ensemble, members, r):
    from plsim.ensembles.diversity import MemberComparison

    return MemberComparison("hard voting, poor team", ensemble, members, r)


def test_poor_team_solution_records_a_prediction_between_mean_and_best():
    accs = {"tree": 0.70, "logistic": 0.60, "bayes": 0.64, "knn": 0.86}
    ns = _exec_solution("poor_team_vote", poor_member_accuracy=accs)
    assert ns["_feedback"][-1].correct is True
    assert np.mean(list(accs.values())) < ns["prediction"] < max(accs.values())
    assert _core._PREDICTIONS["poor_team_vote"] == pytest.approx(ns["prediction"])


def test_poor_team_reveal_explains_from_the_numbers():
    accs = {"tree": 0.70, "logistic": 0.60, "bayes": 0.64, "knn": 0.86}
    comp = _comparison(0.75, accs, 0.45)
    predict("poor_team_vote", 0.90, quiet=True)
    fb = reveal("poor_team_vote", 0.75, comparison=comp, quiet=True)
    assert fb.correct is False and "too high" in fb
    assert "did not beat its best member (knn, 0.860)" in fb
    assert "16.0 points better" in fb and "outvote" in fb
    assert "more models always help" in fb
    # a vote that beats its best member is explained as such
    predict("poor_team_vote", 0.80, quiet=True)
    fb = reveal("poor_team_vote", 0.88, comparison=_comparison(0.88, {"a": 0.85, "b": 0.84, "c": 0.84}, 0.2),
                quiet=True)
    assert "beat its best member (a, 0.850)" in fb and "did not" not in fb
    # within 2 % counts as close
    predict("poor_team_vote", 0.76, quiet=True)
    assert reveal("poor_team_vote", 0.75, comparison=comp, quiet=True).correct is True


# -- unseen_rows and most_different (answers) ---------------------------------------------------------

@pytest.fixture(scope="module")
def bagged():
    X = np.random.default_rng(1).normal(size=(500, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return ParallelBaggingClassifier(n_estimators=6, random_state=0).fit(X, y), X, y


def test_unseen_rows(bagged):
    model, X, y = bagged
    independent = float(np.mean(~np.isin(np.arange(len(X)), model.estimators_samples_[0])))
    assert 0.3 < independent < 0.43  # about 1/e for a bootstrap sample
    ns = _exec_solution("unseen_rows", parallel=model, X_train=X)
    assert ns["answer"] == pytest.approx(independent, rel=1e-12)
    assert ns["_feedback"][-1].correct is True
    # the textbook limit is not the measured share
    assert check("unseen_rows", 1 / np.e, model=model, X=X, quiet=True).correct is False
    assert check("unseen_rows", None, model=model, X=X, quiet=True).correct is None


def test_most_different_on_a_hand_written_matrix():
    d = np.array([[0.0, 0.1, 0.2],
                  [0.1, 0.0, 0.5],
                  [0.2, 0.5, 0.0]])  # row sums 0.3, 0.6, 0.7: member 2 disagrees most
    assert check("most_different", 2, disagreement=d, quiet=True).correct is True
    assert check("most_different", 1, disagreement=d, quiet=True).correct is False
    assert check("most_different", 2.5, disagreement=d, quiet=True).correct is False
    member_predictions = np.array([[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    ns = _exec_solution("most_different", disagreement=d, member_predictions=member_predictions,
                        y_test=np.array([0, 0, 1]))
    assert ns["answer"] == 2 and ns["_feedback"][-1].correct is True


def test_every_exercise_has_a_misconception_and_this_notebook():
    mine = {n: e for n, e in _core.registered().items() if e.notebook == ex.NOTEBOOK}
    assert set(mine) == {"poor_team_vote", "bagging_by_hand", "unseen_rows", "most_different"}
    assert all(e.misconception for e in mine.values())
    assert all((SOLUTIONS / f"{n}.py").exists() for n in mine)

