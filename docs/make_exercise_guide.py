"""Write the instructors' table of exercises from the exercise registry.

Each exercise's misconception, kind and notebook are declared once, where the
exercise is registered (``plsim/exercises/<topic>.py``); this script renders them
into ``docs/instructors.md`` between the ``exercises`` markers, and
``tests/test_docs_exercises.py`` fails when the guide and the registry differ.

    python docs/make_exercise_guide.py
"""

from __future__ import annotations

from pathlib import Path

from plsim.exercises import registered

GUIDE = Path(__file__).with_name("instructors.md")
START, END = "<!-- exercises:start -->", "<!-- exercises:end -->"
KINDS = {"answer": "answer", "predict": "predict → run → explain", "code": "writes Dask code"}


def exercise_table() -> str:
    rows = ["| notebook | exercise | kind | the misconception it targets |", "|---|---|---|---|"]
    for ex in sorted(registered().values(), key=lambda e: (e.notebook, e.name)):
        cell = ex.misconception.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{ex.notebook}` | `{ex.name}` | {KINDS[ex.kind]} | {cell} |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{exercise_table()}\n{END}{tail}"


if __name__ == "__main__":
    GUIDE.write_text(render(GUIDE.read_text()))
    print(f"wrote {GUIDE} ({len(registered())} exercises)")
