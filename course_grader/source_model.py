"""A notebook's source as the grader reads it: cells parsed, names bound, values flowing between names.

This is the model under ``course_grader.static_check``; nothing here is run. :func:`parse_cells`
parses each cell (IPython magics turned into Python first) into a :class:`Program` that knows

- **bindings**: for each module-level name, the statements that bind it (``def``, ``class``,
  ``import``, assignments, ``for``/``with``/``except``/``match`` targets, walrus, ``global``
  assignments inside functions); a name bound by an ``except`` or ``match`` clause is bound by
  the whole statement, because the value comes from its body;
- **flows**: for each name, the statements that may put a value *into* it without binding it:
  a method called on it (``_h.append(f)``), an argument (``list.append(_h, f)``, ``fill(_h)``), an
  alias (``y = _h`` then ``y.append(f)``), a function whose body does one of these to a global.
  A check that follows a task's code must follow these too, or a value stored there by a
  statement it never reads escapes it. And for each function, the statements that call it
  (``calls``): when a function fills or hands out a global (``def get(): return _h``), what
  its callers give it or do with its result (``get().append(f)``) flows too. Names bound by ``import`` never flow (a module changed
  by assignment is refused by the check itself); ``def``/``class`` names flow through
  arguments only where their attributes are read (``arg_flows``);
- **qualified names**: what an attribute chain may stand for through imports and aliases
  (``F.softmax`` -> ``torch.nn.functional.softmax``), computed once per name with a bound on
  their number, so no chain of aliases makes it slow;
- **unreadable** cells: cells that are valid Python for the worker but that the grader could
  not parse (nested too deeply), which the check must treat as a way around it.

Every walk here is iterative: a hostile notebook may nest code deeply or repeat it many
times; reading it costs time linear in its size, and never a ``RecursionError``.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable, Iterator

__all__ = ["Cell", "Binding", "Program", "parse_cells", "chain", "qualified", "where", "in_modules", "scoped_names",
           "docstrings", "MAX_PREFIXES"]

MAX_PREFIXES = 16  # dotted names kept per name (aliases of aliases)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass
class Cell:
    """A code cell the grader will run: its label for messages (``"code cell 3"``) and its source."""

    label: str
    source: str


@dataclass
class Binding:
    kind: str  # "def", "class", "import", "assign", "lambda", "flow"
    node: ast.AST
    cell: str
    qualified: str = ""  # imports: the dotted name bound ("torch.nn.functional.softmax")
    imported: str = ""  # imports: the whole module imported ("course_lib.generation" for `import course_lib.generation`)


@dataclass
class Program:
    trees: list[tuple[str, ast.Module]]
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    flows: dict[str, list[Binding]] = field(default_factory=dict)
    arg_flows: dict[str, list[Binding]] = field(default_factory=dict)
    calls: dict[str, list[Binding]] = field(default_factory=dict)  # get() or y = get() or fill(f): the callers
    star_imports: list[tuple[str, str]] = field(default_factory=list)  # (module, cell)
    cell_of: dict[int, str] = field(default_factory=dict)  # id(node) -> cell label
    unreadable: list[str] = field(default_factory=list)  # labels of cells too deep for the grader's parser
    _prefixes: dict[str, list[str]] | None = None

    def kinds(self, name: str) -> set[str]:
        return {b.kind for b in self.bindings.get(name, [])}


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or confused: parse the source as it is
        return source


def parse_cells(cells: Iterable[Cell]) -> Program:
    """Parse every cell (magics turned into Python as IPython does).

    A cell with a syntax error is skipped (the worker cannot run it either); a cell the
    grader cannot parse for another reason (too deeply nested) is listed in ``unreadable``.
    """
    trees, unreadable = [], []
    for cell in cells:
        try:
            trees.append((cell.label, ast.parse(_transform(cell.source))))
        except (SyntaxError, ValueError):
            continue
        except (RecursionError, MemoryError):
            unreadable.append(cell.label)
    program = Program(trees, unreadable=unreadable)
    for label, tree in trees:
        for node in ast.walk(tree):
            program.cell_of[id(node)] = label
        _collect_bindings(tree, label, program)
    for label, tree in trees:
        _collect_flows(tree, label, program)
    return program


def _bind(table: dict, name: str, binding: Binding) -> None:
    table.setdefault(name, []).append(binding)


def _target_names(target: ast.AST) -> Iterable[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest


def _same_scope(root: ast.AST) -> Iterator[ast.AST]:
    """Nodes under ``root`` that are not inside a function, lambda or class nested in it."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack += [c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES)]


def _collect_bindings(tree: ast.Module, label: str, program: Program) -> None:
    bind = lambda name, kind, node, q="", imported="": _bind(program.bindings, name, Binding(kind, node, label, q, imported))  # noqa: E731
    stack = list(reversed(tree.body))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bind(stmt.name, "def", stmt)
        elif isinstance(stmt, ast.ClassDef):
            bind(stmt.name, "class", stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                bound = alias.asname or alias.name.split(".")[0]
                bind(bound, "import", stmt, alias.name if alias.asname else bound, alias.name)
        elif isinstance(stmt, ast.ImportFrom):
            module = ("." * stmt.level) + (stmt.module or "")
            for alias in stmt.names:
                if alias.name == "*":
                    program.star_imports.append((module, label))
                else:
                    bind(alias.asname or alias.name, "import", stmt, f"{module}.{alias.name}", f"{module}.{alias.name}")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            kind = "lambda" if isinstance(getattr(stmt, "value", None), ast.Lambda) else "assign"
            for t in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                for name in _target_names(t):
                    bind(name, kind, stmt)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.Try, ast.Match)) or \
                type(stmt).__name__ == "TryStar":
            targets = [stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else \
                [i.optional_vars for i in getattr(stmt, "items", []) if i.optional_vars is not None] + \
                [c.pattern for c in getattr(stmt, "cases", [])]
            names = [n for t in targets for n in _target_names(t)]
            names += [h.name for h in getattr(stmt, "handlers", []) if h.name]
            for name in names:  # bound by the whole statement: the value comes from its body or its header
                bind(name, "assign", stmt)
            for part in ("body", "orelse", "finalbody"):
                stack += reversed(getattr(stmt, part, []))
            for inner in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
                stack += reversed(inner.body)
        elif isinstance(stmt, (ast.If, ast.While)):
            stack += reversed(stmt.body + stmt.orelse)
        for part, _ in _header(stmt):  # a walrus at module level binds a module-level name
            for node in _same_scope(part):
                if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                    bind(node.target.id, "assign", node)
    for fn in ast.walk(tree):  # `global x` inside a function: its assignments to x are module-level bindings
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = {n for g in ast.walk(fn) if isinstance(g, ast.Global) for n in g.names}
            for inner in ast.walk(fn) if names else ():
                if isinstance(inner, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.With)):
                    targets = inner.targets if isinstance(inner, ast.Assign) else \
                        [i.optional_vars for i in inner.items if i.optional_vars] if isinstance(inner, ast.With) else \
                        [inner.target]
                    for name in {n for t in targets for n in _target_names(t)} & names:
                        bind(name, "assign", inner)


# ----------------------------------------------------------------------------- flows


def _header(stmt: ast.AST) -> list[tuple[ast.AST, str | None]]:
    """A compound statement's own expressions, with how their values are used; a simple statement itself."""
    if isinstance(stmt, ast.ClassDef):
        return [(n, None) for n in stmt.decorator_list + stmt.bases + [k.value for k in stmt.keywords]]
    if isinstance(stmt, _SCOPES):
        return [(n, None) for n in stmt.decorator_list + stmt.args.defaults + stmt.args.kw_defaults if n is not None]
    if not hasattr(stmt, "body"):
        return [(stmt, None)]
    parts = [(getattr(stmt, "test", None), None), (getattr(stmt, "iter", None), "alias"),
             (getattr(stmt, "subject", None), "alias")] + [(i.context_expr, "alias") for i in getattr(stmt, "items", [])]
    return [(node, how) for node, how in parts if node is not None]


def _writes(root: ast.AST, how: str | None = None, nested: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(names the code under ``root`` may put a value into, names it passes as arguments, functions it
    calls by name), in one pass.

    ``how`` says how ``root``'s value is used ("alias": it is stored somewhere); ``nested``:
    follow nested functions and classes too (a function's body, whose writes are its own).
    """
    written, passed, results = [], [], []
    stack: list[tuple[ast.AST, str | None]] = [(root, how)]
    while stack:
        node, how = stack.pop()
        if isinstance(node, ast.Name):
            if how in ("receiver", "alias"):
                written.append(node.id)
            elif how == "arg":
                passed.append(node.id)
            continue
        if isinstance(node, _SCOPES) and node is not root and not nested:
            continue
        if isinstance(node, ast.Call):  # a method may change its object: _h.append(f), get().append(f)
            func = node.func
            if isinstance(func, ast.Name):
                results.append(func.id)
            if how == "receiver":
                stack.append((func, "receiver"))
            elif isinstance(func, ast.Attribute):
                stack.append((func.value, "receiver"))
            stack += [(a, "arg") for a in node.args] + [(k.value, "arg") for k in node.keywords]
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            written += [n for t in targets for n in _target_names(t)]
            stack += [(node.value, "alias")] if node.value is not None else []
            continue
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            written += list(_target_names(node.target))
            stack.append((node.iter, "alias"))
            stack += [(c, how) for c in ast.iter_child_nodes(node) if c is not node.iter and c is not node.target]
            continue
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.withitem)):
            value = node.context_expr if isinstance(node, ast.withitem) else node.value
            stack += [(value, "alias")] if value is not None else []
            continue
        stack += [(c, how) for c in ast.iter_child_nodes(node)]
    return written, passed, results


def _collect_flows(tree: ast.Module, label: str, program: Program) -> None:
    def add(names: Iterable[str], node: ast.AST, skip: frozenset = frozenset(), args: bool = False,
            table: dict | None = None) -> None:
        for name in dict.fromkeys(names):
            kinds = program.kinds(name)
            if name in skip or not kinds or kinds <= {"import"} or _literal_only(program, name):
                continue
            chosen = table if table is not None else program.arg_flows if args and kinds & {"def", "class"} else \
                program.flows
            _bind(chosen, name, Binding("flow", node, label))

    stack = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, _SCOPES):  # what a function's or class's body does to globals
            local = frozenset() if isinstance(stmt, ast.ClassDef) else frozenset(_function_locals(stmt))
            written, passed, results = _writes(stmt, nested=True)
            add(written, stmt, local)
            add(passed, stmt, local, args=True)
            add(results, stmt, local, table=program.calls)
            continue
        owner = stmt if hasattr(stmt, "body") and not isinstance(stmt, (ast.If, ast.While)) else None
        for part, how in _header(stmt):
            written, passed, results = _writes(part, how)
            add(written, owner or part)
            add(passed, owner or part, args=True)
            add(results, owner or part, table=program.calls)
        for f in ("body", "orelse", "finalbody"):
            stack += getattr(stmt, f, [])
        for inner in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
            stack += inner.body


def _immutable(node: ast.AST) -> bool:
    """A number, string, bytes, bool or None, or a tuple of them: a value nothing can be stored in."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Tuple):
            stack += n.elts
        elif isinstance(n, ast.UnaryOp) and isinstance(n.operand, ast.Constant):
            continue
        elif not isinstance(n, ast.Constant):
            return False
    return True


def _literal_only(program: Program, name: str) -> bool:
    """Every binding of ``name`` assigns an immutable literal (``EPS = 1e-12``): nothing can be stored in it."""
    return all(b.kind == "assign" and isinstance(b.node, (ast.Assign, ast.AnnAssign)) and b.node.value is not None
               and _immutable(b.node.value) for b in program.bindings.get(name, []))


# ----------------------------------------------------------------------------- names


def chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when the chain does not start at a name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, list(reversed(attrs))
    return None


def _all_prefixes(program: Program) -> dict[str, list[str]]:
    """Name -> the dotted names it may stand for (imports, then plain aliases ``a = b.c``), a bounded fixpoint."""
    out: dict[str, dict[str, None]] = {}
    dependents: dict[str, list[tuple[str, list[str]]]] = {}
    todo = []
    for name, bindings in program.bindings.items():
        for b in bindings:
            if b.kind == "import":
                out.setdefault(name, {})[b.qualified] = None
                todo.append(name)
            elif b.kind == "assign" and isinstance(b.node, ast.Assign) and (c := chain(b.node.value)) is not None:
                dependents.setdefault(c[0], []).append((name, c[1]))
    while todo:
        root = todo.pop()
        for name, attrs in dependents.get(root, []):
            mine = out.setdefault(name, {})
            before = len(mine)
            for prefix in list(out.get(root, {})):
                dotted = ".".join([prefix, *attrs])
                if len(mine) < MAX_PREFIXES and dotted.count(".") < 12:
                    mine.setdefault(dotted, None)
            if len(mine) > before:
                todo.append(name)
    return {k: list(v) for k, v in out.items()}


def qualified(program: Program, node: ast.AST) -> list[str]:
    """The dotted names an attribute chain may stand for, through imports and plain aliases."""
    c = chain(node)
    if c is None:
        return []
    if program._prefixes is None:
        program._prefixes = _all_prefixes(program)
    return [".".join([p, *c[1]]) for p in program._prefixes.get(c[0], [])]


def in_modules(dotted: str, modules: Iterable[str]) -> bool:
    return any(dotted == m or dotted.startswith(m + ".") for m in modules)


def where(program: Program, node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', '?')} of {program.cell_of.get(id(node), 'a cell')}"


def docstrings(program: Program) -> set[int]:
    out = set()
    for _, tree in program.trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                        isinstance(first.value.value, str):
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


def scoped_names(root: ast.AST) -> Iterator[tuple[ast.AST, frozenset]]:
    """Every (node, names local at that node) under ``root``, following function scopes (iteratively)."""
    stack: list[tuple[ast.AST, frozenset]] = [(root, frozenset())]
    while stack:
        node, local = stack.pop()
        yield node, local
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            outer = [] if isinstance(node, ast.Lambda) else [*node.decorator_list, node.returns]
            outer += [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
            if not isinstance(node, ast.Lambda):
                outer += [a.annotation for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            stack += [(child, local) for child in outer if child is not None]
            inner = local | _function_locals(node)
            stack += [(child, inner) for child in (node.body if isinstance(node.body, list) else [node.body])]
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            local = local | {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        stack += [(child, local) for child in ast.iter_child_nodes(node)]
