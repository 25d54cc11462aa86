"""plsim.grading's parts without a kernel: the answer protocol, the check registry, the references, the scoring step.

End-to-end grading (sandboxed kernels, the Dask cluster, nbgrader's gradebook) is in tests/test_nbgrader_grading.py;
the sandbox itself in tests/test_grading_sandbox.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from plsim.grading import protocol
from plsim.grading.checks import Check, CheckContext, Failed, check, load_checks, run_here
from plsim.grading.protocol import MIMETYPE, Raised, answer_of, answers_in, from_plain, to_plain


# -- the protocol --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, True, 3, -2.5, "text", [1, 2.0, "x"], (1, (2, 3)), {"a": 1, 2: [3.0]},
                                   {(1, 2): "tuple key"}, np.arange(6).reshape(2, 3), np.array([0.1, -2.0]),
                                   np.array([True, False]), np.float32(1.5), np.int64(7), Raised("ValueError")])
def test_plain_data_survives_json(value):
    back = from_plain(json.loads(json.dumps(to_plain(value))))
    if isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray) and back.shape == value.shape and np.array_equal(back, value)
        assert back.dtype.kind == value.dtype.kind
    else:
        assert back == value and type(back) in (type(value), int, float)


def test_numbers_keep_int_versus_float_and_non_finite_values():
    assert isinstance(from_plain(to_plain(np.int32(4))), int)
    assert isinstance(from_plain(to_plain(4.0)), float)
    assert math.isnan(from_plain(json.loads(json.dumps(to_plain(float("nan"))))))
    assert from_plain(json.loads(json.dumps(to_plain(float("-inf"))))) == float("-inf")


@pytest.mark.parametrize("value", [object(), {1, 2}, np.array(["a"]), lambda: 1])
def test_anything_but_plain_data_is_refused(value):
    with pytest.raises(TypeError, match="cannot be sent to the grader|only numeric arrays"):
        to_plain(value)


def test_answer_of_turns_exceptions_and_objects_into_data():
    class Mine(ValueError):
        pass

    def raises(case):
        raise Mine("no")

    got = from_plain(answer_of(raises, {}))
    assert isinstance(got, Raised) and got.name == "Mine" and got.is_a("ValueError") and not got.is_a("TypeError")

    class AlwaysEqual:  # the "equal to everything" answer: not data, so it cannot pass
        def __eq__(self, other):
            return True

    assert from_plain(answer_of(lambda case: AlwaysEqual(), {})) == Raised("NotPlainData", ("NotPlainData",))
    assert from_plain(answer_of(lambda case: case["x"] * 2, {"x": 21})) == 42


def test_unknown_encodings_are_refused():
    with pytest.raises(ValueError, match="not an answer encoding"):
        from_plain({"__code__": "import os"})


def test_answers_in_reads_only_well_formed_messages_of_our_mimetype():
    good = {"grade_id": "q1-by-hand", "answers": [1, 2]}
    outputs = [{"output_type": "stream", "name": "stdout", "text": "hi"},
               {"output_type": "display_data", "data": {"text/plain": "x", MIMETYPE: good}, "metadata": {}},
               {"output_type": "display_data", "data": {MIMETYPE: {"grade_id": 3}}, "metadata": {}},
               {"output_type": "display_data", "data": {MIMETYPE: {"grade_id": "q", "answers": [0] * 10**6}},
                "metadata": {}}]
    found = answers_in(outputs)
    assert found[0] == good
    assert found[1]["grade_id"] is None and "malformed" in found[1]["error"]
    assert found[2]["grade_id"] is None and "bytes" in found[2]["error"]


def test_send_under_the_grader_only_displays_answers_to_the_graders_cases(tmp_path, monkeypatch):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({"q1-by-hand": [{"x": 1}, {"x": 2}]}))
    monkeypatch.setenv(protocol.CASES_ENV, str(cases))
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    protocol.send("q1-by-hand", lambda case: case["x"] * 10)  # no check runs here: the grader decides
    assert shown[0][MIMETYPE] == {"grade_id": "q1-by-hand", "answers": [10, 20]}
    with pytest.raises(TypeError, match="grade_id"):
        protocol.send(3, lambda case: 1)


def test_send_refuses_to_grade_in_the_kernel_under_nbgrader_without_the_sandbox(monkeypatch):
    """If the course's nbgrader_config.py did not load, nbgrader would autograde with its own pipeline and the
    kernel would judge its own answers: every graded cell fails instead."""
    monkeypatch.delenv(protocol.CASES_ENV, raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match="without plsim.grading's sandbox"):
        protocol.send("q1-by-hand", lambda case: 1, assignment="a2")


# -- the registry --------------------------------------------------------------------------------------

def test_check_registration_is_checked():
    with pytest.raises(TypeError, match="assignment"):
        check("", "q1")
    with pytest.raises(TypeError, match="cases"):
        check("zz", "q1", cases=[1, 2])

    def first(ctx):
        pass

    def second(ctx):
        pass

    check("zz-test", "q1-one")(first)
    check("zz-test", "q1-one")(first)  # a module imported twice registers the same function again: fine
    with pytest.raises(ValueError, match="already registered"):
        check("zz-test", "q1-one")(second)


def test_a_check_never_passes_by_accident():
    def boom(ctx):
        raise KeyError("answer shape")

    ctx = CheckContext("zz", "q", [{}], [1])
    assert "could not be checked" in Check("zz", "q", boom).judge(ctx)
    assert "no record" in Check("zz", "q", lambda ctx: None, needs_record=True).judge(ctx)
    with pytest.raises(Failed, match="2 case"):
        CheckContext("zz", "q", [{}, {}], [1]).pairs()


@pytest.mark.parametrize("a", ["a1", "a2", "a3"])
def test_every_assignment_has_its_checks(a):
    checks = load_checks(a)
    assert len(checks) >= 12 and all(c.assignment == a for c in checks.values())
    rng = np.random.default_rng(0)
    for c in checks.values():
        json.dumps(c.draw(rng))  # the cases go into the kernel as JSON


def _weighted(vectors, counts):
    w = np.asarray(counts, dtype=float)
    return (w[:, None] * np.asarray(vectors, dtype=float)).sum(axis=0) / w.sum()


def _fedavg_probe(fedavg):
    def probe(case):
        vectors = [np.array(v, dtype=float) for v in case["vectors"]]
        out = fedavg(vectors, list(case["n"]))
        return {"out": np.asarray(out, dtype=float), "same_object": any(out is v for v in vectors),
                "inputs_unchanged": True}
    return probe


def test_a2_fedavg_check_tells_weighted_from_unweighted():
    run_here("q1-by-hand", _fedavg_probe(_weighted), assignment="a2", seed=1)
    with pytest.raises(AssertionError, match="sample-weighted mean"):
        run_here("q1-by-hand", _fedavg_probe(lambda v, n: np.mean(v, axis=0)), assignment="a2", seed=1)
    with pytest.raises(AssertionError, match="new array"):
        run_here("q1-by-hand", _fedavg_probe(lambda v, n: v[0] if len(v) == 1 else _weighted(v, n)),
                 assignment="a2", seed=1)


def test_a1_errors_check_wants_a_value_error():
    def serial_fraction(speedup, p):
        if p < 2:
            raise ValueError(p)
        return (1 / speedup - 1 / p) / (1 - 1 / p)

    run_here("q2-errors", lambda case: serial_fraction(1.0, case["p"]), assignment="a1", seed=2)
    run_here("q2-extremes", lambda case: serial_fraction(case["speedup"], case["p"]), assignment="a1", seed=2)
    with pytest.raises(AssertionError, match="must raise ValueError"):
        run_here("q2-errors", lambda case: 0.0, assignment="a1", seed=2)
    with pytest.raises(AssertionError, match="must raise ValueError.*not raise ZeroDivisionError"):
        run_here("q2-errors", lambda case: (1 / 0), assignment="a1", seed=2)


def _topk(g, k):
    keep = np.argsort(-np.abs(g), kind="stable")[:k]
    out = np.zeros_like(g)
    out[keep] = g[keep]
    return out


def test_a3_topk_check_catches_unstable_ties_and_mutation():
    def probe_of(topk):
        def probe(case):
            g = np.array(case["g"], dtype=float)
            before = g.copy()
            out = topk(g, case["k"])
            return {"out": out, "same_object": out is g, "g_unchanged": np.array_equal(g, before)}
        return probe

    run_here("q3-by-hand", probe_of(_topk), assignment="a3", seed=3)
    with pytest.raises(AssertionError, match="lower index"):  # the last of equal magnitudes kept
        run_here("q3-by-hand", probe_of(lambda g, k: _topk(g[::-1], k)[::-1].copy()), assignment="a3", seed=3)

    def in_place(g, k):
        g[np.argsort(-np.abs(g), kind="stable")[k:]] = 0
        return g

    with pytest.raises(AssertionError, match="leave g unchanged"):
        run_here("q3-properties", probe_of(in_place), assignment="a3", seed=3)


def test_a3_error_feedback_check_follows_every_step():
    class EF:
        def __init__(self, k, keep_residual=True):
            self.k, self.residual, self.keep = k, None, keep_residual

        def step(self, g):
            c = g if self.residual is None else g + self.residual
            sent = _topk(c, self.k)
            self.residual = c - sent if self.keep else np.zeros_like(c)
            return sent

    def probe_of(make):
        def probe(case):
            ef = make(case["k"])
            return [{"sent": ef.step(np.array(g, dtype=float)), "residual": np.asarray(ef.residual, dtype=float)}
                    for g in case["grads"]]
        return probe

    run_here("q4-nothing-lost", probe_of(EF), assignment="a3", seed=4)
    with pytest.raises(AssertionError, match="residual"):
        run_here("q4-nothing-lost", probe_of(lambda k: EF(k, keep_residual=False)), assignment="a3", seed=4)


# -- scoring (nbgrader's side) -------------------------------------------------------------------------

def _code(gid, outputs, points=1):
    from nbformat.v4 import new_code_cell
    cell = new_code_cell("pass")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": gid,
                                 "points": points, "schema_version": 3}
    cell.outputs = outputs
    return cell


def _message(gid, answers):
    from nbformat import NotebookNode
    return NotebookNode(output_type="display_data", metadata={},
                        data={MIMETYPE: {"grade_id": gid, "answers": answers}, "text/plain": "sent"})


def test_grader_checks_decide_from_the_answers_not_from_the_kernel():
    pytest.importorskip("nbgrader")
    from nbformat import NotebookNode
    from nbformat.v4 import new_notebook

    from plsim.grading.scoring import GraderChecks, verdicts

    def wants_two(ctx):
        if ctx.answers != [2]:
            raise Failed("not two")

    for gid in ("q1-good", "q1-wrong", "q1-twice", "q1-error", "q1-elsewhere", "q1-silent"):
        check("zz-score", gid)(wants_two)
    error = NotebookNode(output_type="error", ename="AssertionError", evalue="visible check",
                         traceback=["line 3: hidden secret source"])
    result = NotebookNode(output_type="execute_result", data={"text/plain": "1.0"}, metadata={}, execution_count=1)
    nb = new_notebook(cells=[
        _code("q1-good", [_message("q1-good", [2]), result]),
        _code("q1-wrong", [_message("q1-wrong", [5])]),
        _code("q1-twice", [_message("q1-twice", [2]), _message("q1-twice", [2])]),
        _code("q1-error", [_message("q1-error", [2]), error]),
        _code("q1-elsewhere", []),
        _code("q1-silent", [_message("q1-elsewhere", [2])]),   # another cell's answers, from here
    ])
    resources = {"nbgrader": {"assignment": "zz-score"},
                 "plsim_grading": {"cases": {gid: [{}] for gid in ("q1-good", "q1-wrong", "q1-twice", "q1-error",
                                                                    "q1-elsewhere", "q1-silent")},
                                   "windows": {}, "record": None}}
    nb, resources = GraderChecks().preprocess(nb, resources)
    got = verdicts(resources)
    assert got["q1-good"] == (1.0, None)
    assert got["q1-wrong"] == (0.0, "not two")
    assert got["q1-twice"][0] == 0 and "2 answer messages" in got["q1-twice"][1]
    assert got["q1-error"][0] == 0 and "AssertionError: visible check" in got["q1-error"][1]
    assert got["q1-elsewhere"][0] == 0 and "one expected, from the cell itself" in got["q1-elsewhere"][1]
    assert got["q1-silent"][0] == 0 and "no answers reached the grader" in got["q1-silent"][1]
    # What the student's kernel put there is gone: our messages, execute results, tracebacks' source lines.
    text = json.dumps([c.outputs for c in nb.cells])
    assert MIMETYPE not in text and "execute_result" not in text and "hidden secret source" not in text
    assert "Grader: passed" in json.dumps(nb.cells[0].outputs)


def test_released_source_of_an_instructors_cell():
    pytest.importorskip("nbgrader")
    from plsim.grading.scoring import _released

    source = "x = 1\nassert x\n### BEGIN HIDDEN TESTS\nsend('q', f)\n### END HIDDEN TESTS"
    assert _released(source) == "x = 1\nassert x"


def test_question_of_each_cell():
    pytest.importorskip("nbgrader")
    from nbformat.v4 import new_code_cell, new_markdown_cell

    from plsim.grading.execute import question_of

    cells = [new_code_cell("setup"), new_markdown_cell("## Q1"), new_code_cell("a"), new_code_cell("free"),
             new_code_cell("t"), new_code_cell("b")]
    cells[2].metadata["nbgrader"] = {"grade_id": "q1-answer"}
    cells[4].metadata["nbgrader"] = {"grade_id": "q1-by-hand"}
    cells[5].metadata["nbgrader"] = {"grade_id": "q2-answer"}
    assert question_of(cells) == [None, None, "q1", "q1", "q1", "q2"]


def test_recorded_run_round_trip_and_window():
    from plsim.exercises.scheduler_record import SchedulerRecord
    from plsim.grading.record import RecordedRun

    task = {"key": "f-1", "name": "f", "function": "m.f", "client": "c", "submitted": 10.0, "processing": 10.1,
            "started": 10.2, "stopped": 10.3, "finished": 10.4, "state": "memory", "worker": "tcp://w",
            "payload_bytes": 100, "dependencies": ["x-1"], "result_bytes": 8, "result_type": "ndarray"}
    late = {**task, "key": "f-2", "submitted": 20.0}
    record = SchedulerRecord.from_json(json.dumps({"start": 0.0, "stop": 30.0, "tasks": [task, late],
                                                   "data": {"x-1": {"key": "x-1", "nbytes": 800, "scattered": True,
                                                                    "replicas": 1}},
                                                   "gathers": [[10.5, ["f-1"]], [20.5, ["f-2"]]]}))
    run = RecordedRun(record, {"f-1": np.array([1.0, 2.0]), "f-2": object()})
    back = RecordedRun.from_json(run.to_json())
    assert [t.key for t in back.record.tasks] == ["f-1", "f-2"] and list(back.results) == ["f-1"]  # not data
    cut = back.window(9.0, 15.0)
    assert [t.key for t in cut.record.tasks] == ["f-1"] and set(cut.results) == {"f-1"}
    assert cut.record.data["x-1"].scattered
    assert [keys for _, keys in cut.record.gathers][0] == ("f-1",)  # what the Dask checks' "at once" reads
    with pytest.raises(ValueError):
        RecordedRun.from_json("[1, 2]")
