"""Resumable checkpoints: an interrupted run resumed from its checkpoint has the losses of the uninterrupted run."""
import warnings

import pytest
import torch

from course_lib.checkpoint import STATE_FILE, load_training_state
from course_lib.model import GPT, GPTConfig
from course_lib.text import random_windows
from course_lib.train import train, train_loop

DATA = torch.randint(0, 32, (4_000,), generator=torch.Generator().manual_seed(0))
CONFIG = GPTConfig(vocab_size=32, context_length=16, n_layer=1, n_head=2, d_model=16, dropout=0.1)


def model():
    torch.manual_seed(0)
    return GPT(CONFIG)


def batches(stop_at=None):
    def next_batch(step, g):
        if step == stop_at:
            raise KeyboardInterrupt
        return random_windows(DATA, 8, 16, g)
    return next_batch


SETTINGS = dict(steps=20, lr=3e-3, eval_every=5, seed=3)


def test_an_interrupted_run_resumes_with_the_same_losses(tmp_path, one_thread):
    whole = model()
    full = train_loop(whole, batches(), lambda m, b: m(*b)[1], **SETTINGS)

    part = model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cut = train_loop(part, batches(stop_at=12), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, **SETTINGS)
    assert cut.interrupted and cut.step[-1] == 12  # the history so far, with a partial record
    assert load_training_state(tmp_path)["step"] == 12

    resumed_model = model()  # fresh weights: everything comes from the checkpoint
    resumed = train_loop(resumed_model, batches(), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, resume=True,
                         **SETTINGS)
    assert resumed.step == full.step
    assert resumed.train_loss == pytest.approx(full.train_loss, rel=1e-6, abs=1e-7)
    for a, b in zip(whole.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_checkpoint_of_another_run_is_refused_before_training(tmp_path, one_thread):
    train_loop(model(), batches(), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, **SETTINGS)
    before = (tmp_path / STATE_FILE).read_bytes()
    other = dict(SETTINGS, lr=1e-3)
    with pytest.raises(ValueError, match="different run.*lr: checkpoint 0.003, now 0.001"):
        train_loop(model(), batches(), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, resume=True, **other)
    assert (tmp_path / STATE_FILE).read_bytes() == before
    data_changed = dict(steps=4, batch_size=8, lr=1e-3, eval_every=2, progress=False)
    train(model(), DATA, steps=4, batch_size=8, lr=1e-3, eval_every=2, progress=False, checkpoint_dir=tmp_path / "t")
    with pytest.raises(ValueError, match="batch_size: checkpoint 8, now 4"):
        train(model(), DATA, **dict(data_changed, batch_size=4), checkpoint_dir=tmp_path / "t", resume=True)


def test_a_finished_run_resumes_to_nothing_and_mismatched_files_are_detected(tmp_path, one_thread):
    first = train_loop(model(), batches(), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, **SETTINGS)
    again = train_loop(model(), batches(), lambda m, b: m(*b)[1], checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    assert again.train_loss == first.train_loss  # nothing left to train: the stored history comes back
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    state["step"] = 15
    torch.save(state, tmp_path / STATE_FILE)
    with pytest.raises(ValueError, match="weights are from step 20"):
        load_training_state(tmp_path)


def test_bfloat16_autocast_trains_close_to_float32_and_bad_precision_is_refused(one_thread):
    plain = train_loop(model(), batches(), lambda m, b: m(*b)[1], **SETTINGS)
    mixed = train_loop(model(), batches(), lambda m, b: m(*b)[1], precision="bfloat16", **SETTINGS)
    assert mixed.train_loss != plain.train_loss  # it did compute in bfloat16 ...
    assert mixed.train_loss == pytest.approx(plain.train_loss, rel=0.02)  # ... and learned the same
    with pytest.raises(ValueError, match="precision must be one of"):
        train_loop(model(), batches(), lambda m, b: m(*b)[1], precision="fp8", **SETTINGS)
