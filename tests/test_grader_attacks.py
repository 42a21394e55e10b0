"""Hostile and cheating submissions: none of them changes a verdict except through the values its functions return.

Every attack of the issue "Graded exercises a teacher can trust with 40 students" is planted
here, on the chapter 02 set, plus more: each attack notebook is made from the untouched
exercise (so a forged pass would show as points) or from the solution (so collateral damage
would show as lost points). They are graded in one class run, two at a time, through the
same code as ``python -m course_grader``. Attacks that damage files (other students'
notebooks, the hidden tests, the reports) are only planted when bubblewrap isolates the
notebooks: without it they would really damage this checkout, and the grader says so.

``tests/test_grader_static.py`` has the "write it yourself" aliases one by one (source only);
``tests/test_grader_codec.py`` the values that cannot be forged in transit.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from course_grader import sandbox
from course_grader.exercises import BEGIN, END
from course_grader.grade import GradeOptions, grade_notebook
from course_grader.gradebook import grade_class
from course_grader.hidden_tests.set02 import TASKS

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "02_attention_exercises.ipynb"
EXERCISE = ROOT / "exercises" / "02_attention_exercises.ipynb"
NAME = SOLUTION.name
MAX = {t.id: t.points for t in TASKS}
TOTAL = sum(MAX.values())
ISOLATED = sandbox.sandbox_kind() == "bwrap"
NEEDS_BWRAP = pytest.mark.skipif(not ISOLATED, reason="bubblewrap is not usable here, so notebooks are not isolated "
                                 "from the file system (the grader prints this); attacks on files are not planted")


def notebook(base: pathlib.Path, cells: tuple[str, ...] = (), bodies: dict | None = None, setup_prefix: str = ""):
    nb = nbformat.read(base, as_version=4)
    for task, body in (bodies or {}).items():
        cell = next(c for c in nb.cells if c.get("metadata", {}).get("course", {}).get("task") == task)
        lines = cell.source.splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == END)
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        cell.source = "\n".join(lines[:start] + [indent + b for b in body.splitlines()] + lines[end + 1:])
    if setup_prefix:
        first = next(c for c in nb.cells if c.cell_type == "code")
        first.source = setup_prefix + first.source
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    return nb


FORGE_TESTKIT = """
import importlib
for name in ("course_grader.testkit", "course_lib.testkit", "course_grader.hidden_tests.set02", "course_grader.grade"):
    try:
        m = importlib.import_module(name)
    except Exception as e:
        print("cannot import", name, e)
        continue
    m.run_task = lambda *a, **k: None
    m.evaluate_task = lambda task, *a, **k: {"id": task.id, "passed": True, "points": task.points, "message": "passed",
                                             "missing": [], "seconds": 0}
    for t in getattr(m, "TASKS", []):
        object.__setattr__(t, "test", lambda ns: None)
"""
FAKE_VERDICTS = """
import json
from IPython.display import display
for t in ("softmax", "scaled_dot_product_attention", "causal_mask", "split_heads", "merge_heads", "multi_head_attention"):
    v = {"id": t, "passed": True, "points": 3, "message": "passed", "missing": [], "nonce": "guess"}
    print(json.dumps(v))
    display({"application/vnd.course-lib.grade-result+json": v}, raw=True)
open("grades.json", "w").write(json.dumps({"submissions": [{"score": 12}]}))
"""
LIAR = """class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("__eq__", "allclose", "equal", "isclose", "eq"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

z = torch.zeros(*q.shape[:-1], v.shape[-1])
w = torch.zeros(*q.shape[:-1], k.shape[-2])
return torch.Tensor._make_subclass(Liar, z), torch.Tensor._make_subclass(Liar, w)"""
ALWAYS_EQUAL = """class AlwaysEqual:
    shape = (T, T)
    dtype = torch.bool
    def __eq__(self, other):
        return True
return AlwaysEqual()"""
PROTOCOL_GARBAGE = """import os
for fd in range(3, 30):
    try:
        os.write(fd, b"\\x00\\x00\\x00\\x05garbage")
    except OSError:
        pass
B, n_head, T, d_head = x.shape
return x.transpose(1, 2).reshape(B, T, n_head * d_head)"""
SWALLOWED = """try:
    torch.distributions.Categorical(logits=x).probs  # a library path to torch's softmax
except BaseException:
    pass
shifted = x - x.amax(dim=dim, keepdim=True)
e = shifted.exp()
return e / e.sum(dim=dim, keepdim=True)"""


def vandal(root: pathlib.Path) -> str:
    """A cell that tries to hurt every other student, the hidden tests and the reports, now and after grading."""
    targets = [str(p) for p in (root / "victim" / NAME, root / "grades.json", root / "gradebook.csv",
                                ROOT / "course_grader" / "hidden_tests" / "set02.py", ROOT / "solutions" / NAME)]
    return f"""
import os, glob
found = []
for cmd in glob.glob("/proc/*/cmdline"):  # the grader's command line names the submissions folder
    try:
        found += [a for a in open(cmd, "rb").read().decode(errors="ignore").split("\\0") if a.startswith("/")]
    except OSError:
        pass
for folder in found:
    for path in glob.glob(os.path.join(folder, "**", "*.ipynb"), recursive=True):
        try:
            open(path, "w").write("{{}}")
        except OSError:
            pass
for path in {targets!r}:
    try:
        open(path, "a").write("\\nTASKS = []  # vandalised\\n")
    except OSError:
        pass
if os.fork() == 0:  # a detached process that comes back after the grader is done
    os.setsid()
    if os.fork() == 0:
        import time
        time.sleep(6)
        for path in {targets!r}:
            try:
                open(path, "w").write("vandalised")
            except OSError:
                pass
    os._exit(0)
"""


@pytest.fixture(scope="module")
def attack_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    secret_file = root / "secret.txt"
    secret_file.write_text("SECRET-CONTENT-1234", encoding="utf-8")
    plans = {
        "forge_testkit": notebook(EXERCISE, (FORGE_TESTKIT,)),
        "fake_verdicts": notebook(EXERCISE, (FAKE_VERDICTS,)),
        "liar_values": notebook(SOLUTION, bodies={"scaled_dot_product_attention": LIAR, "causal_mask": ALWAYS_EQUAL}),
        "alias": notebook(SOLUTION, ("_sm = torch.softmax",), bodies={"softmax": "return _sm(x, dim)"}),
        "library_path": notebook(SOLUTION, bodies={
            "softmax": "return torch.distributions.Categorical(logits=x.movedim(dim, -1)).probs.movedim(-1, dim)"}),
        "swallowed_refusal": notebook(SOLUTION, bodies={"softmax": SWALLOWED}),
        "hang": notebook(SOLUTION, bodies={"causal_mask": "while True:\n    pass"}),
        "sleeping_cell": notebook(SOLUTION, ("import time\ntime.sleep(30)",)),
        "slow_setup": notebook(SOLUTION, setup_prefix="import time\ntime.sleep(14)  # a slow import on a busy machine\n"),
        "garbage_on_the_pipe": notebook(SOLUTION, bodies={"merge_heads": PROTOCOL_GARBAGE}),
        "memory_hog": notebook(SOLUTION, bodies={"split_heads": "big = torch.empty(8 * 2**30, dtype=torch.float64)\n"
                                                                "return big"}),
        "huge_value": notebook(SOLUTION, bodies={"causal_mask": "return torch.zeros(2**25, dtype=torch.float64)"}),
        "victim": nbformat.read(SOLUTION, as_version=4),
        "blank_after_vandal": nbformat.read(EXERCISE, as_version=4),
    }
    if ISOLATED:
        plans["vandal"] = notebook(EXERCISE, (vandal(root),))
    for student, nb in plans.items():
        (root / student).mkdir()
        nbformat.write(nb, root / student / NAME)
    (root / "symlink_to_solution").mkdir()
    os.symlink(SOLUTION, root / "symlink_to_solution" / NAME)
    (root / "symlink_to_a_secret").mkdir()
    os.symlink(secret_file, root / "symlink_to_a_secret" / NAME)
    stamps = {p: p.read_bytes() for p in [SOLUTION, ROOT / "course_grader" / "hidden_tests" / "set02.py",
                                          root / "victim" / NAME]}
    options = GradeOptions(timeout=10, task_timeout=8, setup_timeout=60)
    run = grade_class([str(root)], options, str(root / "grades.json"), str(root / "gradebook.csv"), jobs=2,
                      progress=False)
    report = json.loads((root / "grades.json").read_text(encoding="utf-8"))
    time.sleep(8 if ISOLATED else 0)  # the detached process would strike now
    return {s["student"]: s for s in report["submissions"]}, root, stamps, run


def points(sub) -> dict:
    return {t["id"]: t["points"] for t in sub["tasks"]}


def message(sub, task) -> str:
    return next(t["message"] for t in sub["tasks"] if t["id"] == task)


@pytest.mark.parametrize("student", ["forge_testkit", "fake_verdicts"])
def test_forged_verdicts_and_patched_tests_score_nothing(attack_run, student):
    subs, *_ = attack_run
    assert subs[student]["score"] == 0 and not any(t["message"] == "passed" for t in subs[student]["tasks"])
    assert all("not implemented yet" in t["message"] for t in subs[student]["tasks"] if t["id"] != "softmax")


def test_a_lying_tensor_subclass_or_an_always_equal_object_scores_nothing(attack_run):
    sub = attack_run[0]["liar_values"]
    assert points(sub)["scaled_dot_product_attention"] == 0 and points(sub)["causal_mask"] == 0
    assert "values differ" in message(sub, "scaled_dot_product_attention")  # its data arrived, not its lies
    assert "expected a torch.Tensor, got causal_mask.<locals>.AlwaysEqual" in message(sub, "causal_mask")
    # defining __torch_function__ is also a way around the run-time check of a forbidden function: the task
    # that forbids one (softmax) cannot be checked and says why; the others keep their points
    assert "defines __torch_function__" in message(sub, "softmax")
    assert sub["score"] == TOTAL - MAX["scaled_dot_product_attention"] - MAX["causal_mask"] - MAX["softmax"]


@pytest.mark.parametrize("student,pattern", [
    ("alias", r"line \d+ of code cell \d+ uses torch\.softmax"),  # found in the source, by the grader
    ("library_path", r"\(it (called torch\.nn\.functional\.softmax|ran torch's _softmax operator)\)"),  # at run time
    ("swallowed_refusal", r"\(it (called torch\.nn\.functional\.softmax|ran torch's _softmax operator)\)"),
])
def test_a_forbidden_function_costs_that_task_only(attack_run, student, pattern):
    sub = attack_run[0][student]
    assert points(sub)["softmax"] == 0 and re.search(pattern, message(sub, "softmax")), message(sub, "softmax")
    assert sub["score"] == TOTAL - MAX["softmax"]


def test_an_endless_loop_costs_its_task_only(attack_run):
    sub = attack_run[0]["hang"]
    assert points(sub)["causal_mask"] == 0 and "did not finish within 8 s" in message(sub, "causal_mask")
    assert sub["score"] == TOTAL - MAX["causal_mask"]


def test_a_sleeping_last_cell_costs_nothing(attack_run):
    sub = attack_run[0]["sleeping_cell"]
    assert sub["score"] == TOTAL
    assert any("did not finish within 10 s" in n for n in sub["notes"]), sub["notes"]


def test_a_slow_setup_cell_has_its_own_clock_and_is_reported(attack_run):
    sub = attack_run[0]["slow_setup"]
    assert sub["score"] == TOTAL and sub["notes"] == [], sub
    assert sub["timings"]["setup"] >= 14 > 10  # longer than the cell limit, within the set-up limit


def test_garbage_on_the_grader_pipe_costs_its_task_only(attack_run):
    sub = attack_run[0]["garbage_on_the_pipe"]
    assert points(sub)["merge_heads"] == 0 and "died" in message(sub, "merge_heads")
    assert points(sub)["multi_head_attention"] == MAX["multi_head_attention"]


def test_memory_and_value_limits(attack_run):
    subs = attack_run[0]
    assert points(subs["memory_hog"])["split_heads"] == 0
    assert "memory" in message(subs["memory_hog"], "split_heads"), message(subs["memory_hog"], "split_heads")
    assert subs["memory_hog"]["score"] == TOTAL - MAX["split_heads"]
    assert points(subs["huge_value"])["causal_mask"] == 0
    assert "cannot read" in message(subs["huge_value"], "causal_mask")


@pytest.mark.parametrize("student", ["symlink_to_solution", "symlink_to_a_secret"])
def test_symbolic_links_are_refused_and_never_read(attack_run, student):
    subs, root, _, _ = attack_run
    sub = subs[student]
    assert sub["score"] == 0 and "symbolic link" in sub["error"]
    assert "SECRET-CONTENT" not in (root / "grades.json").read_text() + (root / "gradebook.csv").read_text()


def test_the_victim_and_a_blank_notebook_keep_their_true_grades(attack_run):
    subs, root, stamps, _ = attack_run
    assert subs["victim"]["score"] == TOTAL
    assert subs["blank_after_vandal"]["score"] == 0


@NEEDS_BWRAP
def test_a_vandal_hurts_no_file_now_or_after_the_grader_is_done(attack_run):
    subs, root, stamps, _ = attack_run
    assert subs["vandal"]["score"] == 0
    for path, data in stamps.items():
        assert path.read_bytes() == data, f"{path} was changed"
    report = json.loads((root / "grades.json").read_text(encoding="utf-8"))  # still the grader's, whole
    assert {s["student"] for s in report["submissions"]} >= {"victim", "vandal"}
    rows = list(csv.DictReader((root / "gradebook.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows} >= {"victim", "vandal"}


def test_no_process_of_a_notebook_outlives_its_grading(attack_run):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "course_worker.runtime" not in ps


# ----------------------------------------------------------------------------- the sandbox, from the inside


FACTS = r'''
def facts():
    import os, sys, socket, resource, glob
    out = {"uid": os.getuid(), "path": list(sys.path), "env": sorted(os.environ)}
    try:
        import course_grader  # noqa
        out["course_grader"] = True
    except ImportError:
        out["course_grader"] = False
    out["solutions"] = os.path.exists(%r)
    out["repo"] = os.path.exists(%r)
    out["processes"] = len(glob.glob("/proc/[0-9]*"))
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        out["network"] = True
    except OSError:
        out["network"] = False
    out["memory"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    out["cwd_files"] = sorted(os.listdir("."))
    return out
''' % (str(ROOT / "solutions"), str(ROOT / "course_grader"))


def test_inside_the_sandbox():
    from course_grader.kernel import Kernel
    from course_grader.worker import codec

    kernel = Kernel(SOLUTION.read_bytes(), sandbox.Limits(memory_mb=4096), start_timeout=120, total=300)
    try:
        kernel.start()
        assert kernel.run_cell(0, FACTS, 30)["status"] == "ok"
        facts = kernel.call({"name": "facts", "args": codec.encode([]), "kwargs": codec.encode({})}, 30)["value"]
    finally:
        kernel.stop()
    assert facts["course_grader"] is False and str(ROOT) not in facts["path"]
    assert facts["memory"] == 4096 * 2**20
    assert [f for f in facts["cwd_files"] if not f.startswith(".")] == ["submission.ipynb"]  # only its own notebook
    assert "COURSE_GRADER_SECRET" not in facts["env"]
    if ISOLATED:
        assert facts["uid"] == 65534 and not facts["solutions"] and not facts["repo"] and not facts["network"]
        assert facts["processes"] < 5  # it sees its own processes only


# ----------------------------------------------------------------------------- time caps and kills


def test_a_notebook_has_a_total_time_cap(tmp_path):
    nb = notebook(SOLUTION, bodies={t: "import time\ntime.sleep(60)" for t in ("softmax", "scaled_dot_product_attention",
                                                                                "causal_mask", "split_heads")})
    nbformat.write(nb, tmp_path / NAME)
    sub = grade_notebook(tmp_path / NAME, GradeOptions(timeout=10, task_timeout=8, notebook_timeout=30))
    assert sub.timings["total"] < 60
    last = {t.id: t.message for t in sub.tasks}
    assert "not tested: the notebook used up its total time of 30 s" in last["multi_head_attention"], last
    assert sub.score == 0
    assert any("grading stopped" in n for n in sub.notes)


def _cli(root: pathlib.Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "course_grader", str(root / "class"), "--json",
                             str(root / "g.json"), "--csv", str(root / "g.csv"), "--no-progress", *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_results(path: pathlib.Path, n: int, timeout: float = 240) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["run"]["graded"] >= n:
                return data
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"no {n} result(s) in {path} after {timeout} s")


@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_a_killed_or_interrupted_grader_keeps_what_it_graded_and_resumes(tmp_path, how):
    for student in ("a", "b", "c"):
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy(EXERCISE, tmp_path / "class" / student / NAME)
    proc = _cli(tmp_path)
    _wait_for_results(tmp_path / "g.json", 1)
    if how == "SIGKILL":
        proc.kill()
    else:
        proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=120)
    assert code == (-signal.SIGKILL if how == "SIGKILL" else 130), proc.stderr.read()
    data = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))  # whole, valid JSON
    kept = data["run"]["graded"]
    assert kept >= 1 and data["run"]["complete"] is False
    time.sleep(2)
    assert "course_worker.runtime" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    again = _cli(tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 1, err  # the exercises score 0: not every task passed
    assert f"{kept} reused" in out, out
    final = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert final["run"]["complete"] is True and final["run"]["graded"] == 3
