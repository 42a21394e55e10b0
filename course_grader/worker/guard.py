"""Defence in depth, inside the worker: block the library functions a task forbids while it is tested.

The grade does not rest on this module (the learner's code runs in the same process and
could switch it off); it rests on the grader's static check of the notebook's source. What
this adds is a run-time net for *library paths* a static check cannot see by name, such as
``torch.distributions.Categorical(logits=x).probs``, which computes a softmax inside torch.

A :class:`Guard` is built from a task's forbid spec (see ``course_grader.testkit.Forbid``):

- ``names``: identifier patterns (``fnmatch`` globs, compared in lower case without
  underscores, so ``"*softmax*"`` also matches ``_log_softmax`` and ``Softmax``). While
  the guard is on, matching attributes of torch's public namespaces are replaced by
  blockers, and a ``TorchDispatchMode`` refuses every aten operator whose name matches
  (``aten::_softmax``, ``aten::logsumexp``, ...), whatever Python path led to it;
- ``modules``: dotted names of modules (``course_lib.generation``) or of functions and
  classes (``course_lib.scaling.fit_power_law``, ``ChinchillaLaw.compute_optimal`` as
  ``course_lib.scaling.ChinchillaLaw.compute_optimal``): every public callable of a module,
  or the object named, is replaced by a blocker.

A call into a forbidden function raises :class:`ForbiddenCall` (a ``BaseException``, so an
``except Exception`` in the learner's code does not swallow it); the worker reports it.
Substituted references (``testkit.substitute``) run with the guard suspended.
"""
from __future__ import annotations

import contextlib
import fnmatch
import importlib
from typing import Any, Iterator

__all__ = ["ForbiddenCall", "Guard", "normalise"]

_TORCH_NAMESPACES = ("torch", "torch.nn.functional", "torch.special", "torch.linalg", "torch.nn", "torch.Tensor",
                     "torch.distributions")


class ForbiddenCall(BaseException):
    """The learner's code called a function the task forbids."""


def normalise(name: str) -> str:
    """``"_Log_Softmax"`` -> ``"logsoftmax"``: how names are compared with forbid patterns."""
    return name.replace("_", "").casefold()


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    n = normalise(name)
    return any(fnmatch.fnmatchcase(n, normalise(p)) for p in patterns)


def _resolve(dotted: str) -> tuple[Any, str] | None:
    """(owner, attribute) for ``"a.b.c"``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attr in parts[cut:-1]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return (obj, parts[-1]) if cut < len(parts) else (obj, "")
    return None


class Guard:
    """Replace forbidden functions by blockers while ``with guard.on():`` runs."""

    def __init__(self, names=(), modules=(), reason: str = ""):
        self.names, self.modules = tuple(names), tuple(modules)
        self.reason = reason or "the task asks you to write this yourself"
        self.suspended = 0
        self.violations: list[str] = []  # every refusal, even one the learner's code caught
        self._saved: list[tuple[Any, str, Any, bool]] = []
        self._cached: list[tuple[Any, str, str]] | None = None

    # -- what to block
    def _targets(self) -> Iterator[tuple[Any, str, str]]:
        seen = set()
        if self.names:
            for ns_name in _TORCH_NAMESPACES:
                found = _resolve(ns_name)
                if found is None:
                    continue
                owner, attr = found
                ns = getattr(owner, attr) if attr else owner
                for name in list(vars(ns)):
                    if _matches(name, self.names) and (id(ns), name) not in seen:
                        seen.add((id(ns), name))
                        yield ns, name, f"{ns_name}.{name}"
        for dotted in self.modules:
            found = _resolve(dotted)
            if found is None:
                continue
            owner, attr = found
            if attr:
                yield owner, attr, dotted
                continue
            for name, value in list(vars(owner).items()):
                if not name.startswith("__") and callable(value) and (id(owner), name) not in seen:
                    seen.add((id(owner), name))
                    yield owner, name, f"{dotted}.{name}"

    def _blocker(self, label: str, original: Any):
        guard = self

        def blocked(*args, **kwargs):
            if guard.suspended:
                return original(*args, **kwargs)
            guard.violations.append(f"{guard.reason} (it called {label})")
            raise ForbiddenCall(guard.violations[-1])

        blocked.__name__ = getattr(original, "__name__", "blocked")
        return blocked

    def _dispatch_mode(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        guard = self

        class _Refuse(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func._overloadpacket.__name__
                if not guard.suspended and _matches(name, guard.names):
                    guard.violations.append(f"{guard.reason} (it ran torch's {name} operator)")
                    raise ForbiddenCall(guard.violations[-1])
                return func(*args, **(kwargs or {}))

        return _Refuse()

    # -- switching it on and off
    def prepare(self) -> None:
        """Import the modules and find what to block (once per guard; not on the learner's clock)."""
        if self._cached is None:
            self._cached = list(self._targets())

    @contextlib.contextmanager
    def on(self):
        self.prepare()
        for owner, attr, label in self._cached:
            try:
                own = attr in vars(owner)
                original = vars(owner)[attr] if own else getattr(owner, attr)
                setattr(owner, attr, self._blocker(label, getattr(owner, attr)))
            except (AttributeError, TypeError):  # a slot or a C type that refuses: the dispatch mode remains
                continue
            self._saved.append((owner, attr, original, own))
        mode = self._dispatch_mode() if self.names else contextlib.nullcontext()
        try:
            with mode:
                yield self
        finally:
            for owner, attr, original, own in reversed(self._saved):
                try:
                    if own:
                        setattr(owner, attr, original)
                    else:
                        delattr(owner, attr)
                except (AttributeError, TypeError):  # pragma: no cover
                    pass
            self._saved.clear()

    @contextlib.contextmanager
    def suspend(self):
        """Run a substituted reference: the forbidden functions work again inside."""
        self.suspended += 1
        try:
            yield
        finally:
            self.suspended -= 1
