"""course_grader.static_check: "write it yourself" read from the notebook's source, in the grader's process.

Each attack below is a way to hand a forbidden library function in under another name; each
must fail the task with a message naming the line, while honest solutions (every solution
notebook, and code that merely *looks* similar) pass. No notebook is run here: the check
reads source only (the end-to-end attacks are in tests/test_grader_attacks.py).
"""
from __future__ import annotations

import pathlib
from types import SimpleNamespace as NS

import nbformat
import pytest

from course_grader.grade import cell_source, hidden_tests_module, notebook_cells
from course_grader.static_check import Cell, check_tasks
from course_grader.testkit import Forbid

ROOT = pathlib.Path(__file__).resolve().parents[1]
SETUP = "from course_lib.notebook import setup\nsetup()\nimport math\nimport torch\nimport torch.nn.functional as F\n" \
        "from course_lib import generation as reference\n%matplotlib inline\n"
SOFTMAX = NS(id="softmax", functions=("softmax",), forbid=Forbid(names=("*softmax*", "softmin"), reason="by hand"))
GREEDY = NS(id="greedy_decode", functions=("greedy_decode",),
            forbid=Forbid(modules=("course_lib.generation", "transformers.generation"), reason="by hand"))
FREE = NS(id="causal_mask", functions=("causal_mask",), forbid=None)
HONEST = ('def softmax(x, dim=-1):\n    """Softmax: exp(x) / sum exp(x), from the max."""\n'
          '    m = x.amax(dim=dim, keepdim=True)\n    e = (x - m).exp()\n    return e / e.sum(dim=dim, keepdim=True)\n')


def verdict(*sources: str, tasks=(SOFTMAX, FREE)) -> dict:
    cells = [Cell("code cell 1", SETUP)] + [Cell(f"code cell {i + 2}", s) for i, s in enumerate(sources)]
    return check_tasks(cells, list(tasks))


ALIASES = {
    "module-level alias": "_sm = torch.softmax\ndef softmax(x, dim=-1):\n    return _sm(x, dim)\n",
    "private function": "def softmax(x, dim=-1):\n    return torch._softmax(x, dim, False)\n",
    "import under another name": "from torch.nn.functional import softmax as s\ndef softmax(x, dim=-1):\n    return s(x, dim)\n",
    "import inside the function": "def softmax(x, dim=-1):\n    from torch import softmax as s\n    return s(x, dim)\n",
    "getattr with a string": "def softmax(x, dim=-1):\n    return getattr(torch, 'softmax')(x, dim)\n",
    "getattr with a computed string": "def softmax(x, dim=-1):\n    return getattr(torch, 'soft' + 'max')(x, dim)\n",
    "tensor method": "def softmax(x, dim=-1):\n    return x.softmax(dim)\n",
    "default argument": "def softmax(x, dim=-1, f=F.softmax):\n    return f(x, dim)\n",
    "global rebinding in a function": "def _init():\n    global _f\n    _f = torch.softmax\n_init()\n"
                                      "def softmax(x, dim=-1):\n    return _f(x, dim)\n",
    "helper function": "def _helper(x):\n    return F.softmax(x, -1)\ndef softmax(x, dim=-1):\n    return _helper(x)\n",
    "class attribute": "class S:\n    f = staticmethod(F.softmax)\ndef softmax(x, dim=-1):\n    return S.f(x, dim)\n",
    "nn module": "def softmax(x, dim=-1):\n    return torch.nn.Softmax(dim)(x)\n",
    "softmin of the negation": "def softmax(x, dim=-1):\n    return F.softmin(-x, dim)\n",
    "log-softmax from a star import": "from torch.nn.functional import *\ndef softmax(x, dim=-1):\n"
                                      "    return log_softmax(x, dim).exp()\n",
    "alias of an alias": "a = F\nb = a\ndef softmax(x, dim=-1):\n    return b.softmax(x, dim)\n",
    "decorator": "def deco(f):\n    return F.softmax\n@deco\ndef softmax(x, dim=-1):\n    return x\n",
    "lambda alias": "softmax = lambda x, dim=-1: torch.softmax(x, dim)\n",
}
READS_H = "def softmax(x, dim=-1):\n    return _h[0](x, dim)\n"
FLOWS = {  # a value put into a name the task reads, by a statement that does not bind that name
    "appended later": "_h = []\n" + READS_H + "_h.append(F.softmax)\n",
    "list.append": "_h = []\n" + READS_H + "list.append(_h, F.softmax)\n",
    "through an alias": "_h = []\n" + READS_H + "y = _h\ny.append(F.softmax)\n",
    "by a function given the list": "_h = []\n" + READS_H + "def fill(box):\n    box.append(F.softmax)\nfill(_h)\n",
    "by a method of a function's result": "_h = []\ndef get():\n    return _h\n" + READS_H + "get().append(F.softmax)\n",
    "through a function's result": "_h = []\ndef get():\n    return _h\n" + READS_H + "y = get()\ny.append(F.softmax)\n",
    "map": "_h = []\n" + READS_H + "list(map(_h.append, [F.softmax]))\n",
    "a loop": "_h = []\n" + READS_H + "for f in [F.softmax]:\n    _h.append(f)\n",
    "a with statement": "import contextlib\n_h = []\nwith contextlib.nullcontext(_h) as y:\n    y.append(F.softmax)\n"
                        + READS_H,
    "a walrus": "_h = []\n(y := _h).append(F.softmax)\n" + READS_H,
    "a dict's setdefault": "_h = {}\n" + READS_H.replace("[0]", "['f']") + "_h.setdefault('f', F.softmax)\n",
    "a registry class": "class Reg:\n    fs = []\n    def add(self, f):\n        self.fs.append(f)\nr = Reg()\n"
                        "r.add(F.softmax)\ndef softmax(x, dim=-1):\n    return r.fs[0](x, dim)\n",
    "a class attribute's list": "class Reg:\n    fs = []\nReg.fs.append(F.softmax)\ndef softmax(x, dim=-1):\n"
                                "    return Reg.fs[0](x, dim)\n",
    "a function that keeps its argument": "def keep(g):\n    keep.g = g\nkeep(F.softmax)\ndef softmax(x, dim=-1):\n"
                                          "    return keep.g(x, dim)\n",
}
ESCAPES = {
    "exec": HONEST + "exec('softmax = torch.softmax')\n",
    "eval": HONEST + "y = eval('1')\n",
    "__dict__": "def softmax(x, dim=-1):\n    return F.__dict__['soft' + 'max'](x, dim)\n",
    "sys.modules": HONEST + "import sys\nt = sys.modules['torch']\n",
    "monkey-patching torch": HONEST.replace("(x - m).exp()", "torch.exp(x - m)") + "torch.exp = lambda t: t\n",
    "importlib": HONEST + "import importlib\nm = importlib.import_module('torch')\n",
    "a module the notebook wrote": HONEST + "import mysoftmax\n",
    "a shell command": HONEST + "!python -c 'print(1)'\n",
    "a cell magic": "%%time\n" + HONEST,
    "setattr on a library": HONEST + "setattr(torch, 'exp', torch.exp)\n",
    "torch's dispatch machinery": HONEST + "from torch.utils._python_dispatch import _disable_current_modes\n",
    "frames": HONEST + "import sys\nf = sys._getframe()\n",
    "subprocess": HONEST + "import subprocess\n",
    "the grader's runtime": HONEST + "import course_worker\n",
    "a tensor subclass": HONEST + "class T(torch.Tensor):\n    def __torch_function__(cls, *a):\n        return True\n",
    "get_ipython": HONEST + "ip = get_ipython()\nip.user_ns['softmax'] = torch.softmax\n",
    "a dunder attribute": HONEST + "g = HONEST_FN.__globals__\n".replace("HONEST_FN", "softmax"),
    "the defaults of a function": HONEST + "softmax.__defaults__ = (-1,)\n",
    "sys state imported by name": HONEST + "from sys import modules\n",
    "timeit runs text": HONEST + "import timeit\ntimeit.timeit('1', number=1)\n",
    "pydoc resolves text": HONEST + "import pydoc\nf = pydoc.locate('torch.exp')\n",
    "a thread": HONEST + "import threading\n",
    "IPython's Out": HONEST + "torch.exp\nf = Out[2]\n",
    "IPython's _3": HONEST + "f = _3\n",
    "a __future__ import that changes the syntax": "from __future__ import barry_as_FLUFL\n" + HONEST,
}


@pytest.mark.parametrize("source", ALIASES.values(), ids=ALIASES.keys())
def test_a_forbidden_function_under_another_name_fails_the_task(source):
    out = verdict(source)
    assert out["softmax"] and "line" in out["softmax"] and "code cell" in out["softmax"], out
    assert out["causal_mask"] is None  # a task without forbidden functions is not affected


@pytest.mark.parametrize("source", FLOWS.values(), ids=FLOWS.keys())
def test_a_forbidden_function_stored_where_the_task_reads_fails_the_task(source):
    out = verdict(source)
    assert out["softmax"] and "uses F.softmax" in out["softmax"], out
    assert out["causal_mask"] is None


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_way_around_the_check_anywhere_in_the_notebook_fails_the_task(source):
    out = verdict(source)
    assert out["softmax"] and "line" in out["softmax"], out
    assert out["causal_mask"] is None


def test_the_message_names_the_line_and_the_function():
    out = verdict("x = 1\n_sm = torch.softmax\ndef softmax(x, dim=-1):\n    return _sm(x, dim)\n")
    assert out["softmax"] == "by hand: line 2 of code cell 2 uses torch.softmax"


@pytest.mark.parametrize("source", [
    HONEST,
    HONEST + "import matplotlib as mpl\nmpl.rcParams['figure.dpi'] = 80\n",  # a setting, not a patch
    HONEST + "y = getattr(torch, 'float32')\n",  # a constant attribute name that is not forbidden
    "from math import *\n" + HONEST,  # a star import of something harmless
    "def softmax(x, dim=-1):\n    exp = x.exp()  # a local variable named like a function\n    return exp / exp.sum(dim, keepdim=True)\n",
    'def softmax(x, dim=-1):\n    if x.dim() == 0:\n        raise ValueError("softmax needs a dimension")\n'
    '    e = (x - x.amax(dim, keepdim=True)).exp()\n    return e / e.sum(dim, keepdim=True)\n',
    "softmax = lambda x, dim=-1: (x - x.amax(dim, keepdim=True)).exp() / (x - x.amax(dim, keepdim=True)).exp().sum(dim, keepdim=True)\n",
    "def _softmax_rows(x):\n    e = (x - x.amax(-1, keepdim=True)).exp()\n    return e / e.sum(-1, keepdim=True)\n"
    "def softmax(x, dim=-1):\n    return _softmax_rows(x.movedim(dim, -1)).movedim(-1, dim)\n",
    "from IPython.display import display\n" + HONEST,
    HONEST + "ys = []\nys.append(F.softmax(torch.zeros(3), -1))  # the library's value kept beside, not used by it\n",
    HONEST + "def entropy(p):\n    total = 0.0\n    for _i in range(p.shape[-1]):\n        total -= p[..., _i] * p[..., _i].log()\n"
             "    return _i, total\n",  # a local named like IPython's record
    "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n    def __repr__(self):\n"
    "        return self.__class__.__name__\n" + HONEST,
])
def test_honest_code_passes(source):
    assert verdict(source) == {"softmax": None, "causal_mask": None}


def test_a_static_check_that_fails_fails_the_tasks_not_the_grader(monkeypatch):
    from course_grader import grade

    def crash(cells, tasks):
        raise RecursionError("a hostile notebook")

    monkeypatch.setattr(grade, "check_tasks", crash)
    out = grade._static_check([Cell("code cell 1", HONEST)], [SOFTMAX, FREE])  # noqa: SLF001 - the guard itself
    assert all("could not read the notebook's code" in out[t] for t in ("softmax", "causal_mask"))  # rule 1 too


def test_a_cell_too_deep_for_the_graders_parser_is_a_way_around_it():
    out = verdict(HONEST, "y = " + "+".join(["1"] * 50000) + "\n")  # runs in a worker whose recursion limit was raised
    assert "code cell 3 is nested too deeply" in out["softmax"] and out["causal_mask"] is None


def test_unparseable_cells_are_skipped_not_fatal():
    assert verdict("def oops(:\n", HONEST) == {"softmax": None, "causal_mask": None}


@pytest.mark.parametrize("source,fragment", [
    ("from course_lib.attention import causal_mask\n", "imported (course_lib.attention.causal_mask"),
    ("causal_mask = torch.tril\n", "assigned"),
    ("import functools\ncausal_mask = functools.partial(torch.ones)\n", "assigned"),
])
def test_a_task_function_must_be_written_in_the_notebook(source, fragment):
    out = verdict(HONEST, source)
    assert fragment in out["causal_mask"] and "write the function yourself" in out["causal_mask"]


def test_aliases_of_own_functions_are_written_in_the_notebook():
    src = "def _mask(T):\n    return torch.ones(T, T, dtype=torch.bool).tril()\ncausal_mask = _mask\n"
    assert verdict(HONEST, src)["causal_mask"] is None


@pytest.mark.parametrize("source", [
    "def greedy_decode(model, ids, n, eos_token_id=None):\n    return reference.greedy_decode(model, ids, n)\n",
    "_g = reference.greedy_decode\ndef greedy_decode(model, ids, n, eos_token_id=None):\n    return _g(model, ids, n)\n",
    "import course_lib.generation\ndef greedy_decode(model, ids, n, eos_token_id=None):\n"
    "    return course_lib.generation.sample(model, ids, n, temperature=0)\n",
    "from transformers.generation.logits_process import TopKLogitsWarper as W\n"
    "def greedy_decode(model, ids, n, eos_token_id=None):\n    return W(1)\n",
])
def test_a_forbidden_module_is_refused_whatever_it_is_called(source):
    assert verdict(source, tasks=[GREEDY])["greedy_decode"]


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_solution_passes_the_static_check(path):
    nb = nbformat.read(path, as_version=4)
    tasks = hidden_tests_module(nb.metadata["course"]["exercise_set"]).TASKS
    cells = notebook_cells(nb, tasks)
    out = check_tasks([Cell(cells.label[i], cell_source(nb.cells[i])) for i in cells.to_run], tasks)
    assert out == {t.id: None for t in tasks}
