""""Write it yourself", checked on the grader's side: a static analysis of the notebook's source.

The learner's code runs in the worker, where it could switch off any run-time check; its
*source* is read here, in the grader's process, where it cannot reach (the source model,
bindings and flows of values, is ``course_grader.source_model``). For each task
:func:`check_tasks` answers None (nothing found) or a message, by two rules:

1. **Written in the notebook.** Each function a task names must be bound only by ``def``
   (or ``lambda``) in the notebook, possibly through a plain alias of such a function;
   ``from course_lib.attention import causal_mask`` or ``softmax = torch.softmax`` fail.
2. **No forbidden function, under any name** (tasks with a ``forbid`` spec only). From the
   task's functions, everything they can reach is followed: the module-level names they
   use (functions, classes, assignments, imports, defaults, decorators, ``global``
   rebindings inside functions) and every statement that may put a value into a name they
   read (``_h.append(f)``, ``fill(_h)``, ``y = _h; y.append(f)``, ``get().append(f)`` where
   ``get`` returns ``_h``), transitively. In that
   code, a forbidden name fails the task wherever it appears: an attribute (``x.softmax``,
   ``torch._softmax``), an imported name (``from torch.nn.functional import softmax as s``),
   a name a module-level alias points to (``_sm = torch.softmax`` then ``_sm(x)``), a module
   (``reference.greedy_decode`` where ``reference`` is ``course_lib.generation``, or any use
   of ``reference`` at all), or an identifier-like string (``getattr(torch, "softmax")``).
   Names are compared in lower case without underscores, against the task's patterns.

   And because Python can fetch anything dynamically, a task that forbids functions also
   fails when the notebook, *anywhere*, uses a way around a static check: ``eval``,
   ``exec``, ``compile``, ``__import__``, ``getattr`` with a computed or private name,
   ``setattr``, ``globals()``, ``vars()``, dunder attributes other than a few harmless ones
   (``__dict__``, ``__self__``, ``__globals__``...), frames and code objects, ``sys.modules``
   and ``sys``'s other state, ``importlib``, ``inspect``, ``gc``, ``ctypes``, ``pickle``,
   modules that run or resolve code given as text (``timeit``, ``pydoc``, ``doctest``,
   ``torch.jit``, ``sympy``, ``yaml``...), subprocesses and threads, private names of a
   library (``torch._C``, ``torch.utils._mode_utils``), torch's dispatch machinery
   (``torch.ops``, ``__torch_function__``), assigning to a library's attributes
   (monkey-patching), IPython magics other than ``%matplotlib``, IPython's output history
   (``Out``, ``_3``), ``__future__`` imports that change the syntax, a cell the grader
   cannot parse, or an import of a module that is neither Python's nor installed.

The messages name the line and the cell. False alarms are possible in principle (a method
of the learner's own class called ``softmax``); each says exactly what to change.
"""
from __future__ import annotations

import ast
import fnmatch
import functools
import re
import sys
from typing import Sequence

from course_grader.source_model import Binding, Cell, Program, chain, docstrings, in_modules, parse_cells, qualified, \
    scoped_names, where

__all__ = ["Cell", "check_tasks", "parse_cells", "ESCAPE_NAMES", "ESCAPE_ATTRIBUTES", "ESCAPE_MODULES"]

ESCAPE_NAMES = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr",
                "breakpoint", "__builtins__", "__loader__", "__spec__", "attrgetter", "methodcaller"}
ESCAPE_ATTRIBUTES = {"f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame",
                     "tb_frame", "tb_next", "_getframe", "_current_frames", "attrgetter", "methodcaller", "run_cell",
                     "run_cell_magic", "user_ns", "system", "getoutput", "ev", "ex", "run_code", "safe_execfile",
                     "settrace", "setprofile", "meta_path", "path_hooks", "unsafe_load", "full_load", "sympify",
                     "parse_expr"}
_ESCAPE_ATTRIBUTE_PATTERNS = re.compile(r"exec|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|fork|forkpty|popen\d?|"
                                        r".*subprocess.*|.*pickle.*")
# dunder attributes honest code uses; every other dunder (__dict__, __self__, __globals__, __class__.__base__...) is
# a way to reach what a static check cannot see
SAFE_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__module__", "__version__", "__call__", "__len__",
                "__iter__", "__next__", "__enter__", "__exit__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__",
                "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__contains__", "__getitem__", "__setitem__",
                "__delitem__", "__add__", "__sub__", "__mul__", "__matmul__", "__truediv__", "__floordiv__",
                "__mod__", "__pow__", "__neg__", "__pos__", "__abs__", "__radd__", "__rsub__", "__rmul__",
                "__rtruediv__", "__float__", "__int__", "__index__", "__array__", "__post_init__", "__annotations__",
                "__file__", "__main__", "__slots__", "__class__", "__all__", "__format__", "__reversed__",
                "__missing__", "__iadd__", "__isub__", "__imul__", "__and__", "__or__", "__xor__", "__invert__",
                "__round__", "__complex__", "__rpow__", "__rmatmul__", "__rfloordiv__", "__rmod__"}
ESCAPE_MODULES = {"importlib", "builtins", "inspect", "gc", "ctypes", "cffi", "marshal", "pickle", "_pickle", "dill",
                  "cloudpickle", "copyreg", "shelve", "dbm", "runpy", "code", "codeop", "subprocess",
                  "multiprocessing", "concurrent", "threading", "_thread", "pty", "site", "zipimport", "pkgutil",
                  "imp", "types", "timeit", "doctest", "pdb", "bdb", "cProfile", "profile", "trace", "pydoc",
                  "unittest", "logging.config", "_operator", "operator.attrgetter", "operator.methodcaller", "sympy",
                  "yaml", "torch._C", "torch.ops", "torch.overrides", "torch.library", "torch._dynamo", "torch.jit",
                  "torch.compile", "torch.export", "torch.package", "torch.hub", "torch.multiprocessing",
                  "torch.utils.cpp_extension", "torch.utils._python_dispatch", "torch._refs", "torch._decomp",
                  "torch._prims", "torch._ops", "torch.fx", "course_worker", "course_grader", "IPython", "ipykernel",
                  "posix", "nt", "sys.modules", "sys.path", "sys._getframe", "sys.last_value", "sys.last_exc",
                  "sys.last_traceback", "sys.last_type", "sys.displayhook", "sys.excepthook", "sys.addaudithook",
                  "sys.settrace", "sys.setprofile", "sys.meta_path", "sys.path_hooks"}
_STAR_ESCAPES = {"sys", "os", "operator", "functools"}  # `from sys import *` hands out modules, path, ...
_FUTURE_OK = {"annotations", "division", "absolute_import", "print_function", "unicode_literals", "generator_stop",
              "nested_scopes", "generators", "with_statement"}
_IPYTHON_HISTORY = re.compile(r"(Out|In|_oh|_ih|_dh|_+|_i+|_i?\d+)$")  # previous cells' values and sources
_RISKY_KEYWORDS = {("weights_only", False), ("allow_pickle", True), ("trust_remote_code", True)}
_ALLOWED_MAGICS = {"matplotlib"}


def _normal(name: str) -> str:
    return name.replace("_", "").casefold()


def _matches(name: str, patterns: Sequence[str]) -> bool:
    n = _normal(name)
    return bool(n) and any(fnmatch.fnmatchcase(n, _normal(p)) for p in patterns)


# ----------------------------------------------------------------------------- rule 1: written here


def _written_here(program: Program, name: str) -> str | None:
    """None when ``name`` is bound only by def/lambda (or plain aliases of them); else why not."""
    todo, seen = [name], {name}
    while todo:
        current = todo.pop()
        for b in program.bindings.get(current, []):
            if b.kind == "import":
                return (f"{name} is imported ({b.qualified.lstrip('.')}, {where(program, b.node)}), not written in "
                        "the notebook; write the function yourself with def")
            if b.kind == "assign":
                value = getattr(b.node, "value", None)
                if not (isinstance(b.node, ast.Assign) and isinstance(value, ast.Name) and value.id in program.bindings):
                    return (f"{name} is assigned ({where(program, b.node)}) rather than defined with def in the "
                            "notebook; write the function yourself with def")
                if value.id not in seen:
                    seen.add(value.id)
                    todo.append(value.id)
    return None


# ----------------------------------------------------------------------------- rule 2: forbidden names


def _shown(node: ast.Attribute) -> str:
    c = chain(node)
    return ".".join([c[0], *c[1]]) if c else "." + node.attr


def _module_parts(modules: Sequence[str]) -> set[str]:
    """The components of forbidden modules past the package (``generation`` of ``course_lib.generation``)."""
    return {part for m in modules for part in m.split(".")[1:]}


def _forbidden_in(program: Program, roots: list[Binding], names: Sequence[str], modules: Sequence[str]) -> str | None:
    """The first use of a forbidden name in the code reachable from ``roots``, described; else None."""
    seen: set[tuple[int, bool]] = set()  # a def read as a flow (it fills a global) is read again: its callers count
    todo = list(roots)
    docs = docstrings(program)
    parts = _module_parts(modules)
    queued: set[tuple[str, str]] = set()  # (table, name): each name's statements are queued once, however often read

    def queue(table: str, name: str) -> None:
        if (table, name) not in queued:
            queued.add((table, name))
            todo.extend(getattr(program, table).get(name, []))

    while todo:
        b = todo.pop()
        if (id(b.node), b.kind == "flow") in seen:
            continue
        seen.add((id(b.node), b.kind == "flow"))
        if b.kind == "import":
            q = b.qualified.lstrip(".")
            if in_modules(q, modules) or in_modules(b.imported.lstrip("."), modules) or \
                    _matches(q.rsplit(".", 1)[-1], names):
                return f"{where(program, b.node)} imports {b.imported.lstrip('.') or q}"
            continue
        for node, local in scoped_names(b.node):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and node.id not in local:
                queue("flows", node.id)  # y = _h: what is done to y is done to _h
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and b.kind == "flow":
                queue("calls", node.name)  # it fills or hands out a global: fill(f), get().append(f)
            elif isinstance(node, ast.Name):
                if node.id in local:
                    continue
                if node.id in program.bindings:
                    queue("bindings", node.id)
                    queue("flows", node.id)
                elif _matches(node.id, names):
                    return f"{where(program, node)} uses {node.id}"
                elif program.star_imports and not _is_builtin(node.id):
                    return (f"{where(program, node)} uses {node.id}, which may come from `from "
                            f"{program.star_imports[0][0]} import *`; import names one by one")
            elif isinstance(node, ast.Attribute):
                if _matches(node.attr, names) or node.attr in parts:
                    return f"{where(program, node)} uses {_shown(node)}"
                for q in qualified(program, node):
                    if in_modules(q, modules):
                        return f"{where(program, node)} uses {q}"
                c = chain(node)
                if c and c[0] not in local:  # a function used as a namespace: what was handed to it counts
                    queue("arg_flows", c[0])
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = getattr(node, "module", None) or ""
                for alias in node.names:
                    q = f"{module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
                    if in_modules(q, modules) or _matches(alias.name.rsplit(".", 1)[-1], names):
                        return f"{where(program, node)} imports {q}"
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                text = node.value.strip()
                if text.replace(".", "").isidentifier() and (_matches(text.rsplit(".", 1)[-1], names) or
                                                             in_modules(text, modules) or text in parts):
                    return f"{where(program, node)} names {text!r} in a string"
    return None


@functools.lru_cache(maxsize=None)
def _known_modules() -> frozenset:
    names = set(sys.stdlib_module_names) | set(sys.builtin_module_names) | {"course_lib"}
    try:
        from importlib.metadata import packages_distributions

        names |= set(packages_distributions())
    except Exception:  # pragma: no cover
        pass
    return frozenset(names)


def _is_builtin(name: str) -> bool:
    import builtins

    return hasattr(builtins, name) or name in ("get_ipython", "display", "In", "Out", "exit", "quit")


def _constant(node: ast.AST) -> bool:
    """A literal (a number, a string, a tuple of them): harmless to store in a library's settings."""
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False


def _bad_attribute(name: str) -> bool:
    """An attribute name that reaches what a static check cannot see (used or fetched with getattr)."""
    if name.startswith("__") and name.endswith("__"):
        return name not in SAFE_DUNDERS
    return name in ESCAPE_ATTRIBUTES or bool(_ESCAPE_ATTRIBUTE_PATTERNS.fullmatch(name))


def _private(dotted: str) -> bool:
    """A library name with a private part (``torch._C``, ``torch.utils._mode_utils``)."""
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split(".")[1:])


def _escape_in_node(program: Program, node: ast.AST, parent: dict, local: frozenset = frozenset()) -> str | None:
    """Why ``node`` is a way around the check, or None (``parent``: id of a node -> its parent; ``local``: the
    names local to the function around it)."""
    up = parent.get(id(node))
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id in ESCAPE_NAMES:
            return f"uses {node.id}"
        if node.id == "getattr":
            name = up.args[1].value if isinstance(up, ast.Call) and up.func is node and len(up.args) >= 2 and \
                isinstance(up.args[1], ast.Constant) and isinstance(up.args[1].value, str) else None
            if name is None:
                return "uses getattr with a computed name"
            if _bad_attribute(name) or name.startswith("_"):
                return f"uses getattr(..., {name!r})"
        if node.id == "get_ipython":  # only get_ipython().run_line_magic("matplotlib", ...)
            attr = parent.get(id(up)) if isinstance(up, ast.Call) else None
            magic = parent.get(id(attr)) if isinstance(attr, ast.Attribute) else None
            if not (isinstance(attr, ast.Attribute) and attr.attr == "run_line_magic" and isinstance(magic, ast.Call)
                    and magic.args and isinstance(magic.args[0], ast.Constant)
                    and magic.args[0].value in _ALLOWED_MAGICS):
                return "uses IPython's shell (a magic, a shell command or get_ipython())"
        if _IPYTHON_HISTORY.match(node.id) and node.id not in program.bindings and node.id not in local:
            return f"uses {node.id}, IPython's record of earlier cells (Out, _, _3...); name your values instead"
    if isinstance(node, ast.Attribute) and _bad_attribute(node.attr):
        return f"uses .{node.attr}"
    if isinstance(node, ast.Attribute):
        for q in qualified(program, node):
            if in_modules(q, ESCAPE_MODULES) or _private(q):
                return f"uses {q}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("__") and \
            node.value.endswith("__") and node.value.isidentifier() and _bad_attribute(node.value):
        return f"names {node.value} in a string"
    if isinstance(node, ast.keyword) and (node.arg, getattr(node.value, "value", None)) in _RISKY_KEYWORDS and \
            isinstance(node.value, ast.Constant):
        return f"passes {node.arg}={node.value.value} (it runs code stored in a file)"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if isinstance(node, ast.ImportFrom) and node.level:
            return "imports a module relative to itself"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            bad = [a.name for a in node.names if a.name not in _FUTURE_OK]
            return f"imports {', '.join(bad)} from __future__ (it changes how later cells are read)" if bad else None
        found = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if isinstance(node, ast.ImportFrom):
            found += [f"{node.module}.{a.name}" for a in node.names]
            if any(a.name == "*" for a in node.names) and (node.module or "").split(".")[0] in _STAR_ESCAPES:
                return f"imports * from {node.module}"
            if any(_bad_attribute(a.name) for a in node.names):
                return f"imports {', '.join(a.name for a in node.names if _bad_attribute(a.name))} from {node.module}"
        for m in found:
            if m.startswith("IPython.display"):
                continue
            if in_modules(m, ESCAPE_MODULES) or _private(m):
                return f"imports {m}"
            if m.split(".")[0] not in _known_modules():
                return f"imports {m}, which is neither part of Python nor installed in the course's environment"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        value = getattr(node, "value", None)
        for t in node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]:
            base = t.value if isinstance(t, (ast.Attribute, ast.Subscript)) else None
            if base is not None and qualified(program, base) and not (value is not None and _constant(value)):
                return f"changes an attribute of a library ({_shown(t) if isinstance(t, ast.Attribute) else 'an item'})"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _bad_attribute(node.name) and \
            node.name not in ("__init__", "__call__", "__repr__"):
        return f"defines {node.name}"
    return None


def _escape(program: Program) -> str | None:
    """The first way around a static check anywhere in the notebook, described; else None."""
    if program.unreadable:
        return (f"{program.unreadable[0]} is nested too deeply for the grader to read it (the notebook can run it by "
                "raising Python's limits)")
    for label, tree in program.trees:
        parent = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        local = {id(node): names for node, names in scoped_names(tree)}
        for node in ast.walk(tree):  # in ast.walk's order, so the first way found is the same from run to run
            why = _escape_in_node(program, node, parent, local.get(id(node), frozenset()))
            if why:
                return f"{where(program, node)} {why}"
    return None


# ----------------------------------------------------------------------------- per task


def check_tasks(cells: Sequence[Cell], tasks: Sequence) -> dict[str, str | None]:
    """``{task id: None or why the task fails}`` for tasks with ``.id``, ``.functions`` and ``.forbid``.

    ``forbid`` is None or has ``.names`` (patterns), ``.modules`` (dotted names) and ``.reason``.
    """
    program = parse_cells(cells)
    escape = None
    out: dict[str, str | None] = {}
    for task in tasks:
        why = None
        for name in task.functions:
            why = why or _written_here(program, name)
        forbid = getattr(task, "forbid", None)
        if why is None and forbid is not None:
            roots = [b for name in task.functions for b in program.bindings.get(name, [])]
            found = _forbidden_in(program, roots, forbid.names, forbid.modules)
            if found:
                why = f"{forbid.reason}: {found}"
            else:
                escape = escape if escape is not None else (_escape(program) or "")
                if escape:
                    why = (f"{forbid.reason}, and the grader cannot check that it is when the notebook uses a way around "
                           f"its checks: {escape}; remove it")
        out[task.id] = why
    return out
