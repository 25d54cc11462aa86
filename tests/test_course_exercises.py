"""The exercise machinery, and the rules every notebook's exercises follow.

* The answer is never in the notebook: a check cell passes the exercise's name,
  the student's variable and, at most, what the notebook ran (names, never
  arithmetic or literals the answer could be read from).
* Every registered exercise has a worked solution in ``notebooks/solutions/``,
  loaded on demand with ``%load``, and is used by a notebook; every notebook has
  at least one predict -> run -> explain exercise; every topic notebook one
  exercise in which the student writes Dask code.
* The feedback machinery itself: unanswered, right, wrong, a raising student
  function, a prediction compared with a measurement.

That each worked solution passes its check is tested per topic, next to the
code it exercises (``tests/test_exercises_*.py``).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from plsim.exercises import Exercise, check, check_code, predict, register, registered, reveal
from plsim.exercises import _core

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = ROOT / "notebooks" / "solutions"
TOPIC_NOTEBOOKS = ("02_", "03_", "04_", "05_")
HELPERS = {"check", "predict", "reveal", "check_code"}
EXPLAIN = "explain_"  # notebooks/solutions/explain_<exercise>.py: the model answer to an Explain cell


def _code(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _calls(source: str):
    src = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in HELPERS:
            yield node


def _exercise_calls(nb: dict) -> list[tuple[str, str]]:
    out = []
    for src in _code(nb):
        for call in _calls(src):
            if call.args and isinstance(call.args[0], ast.Constant):
                out.append((call.func.id, call.args[0].value))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_answer_is_visible_in_a_check_cell(path):
    for src in _code(json.loads(path.read_text())):
        for call in _calls(src):
            where = f"{path.name}: {ast.unparse(call)}"
            assert len(call.args) == 2, f"{where}: pass the name and the student's variable only"
            assert isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str), where
            assert isinstance(call.args[1], ast.Name), f"{where}: the answer is the student's variable"
            for kw in call.keywords:
                # Context is what the notebook ran (a name or an attribute of one), never a computed answer.
                assert isinstance(kw.value, (ast.Name, ast.Attribute, ast.Subscript)), f"{where}: {kw.arg}="


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_a_predict_run_explain_exercise(path):
    calls = _exercise_calls(json.loads(path.read_text()))
    predicted = {name for fn, name in calls if fn == "predict"}
    revealed = {name for fn, name in calls if fn == "reveal"}
    assert predicted and predicted == revealed, f"{path.name}: predict {predicted}, reveal {revealed}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name.startswith(TOPIC_NOTEBOOKS)], ids=lambda p: p.name)
def test_every_topic_notebook_has_a_dask_code_exercise(path):
    nb = json.loads(path.read_text())
    names = [name for fn, name in _exercise_calls(nb) if fn == "check_code"]
    assert names, f"{path.name} has no check_code exercise"
    for name in names:
        solution = (SOLUTIONS / f"{name}.py").read_text()
        assert re.search(r"\.(submit|scatter|map)\(|as_completed", solution), f"{name}: the solution uses no Dask API"


def test_exercises_solutions_and_notebooks_match():
    used = {name for p in NOTEBOOKS for _, name in _exercise_calls(json.loads(p.read_text()))}
    names = set(registered())
    assert used <= names, f"notebooks use unregistered exercises: {used - names}"
    assert names <= used, f"registered but in no notebook: {names - used}"
    files = {p.stem for p in SOLUTIONS.glob("*.py") if not p.stem.startswith(EXPLAIN)}
    assert files == names, f"missing solutions: {names - files}; solutions of nothing: {files - names}"
    for p in NOTEBOOKS:
        text = p.read_text()
        for _, name in _exercise_calls(json.loads(text)):
            assert f"%load solutions/{name}.py" in text, f"{p.name}: no on-demand solution for {name}"


def _explanation_text(path: Path) -> str | None:
    """The string a model-answer file assigns to ``explanation`` (None if it assigns none)."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["explanation"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


def test_every_predict_exercise_has_a_model_answer_to_its_explain_cell():
    predicts = {name for name, ex in registered().items() if ex.kind == "predict"}
    answers = {p.stem[len(EXPLAIN):] for p in SOLUTIONS.glob(f"{EXPLAIN}*.py")}
    assert answers == predicts, f"missing model answers: {predicts - answers}; answers to nothing: {answers - predicts}"
    for name in predicts:
        text = _explanation_text(SOLUTIONS / f"{EXPLAIN}{name}.py")
        assert text is not None, f"{EXPLAIN}{name}.py does not assign explanation = \"\"\"...\"\"\""
        assert len(text.split()) >= 60, f"{EXPLAIN}{name}.py: a model answer of {len(text.split())} words"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_explain_cell_points_to_its_model_answer(path):
    # After reveal(name, ...), the first code cell assigning `explanation` is the student's; the cell right after
    # it is a markdown cell offering %load solutions/explain_<name>.py (markdown: running the notebook top to
    # bottom must not overwrite the student's explanation).
    cells = json.loads(path.read_text())["cells"]
    pending = None
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        if cell["cell_type"] == "code":
            for call in _calls(src):
                if call.func.id == "reveal":
                    pending = call.args[0].value
            if pending and re.match(r"\s*explanation\s*=", src):
                after = cells[i + 1] if i + 1 < len(cells) else None
                load = f"%load solutions/{EXPLAIN}{pending}.py"
                assert after is not None and after["cell_type"] == "markdown" and load in "".join(after["source"]), \
                    f"{path.name}: the explanation cell of {pending} is not followed by a markdown cell with {load}"
                pending = None
    assert pending is None, f"{path.name}: no explanation cell after reveal({pending!r})"


# -- the machinery, on exercises registered just for these tests ---------------------------------

@pytest.fixture
def toy():
    before = dict(_core._REGISTRY)
    register(Exercise("toy-answer", "answer", hint="3 x 4", expected=lambda factor=1: 12 * factor))
    register(Exercise("toy-predict", "predict", rel_tol=0.1,
                      explain=lambda guess, measured: "overhead" if guess is not None and guess > measured else ""))

    def run(fn, n=5):
        got, want = fn(n), sum(range(n))
        return got == want, f"{fn.__name__}({n}) gave {got}"

    register(Exercise("toy-code", "code", run=run, hint="add up range(n)"))
    yield
    _core._REGISTRY.clear()
    _core._REGISTRY.update(before)
    _core._PREDICTIONS.clear()


def test_check_compares_with_the_registered_value(toy):
    assert check("toy-answer", None, quiet=True).correct is None
    assert check("toy-answer", 12, quiet=True).correct is True
    assert check("toy-answer", 13, quiet=True).correct is False
    assert check("toy-answer", 24, factor=2, quiet=True).correct is True
    wrong = check("toy-answer", 13, quiet=True)
    assert "12" not in wrong and "13" in wrong  # the feedback never gives the answer away
    assert check("toy-answer", "twelve", quiet=True).correct is False


def test_prediction_then_measurement(toy):
    assert reveal("toy-predict", 2.0, quiet=True).correct is None  # no prediction recorded
    assert predict("toy-predict", None, quiet=True).correct is None
    assert predict("toy-predict", "fast", quiet=True).correct is False
    assert predict("toy-predict", 3.0, quiet=True).correct is True
    fb = reveal("toy-predict", 2.0, quiet=True)
    assert fb.correct is False and "too high" in fb and "overhead" in fb
    predict("toy-predict", 2.1, quiet=True)
    fb = reveal("toy-predict", 2.0, quiet=True)
    assert fb.correct is True and "measured: 2" in fb


def test_a_simulated_outcome_is_labelled_as_such(toy):
    register(Exercise("toy-model", "predict", outcome="predicted by the cost model (not measured)"))
    predict("toy-model", 30, quiet=True)
    fb = reveal("toy-model", 32, quiet=True)
    assert "predicted by the cost model (not measured): 32" in fb and "measured: 32" not in fb.replace("(not measured): 32", "")


def test_student_code_is_run_and_compared(toy):
    assert check_code("toy-code", None, quiet=True).correct is None
    assert check_code("toy-code", lambda n: sum(range(n)), quiet=True).correct is True
    assert check_code("toy-code", lambda n: n * (n + 1) // 2, quiet=True).correct is False

    def todo(n):
        raise NotImplementedError

    assert check_code("toy-code", todo, quiet=True).correct is None
    fb = check_code("toy-code", lambda n: 1 / 0, quiet=True)
    assert fb.correct is False and "ZeroDivisionError" in fb
    assert check_code("toy-code", 42, quiet=True).correct is False


def test_unknown_or_misused_exercise_is_a_clear_error(toy):
    with pytest.raises(ValueError, match="name='nope' is not an exercise"):
        check("nope", 1)
    with pytest.raises(ValueError, match="check_code"):
        check("toy-code", 1)
    with pytest.raises(TypeError, match="name=3"):
        check(3, 1)
