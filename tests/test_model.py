"""course_lib.model: the GPT, its accounting, its bad-input errors and the Hugging Face round trip."""
import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from course_lib.model import GPT, GPTConfig, from_hf, to_hf

TINY = dict(vocab_size=97, context_length=32, n_layer=2, n_head=4, d_model=32)


@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(**TINY)).eval()


def ids(B=2, T=16, V=97, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_forward_shapes_and_initial_loss(gpt):
    x = ids()
    logits, loss = gpt(x)
    assert logits.shape == (2, 16, 97) and loss is None
    _, loss = gpt(x, ids(seed=1))
    # at initialisation the prediction is nearly uniform: loss close to ln(vocab_size)
    assert abs(loss.item() - torch.log(torch.tensor(97.0)).item()) < 0.1


def test_causality_future_tokens_do_not_change_the_past(gpt):
    x = ids(B=1, T=20)
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 97
    a, _ = gpt(x)
    b, _ = gpt(y)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:], atol=1e-3)


def test_param_count_formula():
    for n_layer, d in [(1, 16), (2, 32), (4, 128), (6, 48)]:
        m = GPT(GPTConfig(vocab_size=50, context_length=16, n_layer=n_layer, n_head=4, d_model=d))
        # per block: qkv 3d^2 + proj d^2 + mlp 8d^2 = 12 d^2, plus two LayerNorm gains (2d); final LN d
        assert m.num_params() == n_layer * (12 * d * d + 2 * d) + d
        assert m.num_params(non_embedding=False) == m.num_params() + 50 * d + 16 * d
        mb = GPT(GPTConfig(vocab_size=50, context_length=16, n_layer=n_layer, n_head=4, d_model=d, bias=True))
        # biases: qkv 3d, proj d, fc 4d, mlp proj d, two LayerNorm biases 2d = 11d per block; final LN bias d
        assert mb.num_params() == n_layer * (12 * d * d + 13 * d) + 2 * d


def test_flops_per_token_formula(gpt):
    c = gpt.config
    n = gpt.num_params()
    expected = 6 * (n + c.d_model * c.vocab_size) + 12 * c.n_layer * c.d_model * c.context_length
    assert gpt.flops_per_token() == expected
    assert gpt.flops_per_token() > 6 * n


@pytest.mark.parametrize("bias, activation", [(False, "gelu"), (True, "gelu_tanh"), (True, "gelu")])
def test_to_hf_gives_the_same_logits(bias, activation):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(**TINY, bias=bias, activation=activation)).eval()
    if bias:  # make the biases non-zero so the test can see them
        with torch.no_grad():
            for name, p in gpt.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.1)
    hf = to_hf(gpt).eval()
    assert isinstance(hf, GPT2LMHeadModel)
    x = ids(T=32)
    diff = (gpt(x)[0] - hf(input_ids=x).logits).abs().max().item()
    assert diff < 1e-4


def test_from_hf_gives_the_same_logits_for_a_gpt2_layout_model():
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                    bos_token_id=None, eos_token_id=None)).eval()
    with torch.no_grad():  # GPT-2 starts with zero biases; perturb them so the test can see them
        for name, p in hf.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    gpt = from_hf(hf)
    assert gpt.config.bias and gpt.config.activation == "gelu_tanh"
    x = ids(T=32)
    diff = (gpt(x)[0] - hf(input_ids=x).logits).abs().max().item()
    assert diff < 1e-4


def test_saved_folder_loads_offline_with_automodel(gpt, tmp_path):
    hf = to_hf(gpt)
    hf.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    x = ids()
    assert (loaded(input_ids=x).logits - gpt(x)[0]).abs().max().item() < 1e-4
    back = from_hf(loaded)
    assert (back(x)[0] - gpt(x)[0]).abs().max().item() < 1e-4


def test_generate_extends_and_greedy_is_deterministic(gpt):
    x = ids(B=1, T=5)
    out = gpt.generate(x, 7, temperature=0)
    assert out.shape == (1, 12) and torch.equal(out[:, :5], x)
    assert torch.equal(out, gpt.generate(x, 7, temperature=0))
    sampled = gpt.generate(x, 7, top_k=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sampled, gpt.generate(x, 7, top_k=5, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_head=3), "must divide d_model"),
        (dict(n_layer=0), "n_layer must be at least 1"),
        (dict(vocab_size=0), "vocab_size must be at least 1"),
        (dict(d_model=32.0), "must be an int"),
        (dict(dropout=1.0), "dropout"),
        (dict(activation="relu"), "activation"),
    ],
)
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**{**TINY, **kwargs})


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda: ids(T=33), "context_length is 32"),
        (lambda: torch.tensor([[1, 2, 97]]), "outside the vocabulary"),
        (lambda: torch.tensor([[1, -1]]), "outside the vocabulary"),
        (lambda: torch.tensor([[1.0, 2.0]]), "integer token ids"),
        (lambda: torch.tensor([1, 2, 3]), "unsqueeze"),
        (lambda: [[1, 2]], "torch.Tensor"),
        (lambda: torch.zeros(1, 0, dtype=torch.long), "empty"),
    ],
)
def test_bad_input_says_what_to_do(gpt, make_input, message):
    with pytest.raises(ValueError, match=message):
        gpt(make_input())


def test_bad_targets(gpt):
    x = ids()
    with pytest.raises(ValueError, match="targets must have the shape"):
        gpt(x, ids(T=8))
    with pytest.raises(ValueError, match="-100"):
        gpt(x, torch.full_like(x, 500))
    ignore = torch.full_like(x, -100)
    ignore[:, 0] = 3
    _, loss = gpt(x, ignore)  # -100 positions are ignored, not an error
    assert torch.isfinite(loss)


def test_from_hf_rejects_what_it_cannot_express():
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=8, n_embd=16, n_layer=1, n_head=2,
                                    activation_function="relu", bos_token_id=None, eos_token_id=None))
    with pytest.raises(ValueError, match="GELU"):
        from_hf(hf)
