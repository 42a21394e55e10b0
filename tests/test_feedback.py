"""course_lib.feedback: check cells print one friendly line per check and never a traceback.

Also: the check cells (``Checker.close``) and the hidden tests (``course_grader.testkit.expect_close``)
judge "close enough" by the same rule, ``feedback.compare``.
"""
from __future__ import annotations

import io

import pytest
import torch

from course_grader.testkit import TaskFailed, expect_close
from course_lib.feedback import FAIL, PASS, TODO, Checker, _StopChecks, checking, compare


def run(block) -> list[str]:
    """Run ``block(check)`` inside ``checking("f")``; return the printed lines."""
    out = io.StringIO()
    with checking("f", out=out) as check:
        block(check)
    return out.getvalue().splitlines()


def not_done(*args):
    raise NotImplementedError()


def test_not_implemented_is_one_line_without_traceback():
    lines = run(lambda check: check.shape(not_done(torch.ones(2)), (2,)))
    assert lines == [f"{TODO} f: not implemented yet. Replace `raise NotImplementedError()` with your code, "
                     "run that cell, then this one."]


def test_not_implemented_in_a_function_it_calls_names_that_function():
    # Code typed into a notebook runs in __main__; simulate that for the helper it calls.
    ns = {"__name__": "__main__"}
    exec("def helper(x):\n    raise NotImplementedError()\ndef f(x):\n    return helper(x)", ns)
    lines = run(lambda check: ns["f"](1))
    assert lines == [f"{TODO} f: it calls helper, which is not implemented yet; do that task first."]


def test_other_exceptions_are_reported_with_the_learner_line():
    ns = {"__name__": "__main__"}
    exec("def f(x):\n    y = x\n    return y.nope", ns)
    lines = run(lambda check: ns["f"](torch.ones(1)))
    assert len(lines) == 1 and lines[0].startswith(f"{FAIL} f: raised AttributeError:")
    assert lines[0].endswith("(line 3 of f)")


def test_keyboard_interrupt_is_not_swallowed():
    def block(check):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(block)


def test_all_passing_checks_and_summary():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    lines = run(lambda check: (check.shape(x, (2, 2), "x"), check.dtype(x, torch.float32, "x"),
                               check.close(x, x.clone(), "x"), check.true(True, "a property"),
                               check.equal(3, 3, "three")))
    assert lines[:5] == [f"{PASS} x: shape (2, 2)", f"{PASS} x: dtype torch.float32", f"{PASS} x: values match",
                         f"{PASS} a property: yes", f"{PASS} three: 3"]
    assert lines[5].startswith("f: all 5 checks passed.")


def test_mismatch_shows_one_position_expected_and_got():
    got = torch.tensor([[0.1, 0.2], [0.3, float("nan")]])
    lines = run(lambda check: check.close(got, torch.tensor([[0.1, 0.2], [0.3, 0.4]]), "y"))
    assert lines[0] == (f"{FAIL} y: at index (1, 1) expected 0.4, got nan (1 of 4 values differ); "
                        "NaN appeared: did exp overflow, or 0/0 or -inf - (-inf) happen?")
    assert lines[1] == "f: 0 of 1 checks passed."


def test_wrong_shape_or_type_stops_the_block():
    lines = run(lambda check: (check.shape(torch.ones(3, 2), (2, 3), "z"), check.true(False, "never reached")))
    assert lines == [f"{FAIL} z: expected shape (2, 3), got (3, 2)",
                     "f: stopped after that failure; fix it and run this cell again."]
    lines = run(lambda check: check.close(None, torch.ones(1), "w"))
    assert lines[0] == f"{FAIL} w: expected a torch.Tensor, got NoneType (did the function forget to `return`?)"
    lines = run(lambda check: check.unpack(torch.ones(2), ("output", "weights"), "attention"))
    assert lines[0] == f"{FAIL} attention: expected a tuple of 2 (output, weights), got torch.Tensor"


def test_bool_values_dtype_and_raises():
    mask = torch.tensor([True, False])
    lines = run(lambda check: (check.close(mask, torch.tensor([True, True]), "m"),
                               check.dtype(mask.int(), torch.bool, "m"),
                               check.raises(ValueError, int, "x", what="int('x')"),
                               check.raises(ValueError, int, "1", what="int('1')")))
    assert lines[0] == f"{FAIL} m: at index (1,) expected True, got False (1 of 2 values differ)"
    assert lines[1] == f"{FAIL} m: expected dtype torch.bool, got torch.int32"
    assert lines[2].startswith(f"{PASS} int('x'): raises ValueError")
    assert lines[3] == f"{FAIL} int('1'): expected ValueError, but nothing was raised"


F32, F64 = torch.float32, torch.float64
NAN, INF = float("nan"), float("inf")

# (label, got, expected, atol, rtol, passes?)
AGREEMENT = [
    ("equal floats", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), 1e-5, 1e-4, True),
    ("shape mismatch", torch.ones(2, 3), torch.ones(3, 2), 1e-5, 1e-4, False),
    ("one element vs a 0-d reference", torch.ones(1), torch.tensor(1.0), 1e-5, 1e-4, False),
    ("not a tensor", [1.0, 2.0], torch.tensor([1.0, 2.0]), 1e-5, 1e-4, False),
    ("None", None, torch.tensor([1.0]), 1e-5, 1e-4, False),
    ("empty", torch.zeros(0, 3), torch.zeros(0, 3), 0.0, 0.0, True),
    ("float32 vs a float64 reference", torch.tensor([0.1], dtype=F32), torch.tensor([0.1], dtype=F64), 1e-6, 0.0, True),
    ("float32 rounding at an exact tolerance", torch.tensor([0.1], dtype=F32), torch.tensor([0.1], dtype=F64), 0.0, 0.0,
     False),
    ("integers where floats are expected", torch.tensor([1, 2]), torch.tensor([1.0, 2.0]), 1e-5, 1e-4, False),
    ("complex values", torch.tensor([1 + 0j]), torch.tensor([1.0]), 1e-5, 1e-4, False),
    ("floats equal to an int reference", torch.tensor([3.0, 4.0]), torch.tensor([3, 4]), 0.0, 0.0, True),
    ("floats near an int reference (ints are exact)", torch.tensor([3.0 + 1e-6, 4.0], dtype=F64), torch.tensor([3, 4]),
     1e-3, 1e-3, False),
    ("bool vs bool", torch.tensor([True, False]), torch.tensor([True, False]), 0.0, 0.0, True),
    ("bool differs", torch.tensor([True, False]), torch.tensor([True, True]), 1e-5, 1e-4, False),
    ("int32 0/1 vs a bool reference", torch.tensor([1, 0], dtype=torch.int32), torch.tensor([True, False]), 0.0, 0.0,
     True),
    ("int64 vs int64, off by one", torch.tensor([5, 7]), torch.tensor([5, 8]), 10.0, 10.0, False),
    ("NaN where a number is expected", torch.tensor([NAN]), torch.tensor([1.0]), 1e-5, 1e-4, False),
    ("NaN where NaN is expected", torch.tensor([NAN]), torch.tensor([NAN]), 1e-5, 1e-4, False),
    ("equal infinities", torch.tensor([INF, -INF]), torch.tensor([INF, -INF]), 1e-5, 1e-4, True),
    ("opposite infinities", torch.tensor([-INF]), torch.tensor([INF]), 1e-5, 1e-4, False),
    ("a number where inf is expected", torch.tensor([1e300], dtype=F64), torch.tensor([INF], dtype=F64), 1e-5, 1e-4,
     False),
    ("on the atol boundary", torch.tensor([1.5], dtype=F64), torch.tensor([1.0], dtype=F64), 0.5, 0.0, True),
    ("just past the atol boundary", torch.tensor([1.5 + 1e-12], dtype=F64), torch.tensor([1.0], dtype=F64), 0.5, 0.0,
     False),
    ("on the rtol boundary", torch.tensor([-2.5], dtype=F64), torch.tensor([-2.0], dtype=F64), 0.0, 0.25, True),
    ("just past the rtol boundary", torch.tensor([-2.5 - 1e-12], dtype=F64), torch.tensor([-2.0], dtype=F64), 0.0, 0.25,
     False),
    ("atol + rtol * |expected| together", torch.tensor([4.75], dtype=F64), torch.tensor([4.0], dtype=F64), 0.25, 0.125,
     True),
]


def _checker_passes(got, expected, atol, rtol) -> bool:
    checker = Checker("f", out=io.StringIO())
    try:
        return checker.close(got, expected, "x", atol=atol, rtol=rtol)
    except _StopChecks:
        return False


def _grader_passes(got, expected, atol, rtol) -> bool:
    try:
        expect_close(got, expected, "x", atol=atol, rtol=rtol)
    except TaskFailed:
        return False
    return True


@pytest.mark.parametrize("label,got,expected,atol,rtol,passes", AGREEMENT, ids=[a[0] for a in AGREEMENT])
def test_check_cells_and_hidden_tests_agree(label, got, expected, atol, rtol, passes):
    assert _checker_passes(got, expected, atol, rtol) is passes
    assert _grader_passes(got, expected, atol, rtol) is passes
    assert (compare(got, expected, atol=atol, rtol=rtol) is None) is passes


def test_compare_says_what_differs():
    assert compare(torch.ones(2), torch.ones(3)).kind == "shape"
    assert compare(None, torch.ones(1)).kind == "type"
    assert compare(torch.tensor([1, 2]), torch.tensor([1.0, 2.0])).kind == "dtype"
    m = compare(torch.tensor([[0.0, 1.0], [NAN, 3.0]]), torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    assert (m.kind, m.index, m.expected, m.nonfinite, m.bad, m.total) == ("values", (1, 0), 2.0, "nan", 1, 4)
    with pytest.raises(ValueError, match="atol and rtol"):
        compare(torch.ones(1), torch.ones(1), atol=-1.0)


def test_ok_means_every_check_of_a_finished_block_passed():
    out = io.StringIO()
    with checking("f", out=out) as check:
        check.true(True, "one")
    assert check.ok
    with checking("f", out=out) as check:
        check.true(True, "one")
        check.true(False, "two")
    assert not check.ok
    with checking("f", out=out) as check:
        check.true(True, "one")
        not_done()
    assert not check.ok  # not implemented: the block did not finish
    with checking("f", out=out) as check:
        pass
    assert not check.ok  # no check at all
