"""The figures the course quotes about federated learning, read off the notebook's own comparison.

``notebooks/03_federated_learning.ipynb`` runs :func:`plsim.federated.comparison.start_comparison`
at :func:`~plsim.federated.demo.demo_settings` and reads its ratios through
:func:`round_ratio`, :func:`grid_interior` and :func:`advantage_change`;
:func:`course_figures` runs the same comparison through the same calls and returns the
same figures as one JSON-able dict (``benchmarks/course_figures.py`` prints it). So the
notebook, the benchmark and the instructors' typical values share one source.

Two rules make the figures honest:

* **Interior optimum.** A tuned rate at either end of its grid may only be the best of
  the rates tried: the grid is trusted when its best rate has a worse neighbour on
  both sides (:func:`grid_interior`).
* **Cap + 1.** A method that never reaches the target within its round cap counts as
  ``cap + 1`` rounds, and the ratio says it is a bound (:class:`RoundRatio`).

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plsim.i18n import _
from plsim.config import small_mode
from plsim.federated.demo import PARTITIONS, FairComparison, demo_settings, fedavg_label
from plsim.federated.comparison import LrTuning, start_comparison

__all__ = ["RoundRatio", "round_ratio", "grid_interior", "advantage_change", "comparison_figures",
           "course_figures"]

IID, SHARDS = PARTITIONS


def _check_tuning(name: str, tuning: Any) -> LrTuning:
    if not isinstance(tuning, LrTuning):
        raise TypeError(f"{name} must be an LrTuning (from tune_lr or start_comparison), got {type(tuning).__name__}")
    return tuning


def grid_interior(tuning: LrTuning) -> bool:
    """True when the tuned (best) rate has a smaller and a larger rate of the grid on either side.

    A best rate at an end of the grid, a grid of fewer than three rates, or no rate
    reaching the target: False (the optimum may lie outside what was tried).
    """
    tuning = _check_tuning("tuning", tuning)
    best = tuning.best_lr
    return best is not None and min(tuning.lrs) < best < max(tuning.lrs)


@dataclass(frozen=True)
class RoundRatio:
    """FedSGD's rounds to the target divided by FedAvg's, each at its tuned rate.

    A method that never reached the target within its cap counts as ``cap + 1``
    rounds, so the ratio is then a bound: ``kind`` says which.

    Attributes
    ----------
    fedsgd_rounds, fedavg_rounds : int or None
        Rounds to the target at the tuned rate; None when no rate reached it.
    fedsgd_cap, fedavg_cap : int
        The round cap each tuning ran under.
    """

    fedsgd_rounds: int | None
    fedavg_rounds: int | None
    fedsgd_cap: int
    fedavg_cap: int

    @property
    def fedsgd_reached(self) -> bool:
        return self.fedsgd_rounds is not None

    @property
    def fedavg_reached(self) -> bool:
        return self.fedavg_rounds is not None

    @property
    def ratio(self) -> float:
        """``rounds(FedSGD) / rounds(FedAvg)``, ``cap + 1`` standing in for a method that never got there."""
        sgd = self.fedsgd_rounds if self.fedsgd_reached else self.fedsgd_cap + 1
        avg = self.fedavg_rounds if self.fedavg_reached else self.fedavg_cap + 1
        return sgd / avg

    @property
    def kind(self) -> str:
        """``"exact"``; ``"at most"`` (FedAvg never reached: it needs more than its cap); ``"at least"``
        (FedSGD never reached); ``"none"`` (neither did: the two caps say nothing about the ratio)."""
        if self.fedsgd_reached:
            return "exact" if self.fedavg_reached else "at most"
        return "at least" if self.fedavg_reached else "none"

    def __str__(self) -> str:
        if self.kind == "none":
            return _("no ratio (neither reached the target)")
        text = {"exact": "{ratio:.2f}x", "at most": _("at most {ratio:.2f}x"), "at least": _("at least {ratio:.2f}x")}
        return text[self.kind].format(ratio=self.ratio)


def round_ratio(fedsgd: LrTuning, fedavg: LrTuning) -> RoundRatio:
    """The :class:`RoundRatio` of two tunings of one comparison (same target, same partition)."""
    fedsgd, fedavg = _check_tuning("fedsgd", fedsgd), _check_tuning("fedavg", fedavg)
    if fedsgd.target != fedavg.target:
        raise ValueError(f"the tunings aim at different targets ({fedsgd.target} and {fedavg.target}): "
                         "a ratio of their rounds compares nothing")
    return RoundRatio(fedsgd.best_rounds, fedavg.best_rounds, fedsgd.cap, fedavg.cap)


def advantage_change(iid: RoundRatio, non_iid: RoundRatio) -> str:
    """What non-IID clients do to FedAvg's advantage: ``"reverses"``, ``"shrinks"``, ``"does not shrink"``
    or ``"cannot tell"``, judged on the bounds when a method did not reach the target.

    "reverses": FedAvg needs more rounds than FedSGD on the non-IID clients (ratio below 1);
    "shrinks": still fewer, but a smaller saving than on IID clients.
    """
    if not (isinstance(iid, RoundRatio) and isinstance(non_iid, RoundRatio)):
        raise TypeError("iid and non_iid must be RoundRatio objects (from round_ratio)")
    if iid.kind != "exact" or non_iid.kind == "none":
        return "cannot tell"
    q, kind = non_iid.ratio, non_iid.kind
    if kind == "exact":
        return "reverses" if q < 1 else "shrinks" if q < iid.ratio else "does not shrink"
    if kind == "at most":   # the true ratio is below q
        return "reverses" if q < 1 else "shrinks" if q <= iid.ratio else "cannot tell"
    return "does not shrink" if q >= iid.ratio else "cannot tell"   # "at least": the true ratio is above q


def _tuning_json(t: LrTuning) -> dict[str, Any]:
    best = t.best
    return {"best_lr": t.best_lr, "rounds_to_target": t.best_rounds, "cap": t.cap, "reached": t.best_lr is not None,
            "best_lr_interior": grid_interior(t),
            "grid": {f"{lr:g}": r for lr, r in zip(t.lrs, t.rounds)},
            "stopped_at": {f"{lr:g}": s for lr, s in zip(t.lrs, t.stopped_at)},
            "diverged": [f"{lr:g}" for lr, d in zip(t.lrs, t.diverged) if d],
            "bytes_to_target": t.best_bytes,
            "max_accuracy_at_best": round(float(max(best.accuracy, default=math.nan)), 4)}


def comparison_figures(results: dict[str, dict[str, LrTuning]], cfg: FairComparison) -> dict[str, Any]:
    """The course's federated figures from a comparison's results (``Comparison.results()``).

    Returns
    -------
    dict
        JSON-able. ``fedavg_iid_round_ratio_e{E}`` for each IID ``E``;
        ``fedsgd_best_lr_interior`` and ``fedavg_best_lr_interior`` (every FedAvg E's grid;
        per E also ``fedavg_e{E}_best_lr_interior``); on the shards
        ``fedavg_noniid_round_ratio_e{E}`` (cap + 1 for a method that never reached the
        target), its ``..._kind`` (``exact``, ``at most``, ``at least``, ``none``),
        ``noniid_fedsgd_reached``, ``noniid_fedavg_e{E}_reached`` and
        ``noniid_advantage_e{E}`` (:func:`advantage_change`); ``settings`` and, per partition
        and algorithm, the tuned rate, rounds, cap and the whole grid (``tunings``).
    """
    if not isinstance(cfg, FairComparison):
        raise TypeError(f"cfg must be a FairComparison, got {type(cfg).__name__}")
    missing = [p for p in PARTITIONS if p not in results]
    if missing:
        raise ValueError(f"results lack the partition(s) {missing}: run the comparison on {list(PARTITIONS)}")
    out: dict[str, Any] = {}
    iid, shards = results[IID], results[SHARDS]
    iid_ratio = {}
    for e in cfg.local_epochs:
        iid_ratio[e] = round_ratio(iid["FedSGD"], iid[fedavg_label(e, cfg.batch_size)])
        out[f"fedavg_iid_round_ratio_e{e}"] = round(iid_ratio[e].ratio, 3)
        out[f"fedavg_iid_round_ratio_e{e}_kind"] = iid_ratio[e].kind
    out["fedsgd_best_lr_interior"] = grid_interior(iid["FedSGD"])
    for e in cfg.local_epochs:
        out[f"fedavg_e{e}_best_lr_interior"] = grid_interior(iid[fedavg_label(e, cfg.batch_size)])
    out["fedavg_best_lr_interior"] = all(out[f"fedavg_e{e}_best_lr_interior"] for e in cfg.local_epochs)
    out["noniid_fedsgd_reached"] = shards["FedSGD"].best_lr is not None
    for e in cfg.shards_local_epochs:
        q = round_ratio(shards["FedSGD"], shards[fedavg_label(e, cfg.batch_size)])
        out[f"fedavg_noniid_round_ratio_e{e}"] = round(q.ratio, 3)
        out[f"fedavg_noniid_round_ratio_e{e}_kind"] = q.kind
        out[f"noniid_fedavg_e{e}_reached"] = q.fedavg_reached
        out[f"noniid_advantage_e{e}"] = (advantage_change(iid_ratio[e], q) if e in iid_ratio else "cannot tell")
    out["settings"] = {"target": cfg.target, "n_clients": cfg.n_clients, "samples_per_client": cfg.samples_per_client,
                       "client_fraction": cfg.client_fraction, "hidden": list(cfg.hidden), "batch_size": cfg.batch_size,
                       "patience": cfg.patience, "random_state": cfg.random_state}
    out["tunings"] = {p: {label: _tuning_json(t) for label, t in results[p].items()} for p in PARTITIONS}
    return out


def course_figures(executor: Any = None, *, small: bool | None = None) -> dict[str, Any]:
    """Run the notebook's FedSGD-versus-FedAvg comparison at its own settings and return its figures.

    Parameters
    ----------
    executor : None, dask.distributed.Client or Executor
        Where the tunings run (one task per algorithm and partition on a cluster);
        the figures are the same whatever runs them.
    small : bool, optional
        The ``PLSIM_SMALL`` sizes (default: :func:`plsim.config.small_mode`), as on Binder.

    Returns
    -------
    dict
        :func:`comparison_figures` of ``demo_settings(small).compare``, plus ``small``.
    """
    if small is not None and not isinstance(small, bool):
        raise TypeError(f"small must be None, True or False, got {small!r}")
    small = small_mode() if small is None else small
    cfg = demo_settings(small).compare
    figures = comparison_figures(start_comparison(cfg, executor).results(), cfg)
    figures["small"] = small
    return figures
