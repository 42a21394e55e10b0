"""course_lib.scaling.sweep: the one runner (config, learning-rate rule, data, one model, the resumable sweep)."""
import math
import pathlib

import pytest
import torch

from course_lib.scaling.sweep import (PRESETS, SweepConfig, char_data, load_sweep, n_params, run_sweep,
                                      sweep_config, train_one, width_lr)

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def one_thread():
    """Tiny models: one torch thread is as fast, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_learning_rate_rules():
    cfg = sweep_config("default")
    assert cfg.lr_rule == "inverse_width"
    lrs = {w: width_lr(cfg, w) for w in cfg.widths}
    assert len({round(lr * w, 12) for w, lr in lrs.items()}) == 1, "lr * width is constant"
    assert width_lr(cfg, cfg.lr_base_width) == pytest.approx(cfg.lr)
    single = sweep_config("default", lr_rule="constant")
    assert {width_lr(single, w) for w in single.widths} == {single.lr}
    ns = [n_params(w, 114, cfg) for w in cfg.widths]
    assert len(cfg.widths) >= 6 and max(ns) / min(ns) >= 10, "the live sweep: at least 6 sizes over a decade of N"
    assert cfg.n_layer >= 2 and cfg.context_length >= 64
    assert PRESETS["default"] == SweepConfig()
    mup = sweep_config("default", parametrization="mup")
    assert {width_lr(mup, w) for w in mup.widths} == {mup.lr}, "under muP the model scales each layer's rate"
    for w in (16, 24, 40, 56, 64):
        assert w % cfg.n_head(w) == 0



def test_n_params_matches_the_gpt_formula():
    config = SweepConfig(n_layer=2)
    for w in (4, 8, 16):
        # 12 d^2 weights and two LayerNorm gains per block, one final LayerNorm; no biases
        assert n_params(w, vocab_size=50, config=config) == 2 * (12 * w * w + 2 * w) + w
    assert n_params(8, 50, config) == n_params(8, 500, config)  # embeddings are not counted


def test_eval_batches_and_steps():
    cfg = sweep_config("default")
    assert cfg.steps == cfg.tokens // (cfg.batch_size * cfg.context_length)
    assert cfg.eval_batches == cfg.eval_tokens // (cfg.eval_batch_size * cfg.context_length) == 32  # 131,072 / (64 x 64)
    assert SweepConfig(eval_tokens=1).eval_batches == 1


def test_char_data_holds_out_the_end_of_the_text():
    train, val, vocab = char_data(max_chars=20_000, val_fraction=0.1)
    assert len(val) == 2_000 and len(train) == 18_000 and 10 < vocab < 256
    assert int(max(train.max(), val.max())) < vocab


def test_train_one_learns_a_predictable_sequence(one_thread):
    data = torch.arange(4).repeat(2000)  # 0 1 2 3 0 1 2 3 ...: the next token is determined
    config = SweepConfig(n_layer=1, context_length=8, batch_size=8, tokens=8 * 8 * 150, lr=1e-2, lr_base_width=8,
                         eval_batch_size=8, eval_tokens=2 * 8 * 8)
    run = train_one(config, 8, (data[:7000], data[7000:], 4))
    assert run["steps"] == 150 and run["D"] == 150 * 64
    assert run["flops"] == 6 * run["N"] * run["D"]
    assert run["lr"] == width_lr(config, 8) and run["n_head"] == config.n_head(8)
    assert run["val_loss"] < 0.2 * math.log(4)
    assert train_one(config, 8, (data[:7000], data[7000:], 4), steps=3)["steps"] == 3


@pytest.mark.parametrize("call", [
    lambda: sweep_config("huge"),
    lambda: sweep_config("tiny", widths=(8, 8)),
    lambda: sweep_config("tiny", widths=()),
    lambda: sweep_config("tiny", tokens=-5),
    lambda: sweep_config("tiny", tokens=10),
    lambda: sweep_config("tiny", learning_rate=1e-3),
    lambda: sweep_config("tiny", lr_rule="sqrt"),
    lambda: sweep_config("tiny", val_fraction=1.0),
    lambda: sweep_config("tiny", max_chars=5),
    lambda: SweepConfig(lr=0.0),
    lambda: SweepConfig(eval_batch_size=0),
    lambda: load_sweep("/nonexistent/results.json"),
    lambda: run_sweep("default"),
    lambda: train_one(SweepConfig(), 8, (torch.arange(10), torch.arange(10), 10)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_say_what_to_do():
    with pytest.raises(ValueError, match="choose one of"):
        sweep_config("huge")
    with pytest.raises(ValueError, match="lr"):
        SweepConfig(lr=0.0)


def test_interrupted_sweep_keeps_finished_runs_and_resumes(tmp_path):
    out = tmp_path / "sweep.json"
    cfg = sweep_config("tiny", device="cpu")

    def stop_after_first(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, out, progress=False, on_run_end=stop_after_first)
    partial = load_sweep(out)
    assert len(partial["runs"]) == 1 and not partial["complete"] and partial["r2"] is None

    result = run_sweep(cfg, out, progress=False)
    assert result["resumed_runs"] == 1 and result["trained_runs"] == 2
    assert result["runs"][0] == partial["runs"][0]
    assert result["complete"] and len(result["runs"]) == 3

    # A different configuration in the same file is refused unless asked to start over.
    other = sweep_config("tiny", device="cpu", lr=3e-3)
    with pytest.raises(ValueError, match="different configuration"):
        run_sweep(other, out, progress=False)
    fresh = run_sweep(sweep_config("tiny", device="cpu", widths=(8, 12, 16)), out, progress=False, resume=False)
    assert fresh["trained_runs"] == 3 and fresh["resumed_runs"] == 0


def test_a_file_without_a_newer_field_still_resumes(tmp_path, one_thread):
    """A sweep written before ``eval_batch_size`` existed (it was always 64) resumes when it is 64."""
    import json

    out = tmp_path / "sweep.json"
    cfg = sweep_config("tiny", device="cpu", widths=(8, 12, 16))
    first = run_sweep(cfg, out, progress=False)
    old = json.loads(out.read_text())
    del old["config"]["eval_batch_size"]
    out.write_text(json.dumps(old))
    again = run_sweep(cfg, out, progress=False)
    assert again["resumed_runs"] == 3 and again["trained_runs"] == 0 and again["runs"] == first["runs"]
    assert PRESETS["tiny"].eval_batch_size == 64


def test_resuming_with_fewer_widths_keeps_every_finished_run(tmp_path, one_thread):
    out = tmp_path / "sweep.json"
    run_sweep(sweep_config("tiny", device="cpu", widths=(8, 12, 16)), out, progress=False)
    fewer = run_sweep(sweep_config("tiny", device="cpu", widths=(8, 12)), out, progress=False)
    assert fewer["trained_runs"] == 0 and [r["width"] for r in fewer["runs"]] == [8, 12]
    assert [r["width"] for r in fewer["other_runs"]] == [16], "the finished width-16 run stays in the file"
    on_disk = load_sweep(out)
    assert [r["width"] for r in on_disk["other_runs"]] == [16]
    again = run_sweep(sweep_config("tiny", device="cpu", widths=(8, 12, 16)), out, progress=False)
    assert again["trained_runs"] == 0 and again["resumed_runs"] == 3 and again["other_runs"] == []


def test_an_unwritable_output_is_refused_before_training(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    trained = []
    with pytest.raises(ValueError, match="is a folder"):
        run_sweep(sweep_config("tiny", device="cpu"), folder, progress=False, on_run_end=trained.append)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="cannot write the results"):
        run_sweep(sweep_config("tiny", device="cpu"), blocker / "sweep.json", progress=False, on_run_end=trained.append)
    assert trained == []


def test_parallel_jobs_give_the_same_runs_as_one_job(tmp_path, one_thread):
    cfg = sweep_config("tiny", device="cpu")
    serial = run_sweep(cfg, tmp_path / "serial.json", progress=False)
    seen = []
    parallel = run_sweep(cfg, tmp_path / "parallel.json", progress=False, jobs=2, on_run_end=seen.append)
    assert parallel["trained_runs"] == 3 and len(seen) == 3 and parallel["machine"]["jobs"] == 2
    keys = ("width", "N", "D", "steps", "lr", "val_loss", "train_loss_mean")
    assert [{k: r[k] for k in keys} for r in parallel["runs"]] == [{k: r[k] for k in keys} for r in serial["runs"]]
    assert load_sweep(tmp_path / "parallel.json")["complete"]
    with pytest.raises(ValueError, match="jobs"):
        run_sweep(cfg, tmp_path / "x.json", progress=False, jobs=0)


def _fails_on_two(x):
    if x == 2:
        raise RuntimeError("task 2 failed")
    return x * 10


def test_run_in_processes_hands_back_every_result_and_reraises_errors():
    from course_lib.scaling.parallel import run_in_processes

    got = []
    run_in_processes(_fails_on_two, [(1,), (3,), (4,)], 2, got.append)
    assert sorted(got) == [10, 30, 40]
    with pytest.raises(RuntimeError, match="task 2 failed"):
        run_in_processes(_fails_on_two, [(1,), (2,)], 2, got.append)


def test_submitit_local_executor_gives_the_same_runs(tmp_path, one_thread):
    cfg = sweep_config("tiny", device="cpu", widths=(8, 12))
    serial = run_sweep(cfg, tmp_path / "serial.json", progress=False)
    jobs = run_sweep(cfg, tmp_path / "jobs" / "sweep.json", progress=False, executor="local")
    keys = ("width", "N", "val_loss", "train_loss_mean")
    assert [{k: r[k] for k in keys} for r in jobs["runs"]] == [{k: r[k] for k in keys} for r in serial["runs"]]
    assert (tmp_path / "jobs" / "submitit").is_dir()  # the jobs' logs
    with pytest.raises(ValueError, match="executor must be 'local' or 'slurm'"):
        run_sweep(sweep_config("tiny", device="cpu", widths=(16,)), tmp_path / "x.json", progress=False,
                  executor="kubernetes")
