"""Library code paths run in French: what parses, compares or keys a text must not see a translated one.

The French edition runs the English code cells with plsim speaking French (plsim.i18n). A code that a
program compares ("is about as good as", a phase label, a dropdown value) must stay English; what the
student reads must be French. Each test runs its path under ``set_language("fr")`` and restores the
automatic choice.
"""

from __future__ import annotations

import pytest

from plsim import i18n


@pytest.fixture(autouse=True)
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language(None)


def test_member_comparison_relation_stays_a_code_in_french():
    from plsim.ensembles.diversity import MemberComparison

    # a comparison built from accuracies alone (no paired interval): a zero gain is "about as good as"
    tie = MemberComparison("vote", 0.8, {"a": 0.8, "b": 0.7}, 0.5)
    assert tie.relation == "is about as good as" and not tie.beats_best
    # 02_ensembles keys its sentences by the relation: in French this lookup raised KeyError
    sentence = {"beats": 1, "is beaten by": 2, "is about as good as": 3}[tie.relation]
    assert sentence == 3
    text = tie.explain()
    # the tie reads as a tie (before, French fell through to the "worse" sentence, in English words)
    assert "à peu près aussi bon" in text and "worse" not in text and "because" not in text
    worse = MemberComparison("vote", 0.7, {"a": 0.8, "b": 0.7}, 0.5)
    assert worse.relation == "is beaten by"
    assert "moins bon (-10.0 points), car" in worse.explain()
    better = MemberComparison("vote", 0.9, {"a": 0.8, "b": 0.7}, 0.5)
    assert better.relation == "beats" and better.beats_best and "meilleur de 10.0 points" in better.explain()


def test_accuracy_comparison_summary_is_one_french_sentence():
    import numpy as np

    from plsim.accuracy import compare_accuracy

    y = np.array([0, 1] * 20)
    right_a = y.copy()
    right_b = y.copy()
    right_b[:2] = 1 - right_b[:2]  # two rows apart: no clear difference
    c = compare_accuracy(y, right_a, right_b, name_a="vote", name_b="arbre")
    assert c.relation == "is about as good as"
    assert c.summary().endswith(" Vote fait à peu près aussi bien que arbre sur cet ensemble de test.")
    assert "is about as good as" not in c.summary()


def test_speedup_phase_label_is_a_code_and_its_text_is_french():
    from plsim.widgets.speedup import Phase, speedup_outcome

    assert Phase("2 worker(s)", 1, 4).workers == 2 and Phase("sequential", 1, 4).workers is None
    assert Phase("sequential", 1, 4).text == "séquentielle" and Phase("2 worker(s)", 1, 4).text == "2 worker(s)"
    text, complete = speedup_outcome(None, Phase("sequential", 2, 16), workers=2)
    assert not complete and text.startswith("l'exécution séquentielle a été interrompue après 2 tâches sur 16")
    assert "the sequential run" not in text


def test_size_speedup_kind_is_french_and_the_course_figures_keep_english():
    from plsim.comm import LinkModel
    from plsim.training.scaling import SizeSpeedup

    def sweep(parallel):
        return SizeSpeedup(hidden=((8,), (64,)), params=(1000, 100_000), one_process_s=(0.0012, 0.021),
                           data_parallel_s=(0.03, 0.035), replicas=2, parallel=parallel,
                           link=LinkModel(alpha=0.02, beta=1e-9), compute_fit=(1e-3, 2e-7))

    assert sweep(2).kind == "mesuré" and sweep(2).kind_en == "measured"
    assert sweep(1).kind == "mesuré, 2 répliques se relayant sur 1 processeur"
    assert sweep(1).kind_en == "measured, 2 replicas taking turns on 1 CPU"


def test_code_exercise_verdict_is_french(digits_small):
    from plsim.exercises import check_code
    from plsim.models import SoftmaxRegression

    X, y = digits_small

    def server(*args, **kwargs):
        raise AssertionError("not called without a cluster")

    fb = check_code("async_ps", server, client=None, model=SoftmaxRegression(X.shape[1], 10), X=X, y=y, quiet=True)
    assert fb.correct is False and fb.startswith("[async_ps] pas tout à fait : ") and "not quite" not in fb


@pytest.fixture(scope="module")
def digits_small():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:60] / 16.0, y[:60]


def test_widget_dropdowns_show_french_labels_and_keep_english_values():
    import ipywidgets as w

    from plsim.widgets._panel import value_text
    from plsim.widgets.ensembles import BASE_MODELS, SAMPLING, sampling_text
    from plsim.widgets.speedup import SHIP_CHOICES

    base = w.Dropdown(options=[(i18n._(k), k) for k in BASE_MODELS], value="decision tree")
    assert base.value == "decision tree" and value_text(base) == "arbre de décision"
    ship = w.Dropdown(options=[(i18n._(k), k) for k in SHIP_CHOICES], value="with every task")
    assert SHIP_CHOICES[ship.value] == "per-task" and value_text(ship) == "avec chaque tâche"
    assert set(SAMPLING) == {"bootstrap (bagging)", "random subspaces", "random patches"}
    assert sampling_text("random subspaces", 64) == "toutes les lignes, 32 colonnes sur 64 au hasard"
    assert value_text(w.Checkbox(value=True)) == "oui"


def test_plsim_info_report_is_french_and_keeps_the_numbers():
    from plsim.cli.info import format_info

    info = {"versions": {"plsim": "0.1.0", "dask": None}, "python": "3.12.0", "platform": "Linux",
            "resources": {"cpus": 1, "cpu_source": "CPU affinity", "memory_bytes": 2 * 2**30,
                          "memory_source": "MEM_LIMIT"},
            "cluster": {"ok": True, "kind": "local", "scheduler": "tcp://127.0.0.1:1", "workers": 1, "threads": 1,
                        "dashboard": None, "start_seconds": 1.234, "task_roundtrip_seconds": 0.0056,
                        "close_seconds": 0.5}}
    text = format_info(info)
    assert "plsim 0.1.0 sous Python 3.12.0 (Linux)" in text and "  dask          non installé" in text
    assert "d'après CPU affinity" in text and "2.0 GiB" in text and "1.23 s (mesuré)" in text
    assert "5.6 ms (mesuré)" in text and "remarque : avec 1 processeur utilisable" in text
    assert "measured" not in text and "resources" not in text


def test_round_ratio_reads_in_french_and_its_kind_stays_a_code():
    from plsim.federated.lessons import RoundRatio

    at_most = RoundRatio(fedsgd_rounds=56, fedavg_rounds=None, fedsgd_cap=80, fedavg_cap=80)
    assert at_most.kind == "at most" and str(at_most) == f"au plus {56 / 81:.2f}x"
    assert str(RoundRatio(fedsgd_rounds=50, fedavg_rounds=6, fedsgd_cap=150, fedavg_cap=20)) == f"{50 / 6:.2f}x"
