"""The figures ``notebooks/05_collectives_compression_pipelines.ipynb`` quotes, computed in one place.

The notebook and ``benchmarks/course_figures.py`` call the same functions at the same
settings (:func:`plsim.training.demo.demo_settings`), so the course quotes one source:

* :func:`alpha_beta_lesson` -- point-to-point messages and collectives timed between
  the workers (:func:`plsim.comm.measure_exchange`) at sizes over four orders of
  magnitude, alpha and beta fitted on most of them, and the fitted model asked to
  predict the held-out rest (:func:`plsim.comm.fit_with_heldout`);
* :func:`bubble_lesson` -- the GPipe pipeline of two equal stages, each on a worker of
  its own, run with 1 and 4 micro-batches; its idle share read from the task stream
  (:func:`plsim.training.pipeline.measure_bubble`) next to ``(p - 1) / (m + p - 1)``;
* :func:`course_figures` -- both, as the flat dict of figures the benchmark prints.

Lives in :mod:`plsim.training` (not :mod:`plsim.comm`): it uses both, and
:mod:`plsim.comm` imports nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plsim.comm.measure import AlphaBetaFit, ExchangeTimes, fit_with_heldout, measure_exchange, split_heldout
from plsim.training.demo import TrainingDemo, demo_settings
from plsim.training.pipeline import BubbleMeasurement, measure_bubble

__all__ = ["AlphaBetaLesson", "alpha_beta_lesson", "bubble_lesson", "pipeline_model", "course_figures"]


@dataclass
class AlphaBetaLesson:
    """What section 1 of the notebook measures and fits.

    Attributes
    ----------
    times : ExchangeTimes
        Every exchange timed (median of the repeats).
    fit : AlphaBetaFit
        alpha and beta fitted without the held-out sizes, and every prediction.
    heldout : list of float
        The sizes kept out of the fit.
    """

    times: ExchangeTimes
    fit: AlphaBetaFit
    heldout: list[float]


def _executor(executor: Any) -> Any:
    """The executor to measure on (``None``: Dask's default client, if any, else this process)."""
    from plsim.executor import resolve_executor

    return resolve_executor("auto" if executor is None else executor)


def alpha_beta_lesson(cfg: TrainingDemo | None = None, *, executor: Any = "auto") -> AlphaBetaLesson:
    """Time the exchanges of ``cfg`` on the cluster, fit alpha and beta on all sizes but the held-out ones.

    Parameters
    ----------
    cfg : TrainingDemo or None
        The settings (default :func:`plsim.training.demo.demo_settings`):
        ``exchange_algorithms``, ``exchange_sizes``, ``exchange_heldout``,
        ``exchange_repeats``, ``exchange_chain``.
    executor : dask.distributed.Client, "auto" or plsim.executor.Executor
        The cluster to measure on (:func:`plsim.comm.measure_exchange`).
    """
    cfg = cfg or demo_settings()
    _, heldout = split_heldout(cfg.exchange_sizes, cfg.exchange_heldout)
    times = measure_exchange(executor=executor, sizes=cfg.exchange_sizes, algorithms=cfg.exchange_algorithms,
                             repeats=cfg.exchange_repeats, chain=cfg.exchange_chain)
    return AlphaBetaLesson(times, fit_with_heldout(times, heldout), heldout)


def pipeline_model(cfg: TrainingDemo | None = None) -> tuple[Any, Any, Any, Any]:
    """``(model, w, X, y)`` of the pipeline demo: an MLP of ``cfg.pipeline_hidden`` on ``cfg.pipeline_batch``
    rows of digits (cut into two stages of three weight matrices each, ``64 x H + 2 H x H`` and
    ``2 H x H + H x 10``: nearly equal work)."""
    from plsim.data import load_dataset
    from plsim.models import MLP

    cfg = cfg or demo_settings()
    ds = load_dataset("digits")
    rows = min(cfg.pipeline_batch, ds.X_train.shape[0])
    model = MLP(ds.X_train.shape[1], hidden=cfg.pipeline_hidden, n_classes=10)
    return model, model.init_params(0), ds.X_train[:rows], ds.y_train[:rows]


def bubble_lesson(executor: Any, cfg: TrainingDemo | None = None, *, cpus: int | None = None
                  ) -> dict[int, BubbleMeasurement]:
    """The pipeline bubble for each micro-batch count of ``cfg.pipeline_micro``: ``{m: BubbleMeasurement}``.

    ``cpus``: the CPUs the workers share (default :attr:`plsim.executor.Executor.cpus` on a cluster).
    """
    cfg = cfg or demo_settings()
    ex = _executor(executor)
    if cpus is None and ex.on_cluster:
        cpus = ex.cpus
    model, w, X, y = pipeline_model(cfg)
    # no warm-up pass: the median of the passes leaves out a first one slowed by the workers' first tasks
    return {m: measure_bubble(model, w, X, y, n_stages=cfg.pipeline_stages, n_micro=m, executor=ex,
                              repeats=cfg.pipeline_repeats, cpus=cpus, warmup=False)
            for m in cfg.pipeline_micro}


def course_figures(executor: Any = None, *, small: bool | None = None) -> dict[str, Any]:
    """Notebook 05's figures at its own settings, as the flat dict ``benchmarks/course_figures.py`` prints.

    Parameters
    ----------
    executor : dask.distributed.Client, plsim.executor.Executor or None
        The cluster to measure on (``None``: Dask's default client, if any).
    small : bool or None
        The small settings (``PLSIM_SMALL``); default: as the environment says.

    Returns
    -------
    dict
        ``alpha_seconds``, ``beta_seconds_per_byte`` (fitted, measured exchanges),
        ``alpha_beta_heldout_median_ratio`` (measured / predicted, median over the held-out
        sizes), ``alpha_beta_points`` (measurements fitted), ``alpha_beta_r2`` (R² on log
        time), ``alpha_beta_sizes`` / ``alpha_beta_heldout_sizes`` (bytes);
        ``bubble_measured_m1`` / ``_m4`` (``None`` where the cluster cannot measure one,
        ``bubble_not_measured`` says why), ``bubble_predicted_m1`` / ``_m4`` (the formula),
        ``bubble_simulated_m1`` / ``_m4`` (virtual clock with the measured task times); and
        the context: ``comm_workers``, ``comm_cpus``, ``comm_ranks``, ``comm_algorithms``.
        Without a Dask cluster the measured figures are ``None``.
    """
    cfg = demo_settings(small)
    ex = _executor(executor)
    out: dict[str, Any] = {"comm_workers": len(ex.threads()) if ex.on_cluster else 0,
                           "comm_cpus": ex.cpus if ex.on_cluster else None,
                           "comm_algorithms": list(cfg.exchange_algorithms)}
    if not ex.on_cluster:
        out.update(alpha_seconds=None, beta_seconds_per_byte=None, alpha_beta_heldout_median_ratio=None,
                   alpha_beta_points=None)
    else:
        lesson = alpha_beta_lesson(cfg, executor=ex)
        fit = lesson.fit
        out.update(alpha_seconds=fit.link.alpha, beta_seconds_per_byte=fit.link.beta,
                   alpha_beta_heldout_median_ratio=round(fit.heldout_median_ratio, 3),
                   alpha_beta_points=fit.points, alpha_beta_r2=round(fit.r2, 3), comm_ranks=fit.n_ranks,
                   alpha_beta_sizes=fit.fitted_sizes, alpha_beta_heldout_sizes=fit.heldout_sizes,
                   alpha_beta_heldout_ratios=[round(r, 3) for r in fit.ratios("held out")])
    bubbles = bubble_lesson(ex, cfg, cpus=out["comm_cpus"])
    reasons = []
    for m, b in bubbles.items():
        out[f"bubble_measured_m{m}"] = None if b.measured is None else round(b.measured, 3)
        out[f"bubble_predicted_m{m}"] = round(b.predicted, 3)
        out[f"bubble_simulated_m{m}"] = round(b.simulated.bubble_fraction, 3)
        out[f"bubble_repeats_m{m}"] = [round(x, 3) for x in b.repeats]
        if b.reason:
            reasons.append(b.reason)
    out["bubble_stage_task_seconds"] = round(float(next(iter(bubbles.values())).stage_seconds), 4) if bubbles else None
    out["bubble_not_measured"] = reasons[0] if reasons else None
    return out
