"""Hygiene of the committed notebooks: run in order, outputs mostly compared, no errors.

nbval (run by ``pytest`` on notebooks/) re-executes each notebook and compares outputs;
these tests check what nbval cannot: that the committed outputs came from one run top
to bottom, and that enough of them are compared for the comparison to mean something.
"""
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip", "raises-exception"}
IGNORE_MARKERS = re.compile(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)")


def code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def is_ignored(cell) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []))
    return bool(tags & IGNORE_TAGS) or bool(IGNORE_MARKERS.search("".join(cell["source"])))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_order(path):
    counts = [c.get("execution_count") for c in code_cells(path)]
    assert None not in counts, f"{path.name}: some code cells were never run; run tools/run_notebooks.py"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(counts)}; re-run it top to bottom "
        "with tools/run_notebooks.py"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_most_outputs_are_compared(path):
    with_output = [c for c in code_cells(path) if c.get("outputs")]
    compared = [c for c in with_output if not is_ignored(c)]
    assert with_output, f"{path.name}: no cell has output"
    share = len(compared) / len(with_output)
    assert share >= 0.6, f"{path.name}: only {len(compared)}/{len(with_output)} output cells are compared by nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_errors_and_no_stray_figure_reprs(path):
    for i, cell in enumerate(code_cells(path)):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error" or "raises-exception" in cell.get("metadata", {}).get("tags", []), (
                f"{path.name} cell {i}: error output {out.get('ename')}: {out.get('evalue')}")
            text = "".join(out.get("data", {}).get("text/plain", "")) if out["output_type"] == "execute_result" else ""
            assert not re.match(r"(\[)?<(matplotlib|Figure)", text), (
                f"{path.name} cell {i}: a plot's return value is printed ({text[:40]!r}); end the line with ';' "
                "or call plt.show()")
