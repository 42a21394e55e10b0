"""course_lib.mup and GPTConfig(mup_base_width=...): muP's init, multipliers, lr scales and its coordinate check."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.model import GPT, GPTConfig, MuReadout, to_hf
from course_lib.mup import coordinate_check, coordinate_slopes, plot_coordinate_check
from course_lib.text import random_windows
from course_lib.train import train_loop

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(vocab_size=97, context_length=32, n_layer=2, n_head=4, d_model=32)
DATA = torch.randint(97, (2_000,), generator=torch.Generator().manual_seed(1))


def gpt(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **kw}))


def ids(B=2, T=16, seed=0):
    return torch.randint(97, (B, T), generator=torch.Generator().manual_seed(seed))


def lm_loss(m, b):
    return m(*b)[1]


def next_batch(step, g):
    return random_windows(DATA, 4, 16, g)


def test_the_standard_parametrisation_is_unchanged():
    # Reference values computed with the model and train_loop before muP existed (torch 2.13, CPU).
    m = gpt().eval()
    assert m.config.mup_base_width is None and m.config.width_mult == 1.0 and m.config.attn_scale is None
    assert m.lm_head.weight is m.wte.weight and type(m.lm_head) is torch.nn.Linear
    logits, _ = m(ids())
    assert logits.double().abs().sum().item() == pytest.approx(276.9392598827253, rel=1e-6)
    assert logits[0, 0, :3].tolist() == pytest.approx([-0.05274108424782753, 0.05788110941648483,
                                                       -0.06328226625919342], abs=1e-7)
    assert set(m.lr_scales().values()) == {1.0}
    def batches(step, g):  # the reference run's batches
        i = torch.randint(len(DATA) - 17, (4,), generator=g)
        return torch.stack([DATA[j:j + 16] for j in i]), torch.stack([DATA[j + 1:j + 17] for j in i])
    h = train_loop(m, batches, lm_loss, 5, lr=3e-3, weight_decay=0.1)
    assert h.train_loss == pytest.approx([4.5489091873168945, 4.57572078704834, 4.553121566772461,
                                          4.594630241394043, 4.594162940979004], rel=1e-5)
    assert h.lr == pytest.approx([0.003, 0.003, 0.002604594154601839, 0.00165, 0.000695405845398161])


def test_mup_at_the_base_width_is_sp():
    sp, mup = gpt(), gpt(mup_base_width=32)
    sp_state, mup_state = sp.state_dict(), mup.state_dict()
    for name, tensor in sp_state.items():
        assert torch.equal(tensor, mup_state[name]), name
    assert mup.lm_head.weight is mup.wte.weight  # the readout shares the embedding (MuSharedReadout)
    assert mup.config.attn_scale == pytest.approx(1 / math.sqrt(mup.config.d_head))
    assert torch.allclose(mup.eval()(ids())[0], sp.eval()(ids())[0], atol=1e-6)
    assert mup.num_params() == sp.num_params()
    assert mup.num_params(non_embedding=False) == sp.num_params(non_embedding=False)


def test_mup_init_scales_hidden_matrices_only():
    m = gpt(seed=0, d_model=512, mup_base_width=32)  # m = 16: hidden std 0.02 / 4
    sd = m.state_dict()
    assert sd["blocks.0.attn.c_attn.weight"].std().item() == pytest.approx(0.02 / 4, rel=0.02)
    assert sd["blocks.1.mlp.c_fc.weight"].std().item() == pytest.approx(0.02 / 4, rel=0.02)
    assert sd["blocks.0.mlp.c_proj.weight"].std().item() == pytest.approx(0.02 / 4 / 2, rel=0.02)  # / sqrt(2 * 2)
    assert sd["wte.weight"].std().item() == pytest.approx(0.02, rel=0.02)
    assert sd["wpe.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.equal(sd["blocks.0.ln_1.weight"], torch.ones(512)) and m.lm_head.weight is m.wte.weight


def test_attention_uses_the_mup_scale():
    m = gpt(d_model=128, mup_base_width=32).eval()  # d_head 32, base d_head 8: scale sqrt(8) / 32
    assert m.config.attn_scale == pytest.approx(math.sqrt(8) / 32)
    attn, x = m.blocks[0].attn, torch.randn(2, 10, 128, generator=torch.Generator().manual_seed(0))
    q, k, v = (t.view(2, 10, 4, 32).transpose(1, 2) for t in attn.c_attn(x).split(128, dim=2))
    scores = (q @ k.transpose(-2, -1)) * math.sqrt(8) / 32  # (B, nh, T, T)
    scores = scores.masked_fill(torch.triu(torch.ones(10, 10, dtype=torch.bool), 1), float("-inf"))
    y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(2, 10, 128)
    assert torch.allclose(attn(x), attn.c_proj(y), atol=1e-6)


def test_the_readout_divides_by_the_width_multiplier():
    m = gpt(d_model=128, mup_base_width=32)
    assert isinstance(m.lm_head, MuReadout) and m.lm_head.width_mult == 4.0
    with torch.no_grad():
        m.lm_head.weight.normal_()
    x = torch.randn(3, 128)
    assert torch.allclose(m.lm_head(x), x @ m.lm_head.weight.T / 4, atol=1e-5)


def test_lr_scales_follow_mu_adam():
    scales = gpt(d_model=64, mup_base_width=32).lr_scales()  # m = 2
    hidden = [n for n in scales if n.startswith("blocks.") and n.endswith("weight") and "ln_" not in n]
    assert len(hidden) == 2 * 4 and all(scales[n] == 0.5 for n in hidden)
    assert all(scales[n] == 1.0 for n in scales if n not in hidden)  # embeddings, LayerNorms, the readout
    assert "wte.weight" in scales and scales["wte.weight"] == 1.0  # the readout shares it


def test_train_loop_gives_each_group_its_scaled_lr_and_decay(monkeypatch):
    made = []

    class Recording(torch.optim.AdamW):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    m = gpt(d_model=64, mup_base_width=32, bias=True)  # m = 2
    h = train_loop(m, next_batch, lm_loss, 1, lr=1e-2, warmup_steps=0, weight_decay=0.1)
    assert h.lr == pytest.approx([1e-2])  # the schedule's value, not a scaled group's
    got = {id(p): (g["lr"], g["weight_decay"]) for g in made[0].param_groups for p in g["params"]}
    assert len(got) == len(list(m.parameters()))
    for name, p in m.named_parameters():
        hidden = name.startswith("blocks.") and p.dim() == 2
        decay = 0.2 if hidden else (0.1 if p.dim() == 2 else 0.0)  # lr * weight_decay per step kept
        assert got[id(p)] == pytest.approx((5e-3 if hidden else 1e-2, decay)), name


def test_a_mup_run_resumes_and_refuses_another_base_width(tmp_path):
    settings = dict(steps=2, lr=3e-3, seed=1)
    train_loop(gpt(mup_base_width=16), next_batch, lm_loss, checkpoint_dir=tmp_path, **settings)
    with pytest.raises(ValueError, match="different run.*lr_scales"):  # the same shapes, other lr scales
        train_loop(gpt(mup_base_width=8), next_batch, lm_loss, checkpoint_dir=tmp_path, resume=True, **settings)


def test_a_mup_run_resumed_has_the_same_losses(tmp_path):
    import warnings

    settings = dict(steps=6, lr=3e-3, eval_every=3, seed=1)
    full = train_loop(gpt(mup_base_width=16), next_batch, lm_loss, **settings)

    def stopping(step, g):
        if step == 4:
            raise KeyboardInterrupt
        return next_batch(step, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_loop(gpt(mup_base_width=16), stopping, lm_loss, checkpoint_dir=tmp_path, **settings)
    resumed = train_loop(gpt(mup_base_width=16), next_batch, lm_loss, checkpoint_dir=tmp_path, resume=True,
                         **settings)
    assert resumed.train_loss == pytest.approx(full.train_loss, rel=1e-6) and resumed.lr == full.lr


def test_a_mup_model_round_trips_through_a_checkpoint(tmp_path):
    m = gpt(d_model=64, mup_base_width=32)
    with torch.no_grad():
        m.blocks[0].mlp.c_fc.weight.normal_()  # changed after init, so the round trip is seen
    save_checkpoint(m, tmp_path)
    back = load_checkpoint(tmp_path, device="cpu")
    assert back.config == m.config and back.lm_head.weight is back.wte.weight
    assert torch.equal(back.blocks[0].mlp.c_fc.weight, m.blocks[0].mlp.c_fc.weight)
    assert torch.equal(back.lm_head.weight, m.lm_head.weight) and torch.equal(back.wte.weight, m.wte.weight)
    assert torch.equal(back(ids())[0], m.eval()(ids())[0])


def test_to_hf_refuses_a_mup_model():
    with pytest.raises(ValueError, match="muP"):
        to_hf(gpt(mup_base_width=32))


@pytest.mark.parametrize("bad", [0, -32, 32.0, True, "32"])
def test_bad_mup_base_width(bad):
    with pytest.raises(ValueError, match="mup_base_width must be None .* or a positive int"):
        GPTConfig(**TINY, mup_base_width=bad)


def test_any_width_is_allowed():
    assert GPTConfig(**{**TINY, "d_model": 48}, mup_base_width=32).width_mult == 1.5


def test_coordinate_check_bad_input():
    with pytest.raises(ValueError, match="parametrization"):
        coordinate_check((32, 64), parametrization="ntk")
    with pytest.raises(ValueError, match="multiple of n_head"):
        coordinate_check((32, 66))
    with pytest.raises(ValueError, match="at least two widths"):
        coordinate_slopes({"widths": [32], "sizes": {}})


def test_coordinate_check_flat_under_mup_growing_under_sp():
    # Measured (seed 0; widths 32..256, 4 Adam steps at lr 1e-2, char-level python_docs, the readout
    # tied to the embedding): SP: logits slope 0.63, block outputs 1.2-1.6; muP: logits -0.02, block
    # outputs within +-0.08, attention outputs within +-0.10.
    kw = dict(widths=(32, 64, 128, 256), steps=3, lr=1e-2, seed=0)
    sp, mup = coordinate_check(parametrization="standard", **kw), coordinate_check(parametrization="mup", **kw)
    s_sp, s_mup = coordinate_slopes(sp), coordinate_slopes(mup)
    assert list(s_mup) == ["embedding", "block0.attn", "block0", "block1.attn", "block1", "logits"]
    assert s_sp["logits"] > 0.5 and abs(s_mup["logits"]) < 0.15
    assert min(s_sp["block0"], s_sp["block1"]) > 0.8 and max(abs(s_mup["block0"]), abs(s_mup["block1"])) < 0.15
    assert max(abs(v) for v in s_mup.values()) < 0.3
    assert mup["steps"] == [0, 1, 2, 3] and len(mup["sizes"]["logits"][0]) == 4
    import json
    json.dumps(mup)  # plain data


def test_plot_coordinate_check():
    import matplotlib

    matplotlib.use("Agg")
    result = {"parametrization": "mup", "lr": 0.01, "widths": [32, 64], "steps": [0, 1],
              "sizes": {"logits": [[0.0, 1.0], [0.0, 1.1]], "block0": [[1.0, 1.0], [1.0, 1.0]]}}
    ax = plot_coordinate_check(result)
    assert len(ax.lines) == 2 and "muP" in ax.get_title()
