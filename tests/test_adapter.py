"""course_lib.adapter: one way to get next-token logits from a course GPT, a transformers model or a function."""
import pytest
import torch
import torch.nn as nn

from course_lib.adapter import (
    as_batch,
    check_fits_context,
    context_length_of,
    inference,
    is_hf_model,
    model_device,
    model_logits,
    next_token_logits,
)
from course_lib.model import GPT, GPTConfig, to_hf


def course_gpt(context_length=16, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, context_length=context_length, n_layer=1, n_head=2, d_model=8)).eval()


class Table(nn.Module):
    """Logits that depend only on the last token: a module returning a (B, T, V) tensor."""

    def __init__(self, vocab=5):
        super().__init__()
        self.table = nn.Parameter(torch.randn(vocab, vocab))

    def forward(self, ids):
        return self.table[ids]


def test_as_batch_shapes_and_flag():
    ids, one = as_batch([1, 2, 3])
    assert ids.shape == (1, 3) and ids.dtype == torch.long and one
    ids, one = as_batch(torch.tensor([[1, 2], [3, 4]], dtype=torch.int32))
    assert ids.shape == (2, 2) and ids.dtype == torch.long and not one


@pytest.mark.parametrize("bad, words", [
    (torch.tensor([1.0, 2.0]), "integer"),
    (torch.zeros(1, 0, dtype=torch.long), "empty"),
    (torch.tensor([1, -2]), "negative"),
    (torch.zeros(1, 1, 1, dtype=torch.long), "shape"),
    ("abc", "torch.Tensor"),
    ([[1, 2], [3]], "list of ints"),
])
def test_as_batch_refuses_what_is_not_token_ids(bad, words):
    with pytest.raises(ValueError, match=words):
        as_batch(bad, "prompt")


def test_the_three_kinds_of_model_give_logits_of_one_shape():
    gpt = course_gpt()
    hf = to_hf(gpt).eval()
    table = Table()
    ids = torch.tensor([[1, 2, 3, 4]])
    assert is_hf_model(hf) and not is_hf_model(gpt) and not is_hf_model(table)
    with torch.no_grad():
        assert torch.allclose(model_logits(gpt, ids), model_logits(hf, ids), atol=1e-4)
        assert torch.equal(model_logits(table, ids), table(ids))
    assert model_logits(gpt, ids).shape == (1, 4, 11) and model_logits(gpt, ids).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        model_logits(lambda ids: ids.float(), ids)  # (B, T): not logits


def test_context_length_and_cropping():
    gpt = course_gpt(context_length=8)
    assert context_length_of(gpt) == context_length_of(to_hf(gpt)) == 8
    assert context_length_of(Table()) is None
    long_ids = torch.randint(0, 11, (2, 20))
    with torch.no_grad():
        assert torch.equal(next_token_logits(gpt, long_ids), gpt(long_ids[:, -8:])[0][:, -1])
    assert not next_token_logits(Table(vocab=11), long_ids[:, :5]).requires_grad, "no gradients"


def test_inference_switches_to_eval_and_back():
    gpt = course_gpt().train()
    with inference(gpt):
        assert not gpt.training and not torch.is_grad_enabled()
    assert gpt.training and torch.is_grad_enabled()
    with inference(lambda ids: ids):  # a function: only no_grad
        assert not torch.is_grad_enabled()
    gpt.eval()
    with inference(gpt):
        pass
    assert not gpt.training, "a model in evaluation mode stays there"


def test_model_device():
    assert model_device(course_gpt()) == torch.device("cpu")
    assert model_device(lambda ids: ids) == torch.device("cpu")


def test_a_prompt_longer_than_the_context_is_refused_with_the_limit_named():
    gpt = course_gpt(context_length=8)
    check_fits_context(gpt, 8)  # fits exactly
    for model in (gpt, to_hf(gpt)):
        with pytest.raises(ValueError, match="9 tokens but this model reads at most 8"):
            check_fits_context(model, 9)
    with pytest.raises(ValueError, match="the question has 5,000 tokens"):
        check_fits_context(to_hf(course_gpt(context_length=256)), 5000, "the question")
    check_fits_context(Table(), 10**6)  # no known limit: anything goes


def test_the_real_models_limit_is_its_8192_positions(smollm2):
    model, _ = smollm2
    assert context_length_of(model) == 8192
    check_fits_context(model, 8192)
    with pytest.raises(ValueError, match="8,193 tokens but this model reads at most 8,192"):
        check_fits_context(model, 8193)
