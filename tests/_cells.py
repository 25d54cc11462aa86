"""Which cells of a notebook a few target cells need: the smallest prefix-ordered set that defines what they use.

A test that checks one part of a notebook (its widget in a browser, its exercises with the worked solutions
loaded) need not run the whole notebook again when another test already ran it top to bottom. It runs the
target cells and the earlier cells that bind the names they use, transitively, read from the code (Python's
``ast``, after IPython turns magics into calls). It errs on the side of running more:

* a cell that changes a name in place (``x.attr = ...``, ``x[i] = ...``, ``x += ...``, ``x.method(...)`` as a
  statement) counts as defining it, and it needs the earlier definition too;
* a name read anywhere in a cell before the cell binds it, even inside a function it defines, is needed;
* cells with effects no name shows are always kept: the cluster's start (``start_cluster(``), line magics
  such as ``%matplotlib inline``, and the setup cell (the first code cell).

Used by ``tests/test_browser.py`` and ``tests/test_exercises_training.py``.
"""

from __future__ import annotations

import ast
import builtins
import re

__all__ = ["bindings", "needed_cells"]

_BUILTINS = set(dir(builtins))
_LINE_MAGIC = re.compile(r"^\s*%(?!%?load\b)", re.M)


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _stored_names(target: ast.AST) -> tuple[set[str], set[str]]:
    """(names bound, names changed in place) by an assignment target."""
    bound, changed = set(), set()
    if isinstance(target, ast.Name):
        bound.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            b, c = _stored_names(elt)
            bound |= b
            changed |= c
    elif isinstance(target, ast.Starred):
        return _stored_names(target.value)
    elif isinstance(target, (ast.Attribute, ast.Subscript)):
        base = target.value
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if isinstance(base, ast.Name):
            changed.add(base.id)
    return bound, changed


def _scope_locals(node: ast.AST) -> set[str]:
    """Names local to the function, lambda and comprehension scopes inside ``node`` (not the notebook's)."""
    local: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = sub.args
            local |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
            for inner in ast.walk(sub):
                if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                    local.add(inner.id)
        elif isinstance(sub, ast.comprehension):
            local |= {n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name)}
    return local


def _top_level(node: ast.AST):
    """``node`` and the nodes under it that run at the notebook's top level (not in a def, class or lambda)."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.comprehension):
            yield from _top_level(child)


def bindings(source: str) -> tuple[set[str], set[str], set[str]]:
    """``(bound, changed, used)`` names of one code cell at the notebook's top level.

    ``bound``: names the cell (re)binds; ``changed``: names it changes in place (it reads them too);
    ``used``: names it reads before binding them itself (builtins left out).
    """
    tree = ast.parse(_python(source))
    bound: set[str] = set()
    changed: set[str] = set()
    used: set[str] = set()
    for statement in tree.body:
        now_bound: set[str] = set()
        now_changed: set[str] = set()
        for sub in _top_level(statement):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                now_bound.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                for alias in sub.names:
                    if alias.name != "*":
                        now_bound.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(sub, (ast.Assign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.AugAssign)):
                for target in getattr(sub, "targets", None) or [sub.target]:
                    b, c = _stored_names(target)
                    if isinstance(sub, ast.AugAssign):
                        b, c = set(), b | c
                    now_bound |= b
                    now_changed |= c
            elif isinstance(sub, ast.NamedExpr):
                now_bound.add(sub.target.id)
            elif isinstance(sub, (ast.With, ast.AsyncWith)):
                for item in sub.items:
                    if item.optional_vars is not None:
                        b, c = _stored_names(item.optional_vars)
                        now_bound |= b
                        now_changed |= c
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                now_bound.add(sub.name)
            elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call) \
                    and isinstance(sub.value.func, ast.Attribute):
                base = sub.value.func  # x.method(...) as a statement: may change x in place
                while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
                    base = base.func if isinstance(base, ast.Call) else base.value
                if isinstance(base, ast.Name):
                    now_changed.add(base.id)
        loads = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):  # recursion reads the function itself
            loads.discard(statement.name)
        used |= ((loads - _scope_locals(statement)) | now_changed) - bound
        bound |= now_bound
        changed |= now_changed
    return bound, changed, used - _BUILTINS


def _always(source: str) -> bool:
    """A line magic (``%load`` aside) or a call of ``start_cluster``: effects no name shows."""
    if _LINE_MAGIC.search(source):
        return True
    return any(isinstance(n, ast.Call) and "start_cluster" in (getattr(n.func, "attr", None), getattr(n.func, "id", None))
               for n in ast.walk(ast.parse(_python(source))))


def needed_cells(sources: list[str | None], targets: list[int]) -> list[int]:
    """Indices of the code cells to run, in notebook order, so that the ``targets`` run as in a full run.

    ``sources[i]`` is cell ``i``'s code, or None for a markdown cell.
    """
    code = [i for i, s in enumerate(sources) if s is not None]
    if not code:
        return []
    keep = set(targets) | {code[0]} | {i for i in code if _always(sources[i])}
    last = max(keep)
    needed: set[str] = set()
    for i in reversed([i for i in code if i <= last]):
        bound, changed, used = bindings(sources[i])
        if i not in keep and not (needed & (bound | changed)):
            continue
        keep.add(i)
        needed = (needed - bound) | used
    return sorted(keep)
