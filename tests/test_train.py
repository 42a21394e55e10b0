"""course_lib.train: the one loop, its four trainers, schedule, determinism, checkpoints, bad input."""
import json
import math

import pytest
import torch

from course_lib.device import pick_device
from course_lib.model import GPT, GPTConfig
from course_lib import train as train_module
from course_lib.objectives import MaskedLMEncoder, source_vocab_size, target_vocab_size
from course_lib.train import (
    History,
    estimate_loss,
    load_checkpoint,
    lr_at,
    train,
    train_loop,
    train_masked_lm,
    train_toy_task,
    train_translation,
)
from course_lib.transformer import PAD, Seq2SeqTransformer

CONFIG = dict(vocab_size=16, context_length=16, n_layer=1, n_head=2, d_model=32)


def periodic_data(n=4000, period=5):
    """A sequence that repeats 0, 1, ..., period-1: perfectly predictable after one period."""
    return torch.arange(n) % period


def fresh_model(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**CONFIG, **kw}))


def test_lr_schedule_shape():
    lrs = [lr_at(s, 1.0, 10, 100, 0.1) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10])), "warmup rises"
    assert all(a >= b for a, b in zip(lrs[10:100], lrs[11:101])), "cosine decays"
    assert lrs[55] == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-9), "half way through the cosine"
    assert lrs[100] == lrs[119] == pytest.approx(0.1)


def test_training_learns_a_predictable_sequence():
    data = periodic_data()
    h = train(fresh_model(), data[:3000], data[3000:], steps=100, batch_size=8, lr=1e-2, progress=False)
    assert h.train_loss[0] > 1.0
    assert h.final_val_loss < 0.1, "a periodic sequence is predictable: the loss must fall near zero"
    assert h.step[-1] == 100 and h.tokens[-1] == 100 * 8 * 16
    assert len(h.step) == len(h.val_loss) == len(h.train_loss) == len(h.wall_time) == 10


def test_same_seed_gives_identical_losses():
    data = torch.randint(16, (3000,), generator=torch.Generator().manual_seed(0))
    runs = [train(fresh_model(), data, data, steps=15, batch_size=4, eval_every=5, progress=False) for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].val_loss == runs[1].val_loss
    other = train(fresh_model(), data, data, steps=15, batch_size=4, eval_every=5, seed=1, progress=False)
    assert other.train_loss != runs[0].train_loss, "a different seed draws different batches"


def test_dropout_is_seeded_too():
    data = torch.randint(16, (3000,), generator=torch.Generator().manual_seed(0))
    a = train(fresh_model(dropout=0.2), data, steps=5, batch_size=4, progress=False)
    b = train(fresh_model(dropout=0.2), data, steps=5, batch_size=4, progress=False)
    assert a.train_loss == b.train_loss


def test_bits_per_byte_conversion():
    h = History(bytes_per_token=2.0, train_loss=[math.log(2) * 4], val_loss=[math.log(2) * 2])
    assert h.train_bpb == [pytest.approx(2.0)] and h.val_bpb == [pytest.approx(1.0)]


def test_checkpoint_round_trip(tmp_path):
    data = periodic_data()
    model = fresh_model()
    h = train(model, data, data, steps=10, batch_size=4, checkpoint_dir=tmp_path, progress=False)
    assert (tmp_path / "model.safetensors").exists()
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["val_loss"] == h.val_loss
    loaded = load_checkpoint(tmp_path)
    x = data[:16][None]
    assert torch.equal(loaded(x)[0], model(x)[0])
    with pytest.raises(ValueError, match="no model.safetensors"):
        load_checkpoint(tmp_path / "nowhere")


def test_history_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    data = periodic_data()
    h = train(fresh_model(), data, data, steps=4, batch_size=4, eval_every=2, progress=False)
    ax = h.plot(unit="bpb", x="step")
    assert ax.get_ylabel() == "bits per byte" and len(ax.lines) == 2
    with pytest.raises(ValueError, match="unit"):
        h.plot(unit="perplexity")


def test_estimate_loss_is_repeatable():
    data = periodic_data()
    model = fresh_model()
    assert estimate_loss(model, data, 4, 16) == estimate_loss(model, data, 4, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=0), "steps must be at least 1"),
        (dict(steps=2.5), "steps must be an int"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=-1.0), "lr must be a finite number > 0"),
        (dict(lr=float("nan")), "lr must be a finite number > 0"),
        (dict(eval_every=0), "eval_every"),
        (dict(warmup_steps=-1), "warmup_steps"),
        (dict(device="tpu"), "device"),
        (dict(grad_clip=0.0), "grad_clip"),
    ],
)
def test_bad_arguments(kwargs, message):
    data = periodic_data()
    args = dict(steps=2, batch_size=2, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train(fresh_model(), data, **args)


def test_bad_data():
    with pytest.raises(ValueError, match="fewer than context_length"):
        train(fresh_model(), torch.arange(10) % 5, steps=2, progress=False)
    with pytest.raises(ValueError, match="1-D integer tensor"):
        train(fresh_model(), torch.rand(100), steps=2, progress=False)
    with pytest.raises(ValueError, match="context_length"):
        train(torch.nn.Linear(2, 2), periodic_data(), steps=2, progress=False)


def test_divergence_is_reported_not_silent():
    data = torch.randint(16, (3000,), generator=torch.Generator().manual_seed(0))
    model = fresh_model()
    with torch.no_grad():
        model.wte.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="diverged"):
        train(model, data, steps=3, batch_size=2, progress=False)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device|unsupported device"):
        pick_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


def test_interrupting_returns_the_history_and_saves(tmp_path):
    data = periodic_data()
    model = fresh_model()
    calls = {"n": 0}
    forward = model.forward

    def interrupting_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    model.forward = interrupting_forward
    with pytest.warns(UserWarning, match="interrupted"):
        h = train(model, data, steps=50, batch_size=2, eval_every=100, checkpoint_dir=tmp_path, progress=False)
    assert h.interrupted and h.step == [7]
    assert (tmp_path / "model.safetensors").exists()


# ----------------------------------------------------------------------------- one loop, four trainers


def tiny_seq2seq(src_vocab=7, tgt_vocab=7):
    torch.manual_seed(0)
    return Seq2SeqTransformer(src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=64, dropout=0.0, max_len=16, pad_idx=PAD)


TRAINERS = {  # name -> (make the model, train it for `steps` steps)
    "toy": (lambda: tiny_seq2seq(), lambda m, steps: train_toy_task(m, steps, batch_size=32, lr=3e-3, min_len=3,
                                                                    max_len=4, n_digits=4)),
    "masked_lm": (lambda: MaskedLMEncoder(vocab_size=16, context_length=8, d_model=32, n_layer=1, n_head=2),
                  lambda m, steps: train_masked_lm(m, (torch.arange(3000) % 5) * 3, steps, batch_size=32, lr=5e-3)),
    "translation": (lambda: tiny_seq2seq(source_vocab_size(), target_vocab_size()),
                    lambda m, steps: train_translation(m, torch.arange(100), steps, batch_size=32, lr=3e-3)),
    "language_model": (lambda: fresh_model(),
                       lambda m, steps: train(m, periodic_data(), steps=steps, batch_size=8, lr=1e-2, eval_every=1,
                                              progress=False)),
}


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_runs_the_one_loop(name, monkeypatch):
    calls = []
    loop = train_module.train_loop

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return loop(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_loop", spy)
    make, run = TRAINERS[name]
    torch.manual_seed(0)
    model = make()
    h = run(model, 40)
    assert len(calls) == 1, "each trainer is a thin wrapper over train_loop"
    assert isinstance(h, History) and h.step == list(range(1, 41)) and len(h.train_loss) == 40
    assert sum(h.train_loss[-5:]) / 5 < 0.7 * sum(h.train_loss[:5]) / 5, "the loss falls"
    assert h.tokens == sorted(h.tokens) and h.tokens[0] > 0 and not h.interrupted
    assert not model.training, "the model is left in eval mode"


def test_train_loop_records_metrics_and_is_seeded():
    data = periodic_data()
    runs = []
    for _ in range(2):
        model = fresh_model(dropout=0.1)
        runs.append(train_loop(model, lambda step, g: tuple(train_module.random_windows(data, 4, 16, g)),
                               lambda m, batch: m(*batch)[1], 6, lr=1e-2, eval_every=3,
                               val_loss_fn=lambda m: estimate_loss(m, data, 4, 16, 2),
                               on_eval=lambda m: {"calls": 1.0}))
    a, b = runs
    assert a.step == [3, 6] and a.tokens == [3 * 64, 6 * 64] and a.metrics == {"calls": [1.0, 1.0]}
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss, "same seed, same numbers"


def test_train_loop_rejects_bad_input():
    model = fresh_model()
    batch = lambda step, g: (torch.zeros(1, 4, dtype=torch.long),) * 2  # noqa: E731
    loss = lambda m, b: m(*b)[1]  # noqa: E731
    bad = [
        (dict(model="gpt"), "model must be a torch.nn.Module"),
        (dict(next_batch=[1, 2]), "next_batch must be a function"),
        (dict(loss_fn=None), "loss_fn must be a function"),
        (dict(steps=0), "steps must be at least 1"),
        (dict(steps=True), "steps must be an int"),
        (dict(lr=0.0), "lr must be a finite number > 0"),
        (dict(grad_clip=-1.0), "grad_clip"),
        (dict(eval_every=0), "eval_every"),
        (dict(min_lr=-1.0), "min_lr"),
        (dict(num_threads=0), "num_threads"),
        (dict(next_batch=lambda step, g: "text"), "next_batch must return a tensor"),
        (dict(loss_fn=lambda m, b: 1.0), "loss_fn must return a 0-d tensor"),
        (dict(loss_fn=lambda m, b: m(*b)[0]), "loss_fn must return a 0-d tensor"),
    ]
    for change, message in bad:
        args = {**dict(model=model, next_batch=batch, loss_fn=loss, steps=2, lr=1e-3), **change}
        with pytest.raises(ValueError, match=message):
            train_loop(args.pop("model"), args.pop("next_batch"), args.pop("loss_fn"), args.pop("steps"), **args)


def test_trainers_reject_bad_input():
    with pytest.raises(ValueError, match="needs vocabularies"):
        train_toy_task(tiny_seq2seq(), 1, n_digits=20)
    with pytest.raises(ValueError, match="mask token"):
        train_masked_lm(MaskedLMEncoder(vocab_size=16, context_length=8, d_model=32, n_layer=1, n_head=2),
                        torch.tensor([0, 15, 1] * 20), steps=1)
    with pytest.raises(ValueError, match="src_vocab"):
        train_translation(tiny_seq2seq(), torch.arange(10), steps=1)
    with pytest.raises(ValueError, match="train_numbers"):
        train_translation(tiny_seq2seq(source_vocab_size(), target_vocab_size()), torch.tensor([]), steps=1)
