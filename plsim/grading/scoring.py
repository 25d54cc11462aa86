"""nbgrader preprocessors that score graded cells by the grader's own checks, and keep hidden tests hidden.

- :class:`GraderChecks` (after :class:`~plsim.grading.execute.SandboxedExecute`): for each graded code cell,
  reads the answers the kernel sent (:mod:`plsim.grading.protocol`), runs the cell's registered check in this
  process and replaces the cell's outputs the kernel could have forged (our answer messages, execute results,
  tracebacks that quote hidden test lines) by the verdict;
- :class:`SaveGraderScores`: nbgrader's SaveAutoGrades, with the verdicts as the autograder's scores;
- :class:`QuietOverwriteCells`: nbgrader's OverwriteCells, which restores every locked cell from the gradebook,
  without warning about an unchanged student copy (the gradebook holds the instructor's cell, hidden tests
  included, so every honest test cell "changed"); a real edit is still reported;
- :class:`HideHiddenTests`: nbgrader's ClearHiddenTests, for ``generate_feedback``.
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from traitlets import List
from nbformat.notebooknode import NotebookNode

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells, SaveAutoGrades
from plsim.grading.checks import CheckContext, load_checks
from plsim.grading.protocol import MIMETYPE, answers_in, from_plain

__all__ = ["GraderChecks", "SaveGraderScores", "QuietOverwriteCells", "HideHiddenTests", "verdicts"]


def verdicts(resources: ResourcesDict) -> dict[str, tuple[float, str | None]]:
    """``{grade_id: (score, reason or None)}`` decided by :class:`GraderChecks` for this notebook."""
    return resources.setdefault("plsim_grading", {}).setdefault("verdicts", {})


class GraderChecks(NbGraderPreprocessor):
    """Decide every graded code cell from the grader's check of the answers the kernel sent out."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        state = resources.get("plsim_grading")
        if state is None or "cases" not in state:
            raise RuntimeError("GraderChecks needs plsim.grading.SandboxedExecute to run the notebook first "
                               "(c.Autograde.autograde_preprocessors, see nbgrader_config.py)")
        assignment = resources["nbgrader"]["assignment"]
        checks = load_checks(assignment)
        # Every answer message, wherever it appeared: answers for a cell must come from that cell only.
        seen: dict[str, list[str]] = {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                for message in answers_in(cell.get("outputs", [])):
                    seen.setdefault(str(message.get("grade_id")), []).append(gid)
        results = verdicts(resources)
        for cell in nb.cells:
            if not (cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)):
                if cell.cell_type == "code":
                    cell.outputs = [o for o in cell.outputs if not _is_answer(o)]
                continue
            gid = cell.metadata.nbgrader["grade_id"]
            points = float(cell.metadata.nbgrader["points"])
            reason = self._judge(cell, gid, checks.get(gid), state, seen.get(gid, []), assignment)
            results[gid] = (points if reason is None else 0.0, reason)
            cell.outputs = [_scrubbed(o) for o in cell.outputs if not _is_answer(o) and
                            o.get("output_type") != "execute_result"]
            cell.outputs.append(_verdict_output(points, reason))
        return nb, resources

    def _judge(self, cell: NotebookNode, gid: str, check: Any, state: dict, where: list[str],
               assignment: str) -> str | None:
        if check is None:
            return "no grader-side check is registered for this cell"
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            first = errors[0]
            if first.get("ename") in ("CellTimeoutError", "KernelDied", "Skipped"):
                return first.get("evalue") or first.get("ename")
            return f"this test cell stopped with {first.get('ename')}: {first.get('evalue', '')}"[:500]
        if where.count(gid) != 1 or len(where) != 1:
            return ("no answers reached the grader from this cell" if not where else
                    f"the grader got {len(where)} answer messages for this cell (one expected, from the cell itself)")
        message = next(m for m in answers_in(cell.outputs) if m.get("grade_id") == gid)
        try:
            answers = [from_plain(a) for a in message["answers"]]
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            return f"the answers could not be read ({type(exc).__name__})"
        window = tuple(state["windows"][gid]) if gid in state["windows"] else None
        record = state.get("record")
        if record is not None and window is not None:
            record = record.window(*window)  # the check sees what the cluster ran during its own cell
        ctx = CheckContext(assignment, gid, state["cases"].get(gid, []), answers, record, window)
        return check.judge(ctx)


def _is_answer(output: dict) -> bool:
    return MIMETYPE in output.get("data", {})


def _scrubbed(output: NotebookNode) -> NotebookNode:
    # A traceback quotes the lines it passed through, hidden test lines included: keep only the error itself.
    if output.get("output_type") == "error":
        output.traceback = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return output


def _verdict_output(points: float, reason: str | None) -> NotebookNode:
    if reason is None:
        return NotebookNode(output_type="stream", name="stdout",
                            text=f"Grader: passed ({points:g} point{'s' if points != 1 else ''}).\n")
    return NotebookNode(output_type="error", ename="GraderCheckFailed", evalue=reason,
                        traceback=[f"GraderCheckFailed: {reason}"])


class SaveGraderScores(SaveAutoGrades):
    """nbgrader's SaveAutoGrades with the grader's verdicts as the scores of graded code cells."""

    def _add_score(self, cell: NotebookNode, resources: ResourcesDict) -> None:
        if cell.cell_type != "code" or utils.is_solution(cell):
            return super()._add_score(cell, resources)  # written answers: nbgrader's rule (manual grading)
        gid = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(gid, self.notebook_id, self.assignment_id, self.student_id)
        score, _reason = verdicts(resources).get(gid, (0.0, "not checked"))
        grade.auto_score = score
        grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()


class QuietOverwriteCells(OverwriteCells):
    """OverwriteCells that reports a locked cell only when it differs from what the student was given."""

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
                        ) -> tuple[NotebookNode, ResourcesDict]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except Exception:  # unknown cell: nbgrader's own handling below
                source = None
            if source is not None and source.cell_type == cell.cell_type and _released(source.source) == cell.source:
                cell.source = source.source  # the student's copy, untouched: restore the hidden tests silently
        return super().preprocess_cell(cell, resources, cell_index)


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, for the feedback: the hidden test regions removed from the HTML.

    nbconvert's HTML exporter configures ``display_data_priority`` of every preprocessor; nbgrader's base class
    does not take it as an option, so ClearHiddenTests itself warned on every ``generate_feedback``.
    """

    display_data_priority = List(["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png",
                                  "image/jpeg", "text/plain"],
                                 help="Output types in order of preference (set by nbconvert's exporter)."
                                 ).tag(config=True)


def _released(source: str) -> str:
    """The source a student got for an instructor's cell: the hidden test region removed, as nbgrader does."""
    stripper = ClearHiddenTests()
    cell = NotebookNode(cell_type="code", source=source, metadata={})
    stripper._remove_hidden_test_region(cell)
    return cell.source
