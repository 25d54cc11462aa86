"""Exercises of ``notebooks/02_ensembles.ipynb``: the answers live here, not in the notebook.

* ``poor_team_vote`` (predict -> run -> explain): the test accuracy of a hard
  vote over a team whose members' own accuracies the student has just seen
  (a strong kNN and three weaker models).
* ``bagging_by_hand`` (code): bagging written with ``client.scatter`` and
  ``client.submit`` (one fit per member, majority vote), checked against
  :class:`plsim.ensembles.ParallelBaggingClassifier` with the same
  ``random_state``: :func:`member_draws` gives each member's rows and seed
  exactly as plsim derives them, so a correct implementation matches it exactly.
  The scheduler's record of the call must show each member fitted by its own
  task from the training data, the tasks submitted together, and X sent once
  (scattered), not inside every task.
* ``unseen_rows`` (answer): the share of training rows member 0 of the
  notebook's bagging never saw, measured on the fitted model.
* ``most_different`` (answer): which member of the notebook's bagging
  disagrees most with the others.

Worked solutions: ``notebooks/solutions/<name>.py``. Tested in ``tests/test_exercises_ensembles.py``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from plsim.validation import check_int
from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, cluster_work, register, values_in

__all__ = ["member_draws", "bagging_case", "reference_bagging", "BAGGING_MEMBERS", "BAGGING_SEED"]

NOTEBOOK = "02_ensembles"

# -- predict -> run -> explain: a hard vote over a poor team -------------------------------------------


def _poor_team_explain(guess: float | None, measured: float, comparison: Any = None, **_ignored: Any) -> str:
    """The usual reasons for the gap, chosen from the run's own numbers (a MemberComparison)."""
    if comparison is None:
        return _("Compare the vote's accuracy with its best member's, printed by compare_with_members above.")
    accs = comparison.member_accuracy
    best, best_acc = comparison.best_member, comparison.best_accuracy
    mean_acc = float(np.mean(list(accs.values())))
    r = comparison.error_correlation
    parts = []
    # "Beat" only when the paired interval on the same test rows excludes 0 (MemberComparison.relation).
    relation = comparison.relation
    if relation == "beats":
        parts.append(_("The vote beat its best member ({best}, {best_acc:.3f}): the members "
                        "are wrong on partly different samples (error correlation r = {r:.2f}), "
                        "so a majority is more often right than any one of them.").format(best=best, best_acc=best_acc, r=r))
    else:
        if relation == "is about as good as":
            parts.append(_("The vote was about as good as its best member ({best}, "
                            "{best_acc:.3f}): the difference is within the noise of this test "
                            "set, so it did not earn its extra fits.").format(best=best, best_acc=best_acc))
        else:
            parts.append(_("The vote did not beat its best member ({best}, {best_acc:.3f}).").format(best=best, best_acc=best_acc))
        ranked = sorted(accs.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] - ranked[1] > 0.02:
            parts.append(_("{best} is {value:.1f} points better than the next member: where it "
                            "is right and the weaker ones agree on a wrong label, they outvote "
                            "it.").format(best=best, value=(ranked[0] - ranked[1]) * 100))
        if math.isfinite(r) and r >= 0.5:
            parts.append(_("The members' mistakes are strongly correlated (r = {r:.2f}): there "
                            "is little to cancel.").format(r=r))
        elif math.isfinite(r):
            parts.append(_("Their errors are only partly correlated (r = {r:.2f}), but a plain "
                            "majority counts a weak member's vote as much as a strong one's.").format(r=r))
    if guess is not None:
        if guess > best_acc and measured <= best_acc:
            parts.append(_("You expected the team to beat its best member, as if more models always help: a vote "
                            "only helps members of about equal strength whose mistakes differ."))
        elif guess <= mean_acc + 1e-9 and measured > mean_acc:
            parts.append(_("You expected no better than the members' average ({mean_acc:.3f}): "
                            "a majority is right wherever most members are, even if each one "
                            "alone is often wrong.").format(mean_acc=mean_acc))
    return " ".join(parts)


register(Exercise(
    name="poor_team_vote",
    kind="predict",
    rel_tol=0.02,
    hint=N_("prediction = the hard vote's test accuracy, a number between 0 and 1 (e.g. 0.8)"),
    explain=_poor_team_explain,
    misconception="An ensemble always beats its best member (more models, more accuracy), or a vote lands at "
                  "its members' average; in fact a majority of weaker members outvotes a much better one where "
                  "it is right, and a vote only helps members of similar strength whose mistakes differ.",
    notebook=NOTEBOOK,
))

# -- code: bagging by hand on the cluster --------------------------------------------------------------

BAGGING_MEMBERS = 8
BAGGING_SEED = 11


def member_draws(n_members: int, n_samples: int, random_state: int) -> list[tuple[np.ndarray, int]]:
    """Each bagging member's bootstrap rows and tree seed, exactly as plsim derives them.

    Member ``i`` gets branch ``task_seed(random_state, "member", i)`` of plsim's seed
    tree (:mod:`plsim._random`): one word of it seeds its bootstrap sample (``n_samples`` rows drawn with
    replacement), another is the ``random_state`` of its decision tree. That is
    what :class:`plsim.ensembles.ParallelBaggingClassifier` does with its default
    settings, so trees fitted on these rows with these seeds are its members.

    Parameters
    ----------
    n_members : int
        Number of members (>= 1).
    n_samples : int
        Training rows (>= 1).
    random_state : int
        The ensemble's ``random_state`` (>= 0).

    Returns
    -------
    list of (ndarray, int)
        ``(rows, seed)`` per member: row indices into the training data, and the
        member tree's ``random_state``.

    Taught in ``notebooks/02_ensembles.ipynb`` (exercise ``bagging_by_hand``).
    """
    from plsim._random import seed_int
    from plsim.ensembles._base import member_seed
    from plsim.ensembles.bagging import draw_indices

    n_members = check_int("n_members", n_members, 1)
    n_samples = check_int("n_samples", n_samples, 1)
    random_state = check_int("random_state", random_state, 0)
    out = []
    for i in range(n_members):
        seq = member_seed(random_state, i)  # branch ("member", i) of the seed tree, as the ensembles draw it
        rows, _ = draw_indices(seed_int(seq, 1), n_samples, 1, n_samples, True, 1, False)
        out.append((rows, seed_int(seq)))
    return out


def bagging_case() -> dict[str, Any]:
    """The check's data: the notebook's demo problem, 8 members, ``random_state=11``."""
    from plsim.ensembles import demo_data, demo_settings

    X_train, X_test, y_train, _ = demo_data(demo_settings())
    return dict(X=X_train, y=y_train, X_test=X_test, n_members=BAGGING_MEMBERS, random_state=BAGGING_SEED)


def reference_bagging(case: dict[str, Any]) -> np.ndarray:
    """plsim's own predictions on the case: ``ParallelBaggingClassifier`` fitted here, sequentially."""
    from plsim.ensembles import ParallelBaggingClassifier

    model = ParallelBaggingClassifier(n_estimators=case["n_members"], random_state=case["random_state"])
    return model.fit(case["X"], case["y"]).predict(case["X_test"])


@functools.cache
def _reference_of_the_check() -> np.ndarray:
    """plsim's predictions on :func:`bagging_case` (computed once per process: the case never changes)."""
    return reference_bagging(bagging_case())


@functools.cache
def _members_of_the_check() -> tuple[np.ndarray, ...]:
    """Each member's own predictions on the check's X_test: what one member's task on the cluster yields."""
    return tuple(_member_votes(bagging_case(), lambda rows: rows))


def _member_votes(case: dict[str, Any], rows_of: Any) -> list[np.ndarray]:
    """Predictions on X_test of trees fitted on ``rows_of(rows)`` with the members' seeds, one per member."""
    from sklearn.tree import DecisionTreeClassifier

    X, y = case["X"], case["y"]
    return [DecisionTreeClassifier(random_state=seed).fit(X[rows_of(rows)], y[rows_of(rows)]).predict(case["X_test"])
            for rows, seed in member_draws(case["n_members"], len(y), case["random_state"])]


def _vote(case: dict[str, Any], rows_of: Any) -> np.ndarray:
    """Majority vote of trees fitted on ``rows_of(rows)`` with the members' seeds (for diagnosing mistakes)."""
    votes = np.stack(_member_votes(case, rows_of))
    return np.array([np.bincount(col).argmax() for col in votes.T])


def _is_member(X_test: np.ndarray) -> Any:
    """``same(result, predictions)`` for :func:`cluster_work`: a fitted tree, or its labels, anywhere in a result."""
    def same(result: Any, want: np.ndarray) -> bool:
        for value in values_in(result):
            got = value.predict(X_test) if hasattr(value, "predict") else value
            if isinstance(got, (np.ndarray, list)) and np.array_equal(np.asarray(got), want):
                return True
        return False
    return same


def _data_went_once(seen: Any, members: Any, case: dict[str, Any]) -> str:
    """"" if X went to the cluster once (scattered) for all member tasks; else a message that teaches scatter."""
    data_bytes = case["X"].nbytes
    inline = [t.payload_bytes for t in members if t.payload_bytes >= data_bytes]
    if inline:
        kb = sum(inline) / len(inline) / 1e3
        return (_("{n_inline} of your {n_members} member tasks carried the training data "
                   "inside the task (about {kb:.0f} kB each, {value:.0f} kB in all, measured "
                   "from the tasks the scheduler received): passed as an argument, X travels "
                   "once per task. Scatter X and y once, before the loop (X_f, y_f = "
                   "client.scatter([X, y], broadcast=True)), and pass the futures to "
                   "client.submit: each task then carries only its rows and seed, and every "
                   "worker gets the data once.").format(n_inline=len(inline), n_members=len(members), kb=kb, value=sum(inline) / 1e3))
    from plsim.exercises.scheduler_record import inputs_of

    data = seen.record.data
    read = [{k for k in inputs_of(seen.record, t.key) if k in data and data[k].nbytes >= data_bytes} for t in members]
    if not all(read):
        return (_("{sum} of your {n_members} member tasks never received the training data, "
                   "neither inside the task nor as a scattered future, so their trees were not "
                   "fitted there: fit each member in its task, on X_f[rows], y_f[rows] from the "
                   "scattered data.").format(sum=sum(not r for r in read), n_members=len(members)))
    copies = set().union(*read)
    if len(copies) > 1:
        return (_("the training data went to the cluster {n_copies} times (your member tasks "
                   "read {n_copies} different scattered copies of it): scatter X and y once, "
                   "before the loop, and give every member the same futures.").format(n_copies=len(copies)))
    return ""


def _run_bagging(fn: Any, client: Any = None, **_ignored: Any) -> tuple[bool, str]:
    if client is None:
        return False, _("pass the notebook's Dask client: check_code(\"bagging_by_hand\", bagging_by_hand, client=client)")
    from plsim.exercises.scheduler_record import watch_scheduler

    case = bagging_case()
    before = {k: np.copy(case[k]) for k in ("X", "y", "X_test")}
    with watch_scheduler(client, only_this_client=True) as seen:
        got = fn(client, case["X"], case["y"], case["X_test"], case["n_members"], case["random_state"])
    if any(not np.array_equal(case[k], v) for k, v in before.items()):
        return False, _("your function changed X, y or X_test in place; leave the caller's data as it was.")
    try:
        got = np.asarray(got)
    except (TypeError, ValueError):
        return False, _("return the ensemble's predicted labels for X_test as one array, not "
                         "{name}").format(name=type(got).__name__)
    want = _reference_of_the_check()
    if got.shape != want.shape:
        return False, (_("you returned shape {shape}; return one predicted label per row of "
                          "X_test, shape {shape2}").format(shape=got.shape, shape2=want.shape))
    m = case["n_members"]
    how = (_("submit one fit per member with client.submit (or client.map), its rows and seed from member_draws, "
              "and vote with the trees you gather"))
    if not seen.record.computed():
        return False, _("no task ran on the cluster while your function ran: {how}.").format(how=how)
    agree = float(np.mean(got == want))
    if agree < 1.0:
        if np.array_equal(got, _vote(case, lambda rows: np.arange(len(case["y"])))):
            return False, (_("every member was trained on all the rows: bagging trains member i on its own bootstrap "
                              "rows (X[rows], y[rows] from member_draws), otherwise the trees are all alike."))
        return False, (_("your predictions agree with plsim's on {agree:.1%} of the test rows, "
                          "not all. Train member i on X[rows], y[rows] with "
                          "DecisionTreeClassifier(random_state=seed), (rows, seed) from "
                          "member_draws(n_members, len(y), random_state), and take the most "
                          "common label per row.").format(agree=agree))
    work = cluster_work(seen, _members_of_the_check(), _is_member(case["X_test"]), what=_("members' trees"), how=how,
                        own="ParallelBaggingClassifier")
    if work.problem:
        return False, work.problem
    problem = _data_went_once(seen, work.tasks, case)
    if problem:
        return False, problem
    return True, (_("your {m} members, each fitted by its own task on the cluster (up to "
                     "{in_flight} in flight at once, scheduler's record), predict exactly what "
                     "plsim's ParallelBaggingClassifier(n_estimators={m}, "
                     "random_state={random_state}) predicts; the training data went to the "
                     "cluster once.").format(m=m, in_flight=work.in_flight, random_state=case['random_state']))


register(Exercise(
    name="bagging_by_hand",
    kind="code",
    hint=N_("scatter X and y once (client.scatter), submit one fit per member with its (rows, seed) from "
            "member_draws(n_members, len(y), random_state), gather the trees and take a majority vote on X_test"),
    run=_run_bagging,
    misconception="Parallel members need a seed per worker (so results depend on where they ran), or the data "
                  "goes with every member's task; in plsim each member's rows and seed come from random_state "
                  "and its index only, and the data is scattered once.",
    notebook=NOTEBOOK,
))

# -- answers measured on the notebook's fitted bagging -------------------------------------------------


def _unseen_expected(model: Any = None, X: Any = None) -> float:
    if model is None or X is None:
        raise ValueError("pass the notebook's model and data: "
                         "check(\"unseen_rows\", answer, model=parallel, X=X_train)")
    return 1.0 - len(np.unique(model.estimators_samples_[0])) / len(X)


register(Exercise(
    name="unseen_rows",
    kind="answer",
    expected=_unseen_expected,
    rel_tol=1e-6,
    hint=N_("count the distinct rows of member 0's sample (np.unique(parallel.estimators_samples_[0])) and "
            "compare with len(X_train)"),
    misconception="A bootstrap sample of n rows contains every row once (it is the training set reshuffled); "
                  "in fact about a third of the rows are left out of each member, which is what makes members "
                  "differ (and what out-of-bag estimates use).",
    notebook=NOTEBOOK,
))


def _most_different_expected(disagreement: Any = None) -> int:
    if disagreement is None:
        raise ValueError("pass the notebook's matrix: check(\"most_different\", answer, disagreement=disagreement)")
    return int(np.argmax(np.asarray(disagreement).sum(axis=1)))


register(Exercise(
    name="most_different",
    kind="answer",
    expected=_most_different_expected,
    compare=lambda answer, expected: int(answer) == expected and float(answer) == float(expected),
    hint=N_("add up each row of the disagreement matrix (a member's disagreement with all the others) and take "
            "the index of the largest"),
    misconception="Bagged members are all alike (same algorithm, same data), so they agree everywhere; in fact "
                  "their bootstrap samples make them disagree on a sizeable share of the test set, some members "
                  "far more than others.",
    notebook=NOTEBOOK,
))
