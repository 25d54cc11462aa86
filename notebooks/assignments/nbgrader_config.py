"""nbgrader course configuration for plsim's assignments (this folder is the course directory).

Run nbgrader's commands from this folder, e.g. ``nbgrader generate_assignment a2 --force``;
see ``docs/instructors.md``. Layout (nbgrader's standard one)::

    source/<assignment>/<notebook>.ipynb      instructor copies: solutions, hidden tests (committed)
    release/<assignment>/<notebook>.ipynb     student copies, made by `nbgrader generate_assignment` (committed)
    submitted/<student>/<assignment>/         collected submissions      (made at grading time, not committed)
    autograded/<student>/<assignment>/        executed and scored copies (made at grading time, not committed)
    feedback/<student>/<assignment>/*.html    per-student feedback       (made at grading time, not committed)
    gradebook.db                              nbgrader's gradebook (sqlite; not committed)
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "plsim"
c.CourseDirectory.db_assignments = [{"name": "a1"}, {"name": "a2"}, {"name": "a3"}]

# Every solution copy runs in well under a minute on 2 CPUs; a cell that takes longer than this is stuck
# (an endless loop): it is interrupted, its tests earn nothing, and grading goes on with the next cell.
c.Execute.timeout = 120

# What a student sees where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
