"""``plsim bench``: the main job's command. It runs :func:`plsim.benchmark.run_bench` and prints its result.

The measurement itself (what is timed, how, and what is predicted) is described in
:mod:`plsim.benchmark`. This module adds the options, the table, ``--json`` (the
fields of :class:`plsim.benchmark.BenchResult`) and the ``--plot`` figure.
Progress goes to stderr, so ``plsim bench --json`` writes clean JSON to stdout.
Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from plsim.i18n import _
from plsim.benchmark import (DEFAULT_FEATURES, DEFAULT_MEMBERS, DEFAULT_REPEATS, DEFAULT_SAMPLES, ESTIMATORS,
                             SMALL_MEMBERS, SMALL_SAMPLES, BenchConfig, BenchResult, run_bench)

if TYPE_CHECKING:
    from plsim.progress import Progress

__all__ = ["add_arguments", "run", "config_from_args", "format_table", "plot_formats", "PLOT_NAME"]


def _say(text: str) -> None:
    print(f"plsim bench: {text}", file=sys.stderr, flush=True)


def _show(event: Progress) -> None:
    """The bench's progress on stderr: each stage's line; a live member count when stderr is a terminal."""
    if event.unit != "member":
        _say(event.message)
    elif sys.stderr.isatty():
        end = "\n" if event.done == event.total else ""
        print(f"\r  {event.message}", end=end, file=sys.stderr, flush=True)


def format_table(out: BenchResult) -> str:
    """The human-readable table printed by ``plsim bench``."""
    p = out.workers
    head = (_("plsim bench: {members} x {estimator} (bagging) on {samples} x {features} "
               "samples, {p} {cluster} worker(s), median of {repeats} run(s)").format(members=out.members, estimator=out.estimator, samples=out.samples, features=out.features, p=p, cluster=out.cluster, repeats=out.repeats))
    rows = [("", "time (s)", "speedup", "efficiency", "accuracy"),
            ("sequential (1 process, 1 thread)", f"{out.sequential_seconds:.2f}", "1.00x", "100%",
             f"{out.sequential_accuracy:.4f}"),
            (_("plsim on Dask ({p} worker{value})").format(p=p, value='s' if p != 1 else ''), f"{out.parallel_seconds:.2f}", f"{out.measured_speedup:.2f}x",
             f"{out.measured_efficiency:.0%}", f"{out.parallel_accuracy:.4f}")]
    if out.joblib_seconds is not None:
        rows.append((f"joblib {out.joblib_backend} (n_jobs={p})", f"{out.joblib_seconds:.2f}",
                     f"{out.joblib_speedup:.2f}x", f"{out.joblib_efficiency:.0%}",
                     f"{out.joblib_accuracy:.4f}"))
    rows.append((_("cost model ({p} worker{value}, predicted)").format(p=p, value='s' if p != 1 else ''), f"{out.predicted_parallel_seconds:.2f}",
                 f"{out.predicted_speedup:.2f}x", f"{out.predicted_speedup / p:.0%}", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(_("All times and speedups are measured wall clock except the cost-model row "
                    "(predicted from the measured {value:.0f} ms per member, {value2:.2f} ms "
                    "overhead per task and {value3:.0f} MB/s).").format(value=out.member_seconds_mean * 1e3, value2=out.overhead_per_task_seconds * 1e3, value3=out.bandwidth_bytes_per_second / 1e6))
    if out.joblib_comparison_summary is not None:
        lines.append(_("On the same fit, {joblib_comparison_summary}").format(joblib_comparison_summary=out.joblib_comparison_summary))
        if out.joblib_comparison == "too_few_pairs":
            lines.append(_("(plsim bench --repeats {DEFAULT_REPEATS} or more can tell the two "
                            "apart.)").format(DEFAULT_REPEATS=DEFAULT_REPEATS))
    if (out.joblib_speedup is not None and out.joblib_speedup > out.measured_speedup
            and out.member_seconds_mean < 0.05):
        lines.append(_("joblib groups tiny tasks into batches by itself (batch_size='auto'), so it pays the per-task "
                        "overhead once per batch; plsim submits one Dask task per member."))
    same = "identical" if out.identical_predictions else "DIFFERENT"
    lines.append(_("Sequential and plsim ensembles: {same} predictions on {test_samples} test "
                    "samples.").format(same=same, test_samples=out.test_samples))
    if out.joblib_identical_predictions is not None:
        same = "identical" if out.joblib_identical_predictions else "DIFFERENT"
        lines.append(_("Sequential and joblib ensembles: {same} predictions.").format(same=same))
    if out.explanation:
        lines.append(out.explanation)
    lines += [f"Note: {caveat}" for caveat in out.caveats]
    return "\n".join(lines)


def _figure(out: BenchResult) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.speedup import plot_speedup, plot_timeline

    fig = Figure(figsize=(12, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    joblib = {out.workers: out.joblib_speedup} if out.joblib_speedup is not None else None
    plot_speedup(out.speedup, left, joblib_speedup=joblib)
    if out.timeline:
        plot_timeline(list(out.timeline), right)
        right.set_title(_("Last parallel fit: {get_title}").format(get_title=right.get_title()))
    fig.suptitle(out.speedup.title)
    return fig


# The file --plot writes inside a folder it is given.
PLOT_NAME = "plsim-bench.png"

BENCH_EXIT_STATUS = """exit status:
  0    the benchmark ran; the table (or --json) is printed, and --plot written
  1    the benchmark ran and its results are printed, but the --plot file could not be written
  2    usage error: a bad option or value, an unreachable --address, or a --plot path that
       cannot be written or has an extension matplotlib cannot write (checked before the
       benchmark starts, so nothing is measured)
  130  interrupted (Ctrl-C)

There is no speedup target: a slow or "slower than sequential" measurement is a result, exit 0."""


def plot_formats() -> frozenset[str]:
    """File extensions ``--plot`` accepts: those matplotlib can write here (``png``, ``pdf``, ``svg``...)."""
    from matplotlib.figure import Figure

    return frozenset(Figure().canvas.get_supported_filetypes())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``plsim bench``."""
    parser.add_argument("--workers", type=int, default=None,
                        help=_("worker processes of the local cluster (default: the usable CPUs)"))
    parser.add_argument("--members", type=int, default=None,
                        help=_("ensemble members (default {DEFAULT_MEMBERS}; {SMALL_MEMBERS} "
                                "with --small-tasks)").format(DEFAULT_MEMBERS=DEFAULT_MEMBERS, SMALL_MEMBERS=SMALL_MEMBERS))
    parser.add_argument("--samples", type=int, default=None,
                        help=_("training rows (default {DEFAULT_SAMPLES}; {SMALL_SAMPLES} with "
                                "--small-tasks)").format(DEFAULT_SAMPLES=DEFAULT_SAMPLES, SMALL_SAMPLES=SMALL_SAMPLES))
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES, help="columns (default %(default)s)")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="decision_tree",
                        help=_("base estimator of every member (default %(default)s)"))
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=_("timed runs of each kind; the median is reported, and plsim and "
                                "joblib are compared pair by pair, in a random order "
                                "({DEFAULT_REPEATS} or more; default %(default)s)").format(DEFAULT_REPEATS=DEFAULT_REPEATS))
    parser.add_argument("--seed", type=int, default=0, help=_("random_state of the data and the ensemble"))
    parser.add_argument("--address", default=None,
                        help=_("connect to this Dask scheduler (tcp://host:8786) instead of a local cluster"))
    parser.add_argument("--small-tasks", action="store_true",
                        help=_("many tiny members ({SMALL_MEMBERS} of ~10 ms): where per-task "
                                "overhead wins").format(SMALL_MEMBERS=SMALL_MEMBERS))
    parser.add_argument("--no-joblib", dest="joblib", action="store_false",
                        help=_("skip the joblib comparison"))
    parser.add_argument("--json", action="store_true", help=_("print the figures as JSON on stdout"))
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help=_("write the speedup figure and task timeline to this file (its "
                                "extension picks the format: .png, .pdf, .svg...), or into "
                                "FOLDER/{PLOT_NAME} when given an existing folder; checked "
                                "before the benchmark starts").format(PLOT_NAME=PLOT_NAME))
    parser.epilog = BENCH_EXIT_STATUS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A validated :class:`BenchConfig` from parsed arguments (applies the --small-tasks defaults)."""
    members = args.members if args.members is not None else (SMALL_MEMBERS if args.small_tasks else DEFAULT_MEMBERS)
    samples = args.samples if args.samples is not None else (SMALL_SAMPLES if args.small_tasks else DEFAULT_SAMPLES)
    return BenchConfig(workers=args.workers, members=members, samples=samples, features=args.features,
                       estimator=args.estimator, repeats=args.repeats, address=args.address,
                       small_tasks=args.small_tasks, seed=args.seed, joblib=args.joblib)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``plsim bench``; returns the exit status (see ``BENCH_EXIT_STATUS``)."""
    from plsim.cli import check_output_file

    cfg = config_from_args(args)
    plot = None
    if args.plot is not None:  # before any work: a bad path must not cost a whole benchmark
        plot = check_output_file("--plot", args.plot, default_name=PLOT_NAME, formats=plot_formats(),
                                 format_owner="matplotlib")
    out = run_bench(cfg, callback=_show)
    if args.json:
        print(json.dumps(out.as_dict(), indent=2))
    else:
        print(format_table(out))
    if plot is not None:  # after the results are printed, so a late failure (disk full) loses no numbers
        sys.stdout.flush()
        _figure(out).savefig(plot, dpi=110)
        _say(f"wrote {plot}")
    return 0
