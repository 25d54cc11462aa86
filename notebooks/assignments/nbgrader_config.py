"""nbgrader course configuration for plsim's assignments (this folder is the course directory).

Run nbgrader's commands from this folder, e.g. ``nbgrader generate_assignment a2 --force``;
see ``docs/instructors.md``. Layout (nbgrader's standard one)::

    source/<assignment>/<notebook>.ipynb      instructor copies: solutions, hidden tests (committed)
    release/<assignment>/<notebook>.ipynb     student copies, made by `nbgrader generate_assignment` (committed)
    submitted/<student>/<assignment>/         collected submissions      (made at grading time, not committed)
    autograded/<student>/<assignment>/        executed and scored copies (made at grading time, not committed)
    feedback/<student>/<assignment>/*.html    per-student feedback       (made at grading time, not committed)
    logs/<assignment>/<student>.log           `plsim assign grade`'s log per submission (not committed)
    gradebook.db                              nbgrader's gradebook (sqlite; not committed)

Autograding is nbgrader's, with three steps replaced by plsim.grading (the guide's "What grading holds up
against"): each submission runs in a sandbox (a throw-away folder outside this course, its own unprivileged
user ids, resource limits, every process it started killed afterwards), and a graded test cell scores by the
grader's own check of the answers the kernel sent out, never by the absence of an error in the cell.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                    IgnorePattern, LimitOutput, OverwriteKernelspec)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

from plsim.grading.execute import SandboxedExecute
from plsim.grading.scoring import GraderChecks, HideHiddenTests, QuietOverwriteCells, SaveGraderScores

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "plsim"

# Sanitize as nbgrader does; restoring the instructor's locked cells only warns about real edits.
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, QuietOverwriteCells,
                                      CheckCellMetadata]
# Run in the sandbox, then score by the grader's checks instead of nbgrader's "no error in the cell".
c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       GraderChecks, SaveGraderScores, AssignLatePenalties, CheckCellMetadata]
# Feedback shows the visible tests and the grader's verdicts, never the hidden tests' source.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# Every solution cell runs in a few seconds on 2 CPUs; a cell that takes longer than this is stuck (an endless
# loop): it is interrupted (killed, with a fresh kernel replaying the cells before it, if it ignores the
# interrupt), its question earns nothing, and grading goes on with the next question.
c.SandboxedExecute.timeout = 30

# What a student sees where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
