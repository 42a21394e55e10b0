"""course_lib.feedback: check cells print one friendly line per check and never a traceback."""
from __future__ import annotations

import io

import pytest
import torch

from course_lib.feedback import FAIL, PASS, TODO, checking


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
