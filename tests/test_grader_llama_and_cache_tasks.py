"""Set 03's Llama tasks and set 06's cache and temperature tasks: a planted mistake loses its own task only.

Each student below is the solution notebook with one function (or, for ``llama_mistakes``, three
functions of three tasks) replaced by a wrong version; the grader must take away exactly those
tasks, with a message that names the mistake. Two honest variants keep full marks: a helper of
the learner's own called ``rotate_half`` (a name the RoPE task forbids in libraries) and a
sampler, measures and choice written another way. The untouched solutions get full marks in
tests/test_grade_all_sets.py.
"""
from __future__ import annotations

import json
import pathlib

import nbformat
import pytest
from test_grader_experiments import replace_function

from course_grader.grade import GradeOptions
from course_grader.gradebook import grade_class

ROOT = pathlib.Path(__file__).resolve().parents[1]
SET03 = ROOT / "solutions" / "03_transformer_exercises.ipynb"
SET06 = ROOT / "solutions" / "06_generation_exercises.ipynb"

EPS_OUTSIDE = "return weight * x / ((x * x).mean(-1, keepdim=True).sqrt() + eps)"
ADJACENT_PAIRS = """T, hd = x.shape[-2:]
if hd % 2 or positions.shape != (T,):
    raise ValueError("hd must be even and positions must have T entries")
theta = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
angle = positions.double()[:, None] * theta
c, s = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
a, b = x[..., 0::2], x[..., 1::2]
return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)"""
SIGMOID_GATE = "return (torch.sigmoid(x @ w_gate) * (x @ w_up)) @ w_down"
OWN_ROTATE_HALF = """T, hd = x.shape[-2:]
if hd % 2 or positions.shape != (T,):
    raise ValueError("hd must be even and positions must have T entries")
inv_freq = 1.0 / base ** (torch.arange(0, hd, 2).double() / hd)
emb = torch.cat([positions.double()[:, None] * inv_freq] * 2, dim=-1)
return x * emb.cos().to(x.dtype) + rotate_half(x) * emb.sin().to(x.dtype)"""
ROTATE_HALF = "def rotate_half(x):\n    a, b = x.chunk(2, dim=-1)\n    return torch.cat([-b, a], dim=-1)\n"

UNSCALED = """K = k_new if cache is None else torch.cat([cache[0], k_new], dim=2)
V = v_new if cache is None else torch.cat([cache[1], v_new], dim=2)
P, T_new = K.shape[2] - q_new.shape[2], q_new.shape[2]
scores = q_new @ K.transpose(-2, -1)  # not divided by sqrt(hd)
scores = scores.masked_fill(torch.arange(P + T_new)[None, :] > torch.arange(P, P + T_new)[:, None], float("-inf"))
return torch.softmax(scores, dim=-1) @ V, (K, V)"""
STUDY = """out = {"samples": [], "distinct_2": [], "entropy": []}
for i, t in enumerate(temperatures):
    s = sample_continuations(table, start, t, n_samples, length, seed + i)
    out["samples"].append(s)
    out["distinct_2"].append(DISTINCT)
    out["entropy"].append(ENTROPY)
reached = [t for t, d in zip(temperatures, out["distinct_2"]) if d >= target]
out["chosen"] = CHOICE
return out"""
HONEST_STUDY = {"DISTINCT": "len({p for row in s.tolist() for p in zip(row, row[1:])}) / (n_samples * (length - 1))",
                "ENTROPY": "float(-sum(c / n_samples * math.log(c / n_samples) for c in torch.bincount(s[:, 0]).tolist() if c))",
                "CHOICE": "sorted(reached)[0] if reached else None"}
NO_TEMPERATURE = """if not temperature > 0:
    raise ValueError("temperature must be > 0")
g = torch.Generator().manual_seed(seed)
probs = torch.softmax(table.double(), dim=-1)  # the temperature is never used
current, steps = torch.full((n_samples,), start), []
for _ in range(length):
    current = torch.multinomial(probs[current], 1, generator=g)[:, 0]
    steps.append(current)
return torch.stack(steps, dim=1)"""
OTHER_SAMPLER = """if temperature <= 0:
    raise ValueError("temperature must be > 0")
g = torch.Generator().manual_seed(seed)
out, previous = torch.empty(n_samples, length, dtype=torch.int64), torch.full((n_samples,), start)
for j in range(length):
    probs = torch.softmax(table[previous] / temperature, dim=-1)  # float32, one row per continuation
    previous = torch.multinomial(probs, 1, generator=g)[:, 0]
    out[:, j] = previous
return out"""


def _study(**parts) -> str:
    body = STUDY
    for key, value in {**HONEST_STUDY, **parts}.items():
        body = body.replace(key, value)
    return body


STUDENTS = {  # student: (solution, {function: body}, helper cell put before the first function's cell)
    "llama_mistakes": (SET03, {"rms_norm": EPS_OUTSIDE, "apply_rope": ADJACENT_PAIRS, "swiglu": SIGMOID_GATE}, None),
    "own_rotate_half": (SET03, {"apply_rope": OWN_ROTATE_HALF}, ROTATE_HALF),
    "unscaled_cache": (SET06, {"attend_with_cache": UNSCALED}, None),
    "written_down": (SET06, {"temperature_study": _study(DISTINCT="0.25")}, None),
    "no_temperature": (SET06, {"sample_continuations": NO_TEMPERATURE}, None),
    "highest": (SET06, {"temperature_study": _study(CHOICE="max(reached) if reached else None")}, None),
    "honest_other_way": (SET06, {"sample_continuations": OTHER_SAMPLER, "temperature_study": _study()}, None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("llama_cache")
    for student, (solution, bodies, helper) in STUDENTS.items():
        nb = nbformat.read(solution, as_version=4)
        for name, body in bodies.items():
            replace_function(nb, name, body)
        if helper:
            first = next(i for i, c in enumerate(nb.cells) if "task" in c.metadata.get("course", {})
                         and f"def {next(iter(bodies))}(" in c.source)
            nb.cells.insert(first, nbformat.v4.new_code_cell(helper))
        (root / student).mkdir()
        nbformat.write(nb, root / student / solution.name)
    grade_class([str(root)], GradeOptions(timeout=120, secret="planted mistakes"), str(root / "g.json"), jobs=2,
                progress=False)
    subs = json.loads((root / "g.json").read_text(encoding="utf-8"))["submissions"]
    return {s["student"]: s for s in subs}


@pytest.mark.parametrize("student,lost", [
    ("llama_mistakes", {"rms_norm": "eps is added outside the square root",
                        "apply_rope": "the paper's adjacent pairs",
                        "swiglu": "the gate uses sigmoid(z)"}),
    ("unscaled_cache", {"kv_cache": "not divided by sqrt(head_dim)"}),
    ("written_down", {"temperature_study": "the distinct bigrams of your samples"}),
    ("no_temperature", {"temperature_study": "these are not draws from softmax(table / 0.5)"}),
    ("highest", {"temperature_study": "the lowest temperature whose distinct_2"}),
])
def test_a_planted_mistake_loses_its_task_only_with_a_message_naming_it(graded, student, lost):
    sub = graded[student]
    tasks = {t["id"]: t for t in sub["tasks"]}
    for task, fragment in lost.items():
        assert tasks[task]["points"] == 0 and fragment in tasks[task]["message"], (task, tasks[task]["message"])
    assert sub["score"] == sub["max_score"] - sum(tasks[t]["max_points"] for t in lost), \
        [(t["id"], t["message"]) for t in sub["tasks"] if t["points"] != t["max_points"]]


@pytest.mark.parametrize("student", ["own_rotate_half", "honest_other_way"])
def test_an_honest_answer_written_another_way_gets_full_marks(graded, student):
    sub = graded[student]
    assert sub["score"] == sub["max_score"], [(t["id"], t["message"]) for t in sub["tasks"]
                                              if t["points"] != t["max_points"]]
