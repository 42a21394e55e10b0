"""course_lib.scaling: the package's names (re-exported from its modules) and the command line (``__main__``)."""
import json
import math
import subprocess
import sys

import course_lib.scaling as scaling
from course_lib import compute
from course_lib.scaling import PRESETS

# What notebooks, solutions, exercises, hidden tests and benchmarks import from course_lib.scaling.
USED = ["BESIROGLU_2024", "HOFFMANN_2022", "KAPLAN_2020", "KAPLAN_2020_JOINT", "PF_DAY", "PRESETS", "ChinchillaLaw",
        "KaplanLaw", "fit_chinchilla", "fit_isoflop_minimum", "fit_power_law", "fit_power_law_with_floor",
        "isoflop_curve", "load_sweep", "run_sweep", "sweep_config", "training_flops", "width_lr",
        "SweepConfig", "char_data", "n_params", "plan_isoflop", "run_isoflop", "fit_budgets", "train_one"]


def test_every_public_name_is_importable_from_the_package():
    for name in USED + scaling.__all__:
        assert hasattr(scaling, name), name
    assert scaling.training_flops is compute.training_flops, "one definition of C = 6 N D"


def test_no_second_isoflop_module():
    import importlib.util

    assert importlib.util.find_spec("course_lib.isoflop") is None
    assert importlib.util.find_spec("course_lib.scaling_explorer") is None


def sweep_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "course_lib.scaling", "sweep", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_tiny_sweep_command_writes_json_and_resumes(tmp_path):
    out = tmp_path / "tiny.json"
    first = sweep_cli("--preset", "tiny", "--out", str(out), "--device", "cpu", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = json.loads(out.read_text())
    for key in ("runs", "exponent", "r2", "holdout_rel_error", "seconds", "command", "config", "machine", "date"):
        assert key in data, key
    assert data["complete"] and data["trained_runs"] == 3 and data["resumed_runs"] == 0
    assert [r["width"] for r in data["runs"]] == list(PRESETS["tiny"].widths)
    for run in data["runs"]:
        for key in ("width", "n_layer", "N", "D", "lr", "val_loss", "seconds"):
            assert key in run, key
        assert 0 < run["val_loss"] < math.log(200), "below the loss of a uniform guess over the characters"
    assert data["runs"][0]["N"] < data["runs"][-1]["N"]
    assert 0 <= data["r2"] <= 1 and data["holdout_rel_error"] >= 0
    assert "--preset tiny" in data["command"] and "torch" in data["machine"]

    second = sweep_cli("--preset", "tiny", "--out", str(out), "--device", "cpu", "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(out.read_text())
    assert again["trained_runs"] == 0 and again["resumed_runs"] == 3, "finished runs are not trained again"
    assert again["runs"] == data["runs"]


def test_cli_rejects_an_unknown_preset(tmp_path):
    result = sweep_cli("--preset", "huge", "--out", str(tmp_path / "x.json"), cwd=tmp_path)
    assert result.returncode == 2 and "choose one of" in result.stderr
    assert not (tmp_path / "x.json").exists()




def test_cli_with_two_widths_reports_that_no_fit_is_possible(tmp_path):
    out = tmp_path / "two.json"
    result = sweep_cli("--preset", "tiny", "--widths", "8,12", "--out", str(out), "--device", "cpu", "--no-progress",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "needs at least 3 widths" in result.stdout
    data = json.loads(out.read_text())
    assert data["complete"] and data["exponent"] is None and len(data["runs"]) == 2
