"""The ensemble builder: base model, members, sampling -> accuracy curve and measured training time.

Press Run: a :class:`plsim.ensembles.ParallelBaggingClassifier` trains its
members on the cluster (progress moves as members finish), then the panel shows
the test accuracy of the first 1..M members next to single members, each
member's fit time coloured by the worker that ran it, and a table of measured
times. Stop cancels the members still pending and shows the ensemble of those
that finished, marked partial. The logic is :func:`run_ensemble`, a plain
function tests call directly.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from plsim.i18n import N_, _
from plsim.widgets._panel import RunPanel, html_table, widget_executor

if TYPE_CHECKING:
    from plsim.ensembles import AccuracyCurve, ParallelBaggingClassifier

__all__ = ["ensemble_builder", "run_ensemble", "ensemble_outcome", "sampling_text", "EnsembleRun", "BASE_MODELS", "SAMPLING"]


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier()


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _knn() -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=5)


def _naive_bayes() -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


BASE_MODELS: dict[str, Callable[[], Any]] = {
    N_("decision tree"): _tree,
    N_("logistic regression"): _logistic,
    N_("k-nearest neighbours"): _knn,
    N_("naive Bayes"): _naive_bayes,
}
"""Base estimators offered by the widget (English name, shown translated -> factory of an unfitted estimator)."""

SAMPLING: dict[str, dict[str, Any]] = {
    N_("bootstrap (bagging)"): {"bootstrap": True, "max_samples": 1.0, "max_features": 1.0},
    N_("random subspaces"): {"bootstrap": False, "max_samples": 1.0, "max_features": 0.5},
    N_("random patches"): {"bootstrap": False, "max_samples": 0.5, "max_features": 0.5},
}
"""How each member's rows/columns are drawn (ParallelBaggingClassifier parameters)."""


def sampling_text(sampling: str, n_features: int | None = None, n_used: int | None = None) -> str:
    """What one member of ``sampling`` sees, in words ("all rows, 6 of 12 columns at random").

    ``n_features``: the data's columns; ``n_used``: how many each member got (default: the fraction's share).
    """
    if sampling not in SAMPLING:
        raise ValueError(f"sampling={sampling!r} is not offered; choose one of {list(SAMPLING)}")
    cfg = SAMPLING[sampling]
    how = _("drawn with replacement") if cfg["bootstrap"] else _("without replacement")
    rows = (_("as many rows as the data, {how}").format(how=how) if cfg["max_samples"] == 1.0 and cfg["bootstrap"]
            else _("all rows") if cfg["max_samples"] == 1.0 else _("{max_samples:.0%} of the "
                                                                 "rows, {how}").format(max_samples=cfg['max_samples'], how=how))
    if cfg["max_features"] == 1.0:
        cols = _("all columns")
    elif n_features:
        cols = _("{value} of {n_features} columns at random").format(value=n_used or max(1, int(cfg['max_features'] * n_features)), n_features=n_features)
    else:
        cols = _("{max_features:.0%} of the columns at random").format(max_features=cfg['max_features'])
    return _("{rows}, {cols}").format(rows=rows, cols=cols)


@dataclass(frozen=True)
class EnsembleRun:
    """One Run of the builder: the fitted model, its measured accuracy curve and times."""

    model: ParallelBaggingClassifier
    curve: AccuracyCurve
    wall_seconds: float  # measured duration of fit, including shipping data and collecting members
    base: str = "decision tree"  # the BASE_MODELS key that ran
    sampling: str = "bootstrap (bagging)"  # the SAMPLING key that ran

    @property
    def member_seconds(self) -> float:
        """Sum of the members' measured fit times: what one worker alone would need."""
        return float(np.sum(self.model.member_fit_times_))

    @property
    def partial(self) -> bool:
        """True when Stop ended the fit: the model holds only the members that finished."""
        return bool(getattr(self.model, "partial_", False))

    def members_text(self) -> str:
        """``"16"``, or ``"5 of 16 (stopped: partial ensemble)"``."""
        kept = len(self.model.estimators_)
        return _("{kept} of {n_estimators} (stopped: partial ensemble)").format(kept=kept, n_estimators=self.model.n_estimators) if self.partial else f"{kept}"

    def summary_html(self) -> str:
        workers = sorted(set(self.model.member_workers_))
        n_features = getattr(self.model, "n_features_in_", None)
        used = len(self.model.estimators_features_[0]) if self.model.estimators_features_ else None
        rows = [
            (_("base model (each member)"), _(self.base)),
            (_("sampling"), _("{sampling}: {how}").format(sampling=_(self.sampling), how=sampling_text(self.sampling, n_features, used))),
            ("members", self.members_text()),
            ("workers used", f"{len(workers)}"),
            (_("training time, wall clock (measured)"), f"{self.wall_seconds:.2f} s"),
            (_("sum of member fit times (measured)"), f"{self.member_seconds:.2f} s"),
            (_("ensemble test accuracy (measured)"), f"{self.curve.ensemble[-1]:.1%}"),
            (_("single member test accuracy, mean / best (measured)"),
             f"{self.curve.member_mean:.1%} / {self.curve.member_best:.1%}"),
        ]
        return html_table(rows)


def run_ensemble(
    executor: Any,
    X_train: Any, y_train: Any, X_test: Any, y_test: Any,
    *,
    base: str = "decision tree",
    members: int = 16,
    sampling: str = "bootstrap (bagging)",
    random_state: int = 0,
    callback: Callable[[Any], Any] | None = None,
) -> EnsembleRun:
    """Train a bagging-style ensemble on ``executor`` and measure it; the logic behind the widget.

    Parameters
    ----------
    executor : None, "auto", dask.distributed.Client or plsim.executor.Executor
        Where members train (:func:`plsim.executor.resolve_executor`; ``None``: sequentially here).
    X_train, y_train, X_test, y_test : array-like
        Training data and held-out test data.
    base : str
        A key of :data:`BASE_MODELS`.
    members : int
        Number of members (>= 1).
    sampling : str
        A key of :data:`SAMPLING`.
    random_state : int
        Seed of every member's draw.
    callback : callable, optional
        A :mod:`plsim.progress` callback, called with a ``Progress`` as members
        finish; a truthy return stops the fit, and the run then holds the
        members that finished (``EnsembleRun.partial``).

    Returns
    -------
    EnsembleRun
    """
    from plsim.ensembles import ParallelBaggingClassifier, accuracy_curve

    if base not in BASE_MODELS:
        raise ValueError(f"base={base!r} is not offered; choose one of {list(BASE_MODELS)}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling={sampling!r} is not offered; choose one of {list(SAMPLING)}")
    model = ParallelBaggingClassifier(BASE_MODELS[base](), n_estimators=members, executor=executor,
                                      random_state=random_state, **SAMPLING[sampling])
    start = time.perf_counter()
    model.fit(X_train, y_train, callback=callback)
    wall = time.perf_counter() - start
    return EnsembleRun(model, accuracy_curve(model, X_test, y_test), wall, base=base, sampling=sampling)


def ensemble_outcome(run: EnsembleRun) -> tuple[str, bool]:
    """``(text, complete)`` for the panel's status: what trained, or after Stop what was kept."""
    kept, asked = len(run.model.estimators_), run.model.n_estimators
    what = _("{base} members, {sampling}").format(base=_(run.base), sampling=_(run.sampling))
    if run.partial:
        return (_("kept the {kept} of {asked} {what} that had finished (a partial ensemble, "
                   "shown on the right); the other {value} were cancelled. Ensemble of {kept}: "
                   "{value2:.1%} test accuracy (measured).").format(kept=kept, asked=asked, what=what, value=asked - kept, value2=run.curve.ensemble[-1]), False)
    return (_("trained {asked} {what} in {wall_seconds:.2f} s (measured): {value:.1%} test "
               "accuracy (measured).").format(asked=asked, what=what, wall_seconds=run.wall_seconds, value=run.curve.ensemble[-1]), True)


def _figure(run: EnsembleRun) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.ensembles import plot_accuracy_vs_members, plot_member_times
    from plsim.plots.style import legend_below

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    plot_accuracy_vs_members(run.curve, ax=left)
    plot_member_times(run.model.member_fit_times_, run.model.member_workers_, ax=right,
                      wall_seconds=run.wall_seconds)
    right.set_title(_("Fit: {wall_seconds:.2f} s wall clock vs {member_seconds:.2f} s of "
                       "member work").format(wall_seconds=run.wall_seconds, member_seconds=run.member_seconds),
                    fontsize=10)
    right.set_ylim(0, max(run.model.member_fit_times_) * 1.08)  # no headroom needed: the legend goes below
    legend_below(right, gap=0.16)  # inside, it hid the tallest bars and the axis labels
    if run.partial:
        left.set_title(_("Stopped: partial ensemble of {n_estimators} of {n_estimators2} "
                          "members").format(n_estimators=len(run.model.estimators_), n_estimators2=run.model.n_estimators), fontsize=10)
    fig.suptitle(_("{base}, {sampling}").format(base=_(run.base), sampling=_(run.sampling)), fontsize=10)
    return fig


def ensemble_builder(executor: Any = "auto", X: Any = None, y: Any = None) -> Any:
    """Build the ensemble builder widget (returned, not displayed).

    Parameters
    ----------
    executor : "auto", None, dask.distributed.Client or plsim.executor.Executor
        Where members train. ``"auto"`` (default): the running plsim cluster,
        started with :func:`plsim.start_cluster` on the first Run if there is
        none (never a new cluster per click); ``None``: sequentially here.
    X, y : array-like, optional
        A classification dataset (30 % is held out for testing). Default: the
        generated demo problem of :func:`plsim.ensembles.demo_settings`.

    Returns
    -------
    ipywidgets.Widget
        With a ``.panel`` (:class:`RunPanel`) attribute; ``panel.result`` is the last :class:`EnsembleRun`.
    """
    import ipywidgets as w

    from plsim.ensembles.demo import demo_data, demo_settings

    settings = demo_settings()
    if (X is None) != (y is None):
        raise ValueError("give both X and y, or neither (to use the demo dataset)")
    if X is None:
        X_train, X_test, y_train, y_test = demo_data(settings)
    else:
        from sklearn.model_selection import train_test_split

        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=settings.test_fraction, random_state=settings.random_state, stratify=y)

    top = settings.max_members
    controls = {
        "base": w.Dropdown(options=[(_(k), k) for k in BASE_MODELS], value="decision tree", description=_("base model")),
        # the range is in the label: the slider cannot go past it, and a typed 32 would silently become 20
        "members": w.IntSlider(value=min(16, top), min=1, max=top, description=_("members (1 "
                                                                                  "to {top})").format(top=top)),
        "sampling": w.Dropdown(options=[(_(k), k) for k in SAMPLING], value="bootstrap (bagging)", description=_("sampling")),
    }
    controls["members"].tooltip = _("At most {top} members here, so a Run stays "
                                     "short{why_limit}.").format(top=top, why_limit=_why_limit())

    def work(params: dict, report: Any) -> EnsembleRun:
        target = widget_executor(executor)
        total = params["members"]
        what = _("{base}, {sampling}").format(base=_(params["base"]), sampling=_(params["sampling"]))
        report.progress(0, total, _("Placing the data on the workers..."))

        # Each member as it comes back; True once Stop was pressed: the fit then cancels the
        # members still pending and keeps those done.
        def callback(event: Any) -> bool:
            report.progress(event.done, event.total, _("{done} of {total} members trained "
                                                        "({what})").format(done=event.done, total=event.total, what=what))
            return report.stopped

        run = run_ensemble(target, X_train, y_train, X_test, y_test, base=params["base"], members=total,
                           sampling=params["sampling"], random_state=settings.random_state, callback=callback)
        report.figure(_figure(run))
        report.html(run.summary_html())
        text, complete = ensemble_outcome(run)
        report.finish(text, complete=complete)
        return run

    panel = RunPanel(
        _("Ensemble builder"),
        controls,
        work,
        description=_("Choose a base model, how many members and how each one samples the "
                       "data; Run trains the members in parallel on the cluster (1 to {top} "
                       "members{why_limit}).").format(top=top, why_limit=_why_limit()),
    )
    return panel.widget


def _why_limit() -> str:
    from plsim.config import small_mode

    return _(" in small mode, PLSIM_SMALL") if small_mode() else ""
