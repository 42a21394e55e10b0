"""The N x D grid (course_lib.scaling.grid): its points, resuming, parallel runs, the command."""
import json
from dataclasses import replace

import pytest

from course_lib.scaling import sweep
from course_lib.scaling.__main__ import main
from course_lib.scaling.grid import GRID_PRESETS, GridConfig, grid_config, load_grid, point_key, run_grid

TINY = GRID_PRESETS["tiny"]


def test_budget_points_spend_the_budget_in_whole_steps():
    points = GRID_PRESETS["default"].points(vocab_size=114, train_tokens=2_042_969)
    step = GRID_PRESETS["default"].model.tokens_per_step
    for p in points:
        assert p["tokens"] % step == 0
        assert 0 <= p["budget"] - 6 * p["N"] * p["tokens"] < 6 * p["N"] * step  # rounded down, by less than one step
        assert GRID_PRESETS["default"].min_tokens <= p["tokens"] <= 4.0 * 2_042_969
    assert len(points) >= 40
    assert len({p["key"] for p in points}) == len(points)
    # extra seeds only at the budget that asks for them
    seeds_by_budget = {}
    for p in points:
        seeds_by_budget.setdefault(p["budget"], set()).add(p["seed"])
    assert seeds_by_budget.pop(4e11) == {0, 1, 2}
    assert all(s == {0} for s in seeds_by_budget.values())


def test_points_over_the_epoch_limit_or_under_min_tokens_are_dropped():
    config = GridConfig(model=sweep.SweepConfig(n_layer=1, context_length=8, batch_size=4), widths=(8, 64),
                        token_counts=(64, 10_000), min_tokens=100, max_epochs=2.0)
    points = config.points(vocab_size=50, train_tokens=4_000)
    assert [(p["width"], p["tokens"]) for p in points] == []  # 64 < min_tokens, 10,000 > 2 x 4,000
    points = replace(config, max_epochs=3.0).points(vocab_size=50, train_tokens=4_000)
    assert sorted((p["width"], p["tokens"]) for p in points) == [(8, 9984), (64, 9984)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(budgets=(1e9,), token_counts=(1000,)), "either budgets"),
    (dict(), "either budgets"),
    (dict(budgets=(1e9,), widths=()), "widths is empty"),
    (dict(budgets=(-1.0,)), "budget"),
    (dict(budgets=(1e9,), lr_scales=(0.0,)), "lr scale"),
    (dict(budgets=(1e9,), extra_seeds=(1,), extra_seeds_at=(2e9,)), "not among"),
    (dict(budgets=(1e9,), seeds=()), "seeds is empty"),
])
def test_bad_grids_are_refused_with_what_to_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridConfig(**kwargs)


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        grid_config("huge")


def test_tiny_grid_trains_every_point_and_resumes_without_training(tmp_path):
    out = tmp_path / "grid.json"
    first = run_grid(TINY, out, progress=False)
    assert first["complete"] and first["trained_runs"] == first["planned"] == len(first["runs"]) == 9
    assert {r["seed"] for r in first["runs"] if r["budget"] == 2e8} == {0, 1}
    for r in first["runs"]:
        assert r["key"] == point_key(r["width"], r["D"], r["lr_scale"], r["seed"])
        assert r["val_loss"] > 0 and r["epochs"] > 0
    again = run_grid(TINY, out, progress=False)
    assert again["trained_runs"] == 0 and again["resumed_runs"] == 9
    assert [r["val_loss"] for r in again["runs"]] == [r["val_loss"] for r in first["runs"]]
    # fewer widths: the other runs stay in the file
    fewer = run_grid(replace(TINY, widths=(8,)), out, progress=False)
    assert fewer["trained_runs"] == 0 and len(fewer["runs"]) == 9 and fewer["complete"]
    assert load_grid(out)["kind"] == "grid"


def test_another_family_is_refused_unless_fresh(tmp_path):
    out = tmp_path / "grid.json"
    small = replace(TINY, widths=(8,), budgets=(2e8,), extra_seeds=(), extra_seeds_at=())
    run_grid(small, out, progress=False)
    other = replace(small, model=replace(small.model, lr=2e-2))
    with pytest.raises(ValueError, match=r"another model family \(differs in \['lr'\]\)"):
        run_grid(other, out, progress=False)
    assert run_grid(other, out, resume=False, progress=False)["config"]["model"]["lr"] == 2e-2


def test_two_processes_give_the_same_runs(tmp_path):
    small = replace(TINY, widths=(8, 12), budgets=(2e8,), extra_seeds=(), extra_seeds_at=())
    one = run_grid(small, tmp_path / "one.json", progress=False)
    two = run_grid(small, tmp_path / "two.json", progress=False, jobs=2)
    assert [(r["key"], r["val_loss"]) for r in one["runs"]] == [(r["key"], r["val_loss"]) for r in two["runs"]]


def test_the_command_writes_and_reports(tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["grid", "--preset", "tiny", "--widths", "8,12", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "6 runs trained, 0 resumed" in text and "complete: True" in text
    assert json.loads(out.read_text())["command"].startswith("python -m course_lib.scaling grid --preset tiny")
    assert main(["grid", "--preset", "nope", "--out", str(out)]) == 2
    assert "unknown grid preset" in capsys.readouterr().err
    one_seed = tmp_path / "s.json"  # --seeds replaces the preset's seeds (tiny: 0, and 1 at one budget)
    assert main(["grid", "--preset", "tiny", "--widths", "8,12", "--seeds", "3", "--out", str(one_seed), "--no-progress"]) == 0
    assert {r["seed"] for r in json.loads(one_seed.read_text())["runs"]} == {1, 3}


def test_a_sweep_file_is_not_a_grid(tmp_path):
    out = tmp_path / "s.json"
    sweep.run_sweep(sweep.PRESETS["tiny"], out, progress=False)
    with pytest.raises(ValueError, match="not an N x D grid"):
        load_grid(out)
    with pytest.raises(ValueError, match="not an N x D grid"):
        run_grid(TINY, out, progress=False)


def test_fresh_runs_read_the_whole_text_as_the_stored_grid_did():
    # data/scaling_grid.json and data/lr_bracket.json were trained on random windows of the whole text
    for preset in ("default", "lr", "lr-mup"):
        points = GRID_PRESETS[preset].points(vocab_size=114, train_tokens=2_042_969)
        assert {(p["unique_tokens"], p["chunk"]) for p in points} == {(2_042_969, None)}, preset


def test_repeated_data_points_read_u_distinct_characters_in_exact_passes(tmp_path):
    config = replace(TINY, widths=(8,), budgets=(), token_counts=(2_560, 10_240), repeats=(1, 4), extra_seeds=(),
                     extra_seeds_at=(), exact_passes=True, chunk=256, repeat_at=(10_240,), min_tokens=256,
                     max_epochs=8.0)
    points = config.points(vocab_size=50, train_tokens=100_000)
    assert [(p["tokens"], p["repeats"], p["unique_tokens"]) for p in points] == [
        (2_560, 1, 2_560), (10_240, 1, 10_240), (10_240, 4, 2_560)]  # (2,560, 4) is not at a repeat_at level
    assert points[2]["key"].endswith("-R4") and not points[1]["key"].endswith("-R1")
    assert [p["repeats"] for p in replace(config, max_epochs=2.0).points(50, 100_000)] == [1, 1]  # 4 passes > 2
    result = run_grid(config, tmp_path / "r.json", progress=False)
    by = {(r["D"], r["repeats"]): r for r in result["runs"]}
    assert by[(10_240, 4)]["epochs"] == pytest.approx(4.0) and by[(10_240, 1)]["epochs"] == pytest.approx(1.0)
    assert by[(10_240, 4)]["val_loss"] != by[(10_240, 1)]["val_loss"]
    assert {r["chunk"] for r in result["runs"]} == {256}
    with pytest.raises(ValueError, match="another model family.*exact_passes"):  # not mixed with whole-text runs
        run_grid(replace(config, exact_passes=False, repeats=(1,), repeat_at=()), tmp_path / "r.json", progress=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(repeats=(0,)), "repeat count"),
    (dict(repeats=(1, 2)), "exact_passes"),
    (dict(exact_passes=True, chunk=40), "multiple of context_length"),
    (dict(repeat_at=(3e8,)), "not among"),
])
def test_bad_repeat_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        replace(TINY, **kwargs)
