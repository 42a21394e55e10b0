""""Write it yourself", checked on the grader's side: a static analysis of the notebook's source.

The learner's code runs in the worker, where it could switch off any run-time check; its
*source* is read here, in the grader's process, where it cannot reach. For each task
:func:`check_tasks` answers None (nothing found) or a message, by two rules:

1. **Written in the notebook.** Each function a task names must be bound only by ``def``
   (or ``lambda``) in the notebook, possibly through a plain alias of such a function;
   ``from course_lib.attention import causal_mask`` or ``softmax = torch.softmax`` fail.
2. **No forbidden function, under any name** (tasks with a ``forbid`` spec only). From the
   task's functions, everything they can reach is followed: the module-level names they
   use (functions, classes, assignments, imports, defaults, decorators, ``global``
   rebindings inside functions), transitively. In that code, a forbidden name fails the
   task wherever it appears: an attribute (``x.softmax``, ``torch._softmax``), an imported
   name (``from torch.nn.functional import softmax as s``), a name a module-level alias
   points to (``_sm = torch.softmax`` then ``_sm(x)``), a module (``reference.greedy_decode``
   where ``reference`` is ``course_lib.generation``), or an identifier-like string
   (``getattr(torch, "softmax")``). Names are compared in lower case without underscores,
   against the task's patterns (``"*softmax*"``).

   And because Python can fetch anything dynamically, a task that forbids functions also
   fails when the notebook, *anywhere*, uses a way around a static check: ``eval``,
   ``exec``, ``compile``, ``__import__``, ``getattr`` with a computed name, ``setattr``,
   ``globals()``, ``vars()``, ``__dict__``, frames and code objects, ``sys.modules``,
   ``importlib``, ``inspect``, ``gc``, ``ctypes``, ``pickle``, subprocesses, torch's
   private and dispatch machinery (``torch._C``, ``torch.ops``, ``__torch_function__``),
   assigning to a library's attributes (monkey-patching), IPython magics other than
   ``%matplotlib``, or an import of a module that is neither Python's nor installed (a
   file the notebook wrote).

The messages name the line and the cell. False alarms are possible in principle (a method
of the learner's own class called ``softmax``); each says exactly what to change.
"""
from __future__ import annotations

import ast
import fnmatch
import functools
import sys
from dataclasses import dataclass, field
from typing import Iterable, Sequence

__all__ = ["Cell", "check_tasks", "parse_cells", "ESCAPE_NAMES", "ESCAPE_ATTRIBUTES", "ESCAPE_MODULES"]

ESCAPE_NAMES = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr",
                "breakpoint", "__builtins__", "__loader__", "__spec__"}
ESCAPE_ATTRIBUTES = {"__dict__", "__getattribute__", "__getattr__", "__setattr__", "__delattr__", "__globals__",
                     "__code__", "__closure__", "__builtins__", "__subclasses__", "__bases__", "__mro__",
                     "__wrapped__", "__loader__", "__spec__", "__import__", "__torch_function__",
                     "__torch_dispatch__", "__reduce__", "__reduce_ex__", "f_globals", "f_locals", "f_back",
                     "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame", "tb_next", "_getframe",
                     "_current_frames", "attrgetter", "methodcaller", "run_cell", "run_cell_magic", "user_ns",
                     "system", "popen", "getoutput", "ev", "ex", "run_code", "safe_execfile", "execv", "execve", "execl", "execlp", "execvp", "spawnv", "spawnl",
                     "posix_spawn", "fork", "forkpty", "settrace", "setprofile", "meta_path", "path_hooks"}
ESCAPE_MODULES = {"importlib", "builtins", "inspect", "gc", "ctypes", "cffi", "marshal", "pickle", "_pickle", "dill",
                  "cloudpickle", "copyreg", "runpy", "code", "codeop", "subprocess", "multiprocessing", "concurrent",
                  "pty", "site", "zipimport", "pkgutil", "imp", "types", "torch._C", "torch.ops", "torch.overrides",
                  "torch.library", "torch._dynamo", "torch.utils._python_dispatch", "torch._refs", "torch._decomp",
                  "torch._prims", "torch._ops", "torch.fx", "course_worker", "course_grader", "IPython", "ipykernel",
                  "posix", "nt"}
_ESCAPE_QUALIFIED = {"sys.modules", "sys.path"}
_ALLOWED_MAGICS = {"matplotlib"}


@dataclass
class Cell:
    """A code cell the grader will run: its label for messages (``"code cell 3"``) and its source."""

    label: str
    source: str


@dataclass
class _Binding:
    kind: str  # "def", "class", "import", "assign", "lambda"
    node: ast.AST
    cell: str
    qualified: str = ""  # for imports: the dotted name bound ("torch.nn.functional.softmax")


@dataclass
class _Program:
    trees: list[tuple[str, ast.Module]]
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    star_imports: list[tuple[str, str]] = field(default_factory=list)  # (module, cell)
    cell_of: dict[int, str] = field(default_factory=dict)  # id(node) -> cell label


def _normal(name: str) -> str:
    return name.replace("_", "").casefold()


def _matches(name: str, patterns: Sequence[str]) -> bool:
    n = _normal(name)
    return bool(n) and any(fnmatch.fnmatchcase(n, _normal(p)) for p in patterns)


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or confused: parse the source as it is
        return source


def parse_cells(cells: Sequence[Cell]) -> _Program:
    """Parse every cell (magics turned into Python as IPython does); cells that do not parse are skipped."""
    trees = []
    for cell in cells:
        try:
            trees.append((cell.label, ast.parse(_transform(cell.source))))
        except (SyntaxError, ValueError, RecursionError):
            continue
    program = _Program(trees)
    for label, tree in trees:
        for node in ast.walk(tree):
            program.cell_of[id(node)] = label
        _collect_bindings(tree, label, program)
    return program


def _bind(program: _Program, name: str, binding: _Binding) -> None:
    program.bindings.setdefault(name, []).append(binding)


def _target_names(target: ast.AST) -> Iterable[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id


def _collect_bindings(tree: ast.Module, label: str, program: _Program) -> None:
    def module_level(stmts):
        for stmt in stmts:
            visit(stmt)

    def visit(stmt):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _bind(program, stmt.name, _Binding("def", stmt, label))
        elif isinstance(stmt, ast.ClassDef):
            _bind(program, stmt.name, _Binding("class", stmt, label))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    _bind(program, alias.asname, _Binding("import", stmt, label, alias.name))
                else:
                    _bind(program, alias.name.split(".")[0], _Binding("import", stmt, label, alias.name.split(".")[0]))
        elif isinstance(stmt, ast.ImportFrom):
            module = ("." * stmt.level) + (stmt.module or "")
            for alias in stmt.names:
                if alias.name == "*":
                    program.star_imports.append((module, label))
                else:
                    _bind(program, alias.asname or alias.name, _Binding("import", stmt, label, f"{module}.{alias.name}"))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            kind = "lambda" if isinstance(getattr(stmt, "value", None), ast.Lambda) else "assign"
            for t in targets:
                for name in _target_names(t):
                    _bind(program, name, _Binding(kind, stmt, label))
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            for name in _target_names(stmt.target):
                _bind(program, name, _Binding("assign", stmt, label))
            module_level(stmt.body + stmt.orelse)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    for name in _target_names(item.optional_vars):
                        _bind(program, name, _Binding("assign", stmt, label))
            module_level(stmt.body)
        elif isinstance(stmt, (ast.If, ast.While)):
            module_level(stmt.body + stmt.orelse)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            module_level(stmt.body + stmt.orelse + stmt.finalbody)
            for handler in stmt.handlers:
                if handler.name:
                    _bind(program, handler.name, _Binding("assign", handler, label))
                module_level(handler.body)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                module_level(case.body)
        for node in ast.walk(stmt):  # walrus anywhere at module level binds a module-level name
            if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name) and not _inside_scope(stmt, node):
                _bind(program, node.target.id, _Binding("assign", node, label))

    module_level(tree.body)
    for node in ast.walk(tree):  # `global x` inside a function: its assignments to x are module-level bindings
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    for t in targets:
                        for name in _target_names(t):
                            if name in names:
                                _bind(program, name, _Binding("assign", inner, label))


def _inside_scope(stmt: ast.AST, node: ast.AST) -> bool:
    """Whether ``node`` lies inside a function, lambda or class nested in ``stmt`` (its own scope)."""
    for scope in ast.walk(stmt):
        if scope is not stmt and isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            if any(n is node for n in ast.walk(scope)):
                return True
    return False


# ----------------------------------------------------------------------------- resolving names


def _chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when the chain does not start at a name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, list(reversed(attrs))
    return None


def _qualified(program: _Program, node: ast.AST, depth: int = 0) -> list[str]:
    """The dotted names an attribute chain may stand for, through imports and plain aliases."""
    chain = _chain(node)
    if chain is None or depth > 8:
        return []
    root, attrs = chain
    out = []
    for b in program.bindings.get(root, []):
        if b.kind == "import":
            out.append(".".join([b.qualified, *attrs]))
        elif b.kind == "assign" and isinstance(b.node, ast.Assign) and isinstance(b.node.value, (ast.Name, ast.Attribute)):
            out += [".".join([q, *attrs]) for q in _qualified(program, b.node.value, depth + 1)]
    return out


def _in_modules(qualified: str, modules: Sequence[str]) -> bool:
    return any(qualified == m or qualified.startswith(m + ".") for m in modules)


def _where(program: _Program, node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', '?')} of {program.cell_of.get(id(node), 'a cell')}"


# ----------------------------------------------------------------------------- rule 1: written here


def _written_here(program: _Program, name: str, seen: frozenset = frozenset()) -> str | None:
    """None when ``name`` is bound only by def/lambda (or aliases of them); else why not."""
    bindings = program.bindings.get(name, [])
    if not bindings or name in seen:
        return None
    for b in bindings:
        if b.kind == "import":
            return (f"{name} is imported ({b.qualified.lstrip('.')}, {_where(program, b.node)}), not written in the "
                    "notebook; write the function yourself with def")
        if b.kind == "assign":
            value = getattr(b.node, "value", None)
            if isinstance(value, ast.Name) and value.id in program.bindings:
                why = _written_here(program, value.id, seen | {name})
                if why is None and any(x.kind in ("def", "lambda", "assign") for x in program.bindings[value.id]):
                    continue
                return why
            return (f"{name} is assigned ({_where(program, b.node)}) rather than defined with def in the notebook; "
                    "write the function yourself with def")
    return None


# ----------------------------------------------------------------------------- rule 2: forbidden names


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def _function_locals(fn: ast.AST) -> set[str]:
    """Names local to a function or lambda: its parameters and what its own body binds (not nested scopes)."""
    args = fn.args
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared = set()
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared |= set(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            stack += node.decorator_list  # evaluated here; the body is another scope
            continue
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        stack += list(ast.iter_child_nodes(node))
    return names - declared


def _scoped_names(root: ast.AST, local: frozenset = frozenset()):
    """Every (node, names local at that node) under ``root``, following function scopes."""
    yield root, local
    if isinstance(root, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        outer = [*root.decorator_list] if not isinstance(root, ast.Lambda) else []
        outer += [d for d in root.args.defaults + root.args.kw_defaults if d is not None]
        if not isinstance(root, ast.Lambda):
            outer += [a.annotation for a in root.args.args if a.annotation is not None]
        for child in outer:
            yield from _scoped_names(child, local)
        inner = local | _function_locals(root)
        body = root.body if isinstance(root.body, list) else [root.body]
        for child in body:
            yield from _scoped_names(child, inner)
        return
    if isinstance(root, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        targets = {n.id for g in root.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        local = local | targets
    for child in ast.iter_child_nodes(root):
        yield from _scoped_names(child, local)


def _shown(node: ast.Attribute) -> str:
    chain = _chain(node)
    return ".".join([chain[0], *chain[1]]) if chain else "." + node.attr


def _forbidden_in(program: _Program, roots: list[_Binding], names: Sequence[str], modules: Sequence[str]) -> str | None:
    """The first use of a forbidden name in the code reachable from ``roots``, described; else None."""
    seen: set[int] = set()
    todo = list(roots)
    docstrings = set().union(*(_docstrings(t) for _, t in program.trees)) if program.trees else set()
    while todo:
        b = todo.pop()
        if id(b.node) in seen:
            continue
        seen.add(id(b.node))
        if b.kind == "import":
            q = b.qualified.lstrip(".")
            if _in_modules(q, modules) or _matches(q.rsplit(".", 1)[-1], names):
                return f"{_where(program, b.node)} imports {q}"
            continue
        for node, local in _scoped_names(b.node):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in local:
                    continue
                if node.id in program.bindings:
                    todo += program.bindings[node.id]
                elif _matches(node.id, names):
                    return f"{_where(program, node)} uses {node.id}"
                elif program.star_imports and not _is_builtin(node.id):
                    return (f"{_where(program, node)} uses {node.id}, which may come from `from "
                            f"{program.star_imports[0][0]} import *`; import names one by one")
            elif isinstance(node, ast.Attribute):
                if _matches(node.attr, names):
                    return f"{_where(program, node)} uses {_shown(node)}"
                for q in _qualified(program, node):
                    if _in_modules(q, modules):
                        return f"{_where(program, node)} uses {q}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = getattr(node, "module", None) or ""
                for alias in node.names:
                    q = f"{module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
                    if _in_modules(q, modules) or _matches(alias.name.rsplit(".", 1)[-1], names):
                        return f"{_where(program, node)} imports {q}"
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value.strip()
                if text.replace(".", "").isidentifier() and (
                        _matches(text.rsplit(".", 1)[-1], names) or _in_modules(text, modules)):
                    return f"{_where(program, node)} names {text!r} in a string"
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
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False


def _escape(program: _Program) -> str | None:
    """The first way around a static check anywhere in the notebook, described; else None."""
    for label, tree in program.trees:
        parent = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            where = f"{_where(program, node)}"
            up = parent.get(id(node))
            if isinstance(node, ast.Name) and node.id in ESCAPE_NAMES:
                return f"{where} uses {node.id}"
            if isinstance(node, ast.Name) and node.id == "getattr":
                ok = (isinstance(up, ast.Call) and up.func is node and len(up.args) >= 2
                      and isinstance(up.args[1], ast.Constant) and isinstance(up.args[1].value, str))
                if not ok:
                    return f"{where} uses getattr with a computed name"
            if isinstance(node, ast.Name) and node.id == "get_ipython":
                call = parent.get(id(up)) if isinstance(up, ast.Call) else None  # get_ipython() . run_line_magic
                magic = parent.get(id(call)) if isinstance(call, ast.Attribute) else None
                ok = (isinstance(call, ast.Attribute) and call.attr == "run_line_magic" and isinstance(magic, ast.Call)
                      and magic.args and isinstance(magic.args[0], ast.Constant)
                      and magic.args[0].value in _ALLOWED_MAGICS)
                if not ok:
                    return f"{where} uses IPython's shell (a magic, a shell command or get_ipython())"
            if isinstance(node, ast.Attribute) and node.attr in ESCAPE_ATTRIBUTES:
                return f"{where} uses .{node.attr}"
            if isinstance(node, ast.Attribute):
                for q in _qualified(program, node):
                    if q in _ESCAPE_QUALIFIED or _in_modules(q, sorted(ESCAPE_MODULES)) or q.startswith("torch._"):
                        return f"{where} uses {q}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom) and node.level:
                    return f"{where} imports a module relative to itself"
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if isinstance(node, ast.ImportFrom):
                    modules += [f"{node.module}.{a.name}" for a in node.names]
                for m in modules:
                    if m.startswith("IPython.display"):
                        continue
                    if _in_modules(m, sorted(ESCAPE_MODULES)) or m.startswith("torch._"):
                        return f"{where} imports {m}"
                    if m.split(".")[0] not in _known_modules():
                        return (f"{where} imports {m}, which is neither part of Python nor installed in the "
                                "course's environment")
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                value = getattr(node, "value", None)
                for t in targets:
                    base = t.value if isinstance(t, (ast.Attribute, ast.Subscript)) else None
                    if base is not None and _qualified(program, base) and not (value is not None and _constant(value)):
                        return f"{where} changes an attribute of a library ({ast.unparse(t)[:60]})"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ESCAPE_ATTRIBUTES:
                return f"{where} defines {node.name}"
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
