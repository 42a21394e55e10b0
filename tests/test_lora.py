"""course_lib.lora: the hand-written LoRA layer against peft's, counts and memory."""
import copy

import pytest
import torch
import torch.nn as nn

from course_lib.lora import (LoRALinear, add_lora, copy_from_peft, count_parameters, finetune_memory,
                             lora_modules, lora_parameter_count, merge_lora, optimizer_state_bytes)
from course_lib.model import GPT, GPTConfig

pytestmark = pytest.mark.usefixtures("one_thread")
TARGETS = ["c_attn", "c_fc"]


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, context_length=16, n_layer=2, n_head=2, d_model=32))


def peft_twin(model, r=4, alpha=8.0, targets=TARGETS, seed=1):
    """peft's LoRA on a copy of model, with B set non-zero so that the update matters."""
    from peft import LoraConfig, get_peft_model

    twin = get_peft_model(copy.deepcopy(model), LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                                                           lora_dropout=0.0))
    g = torch.Generator().manual_seed(seed)
    for module in twin.modules():
        if hasattr(module, "lora_B") and isinstance(module.lora_B, nn.ModuleDict):
            with torch.no_grad():
                module.lora_B["default"].weight.copy_(torch.randn(module.lora_B["default"].weight.shape, generator=g))
    return twin


def test_b_starts_at_zero_so_the_wrapped_model_is_unchanged():
    base = tiny_gpt()
    x = torch.randint(0, 50, (2, 10))
    wrapped = add_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)
    assert torch.equal(wrapped(x)[0], base(x)[0])
    layer = lora_modules(wrapped)["blocks.0.attn.c_attn"]
    assert layer.lora_A.shape == (4, 32) and layer.lora_B.shape == (96, 4) and layer.scaling == 2.0
    assert torch.count_nonzero(layer.lora_B) == 0 and torch.count_nonzero(layer.lora_A) > 0


def test_hand_written_lora_equals_peft_outputs_and_gradients():
    base = tiny_gpt()
    ours = add_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)
    twin = peft_twin(base, r=4, alpha=8)
    assert copy_from_peft(ours, twin) == 4
    x, y = torch.randint(0, 50, (3, 12)), torch.randint(0, 50, (3, 12))
    ours_logits, ours_loss = ours(x, y)
    twin_logits, twin_loss = twin(x, y)
    assert not torch.allclose(ours_logits, base(x)[0])  # the update is not zero any more
    assert torch.allclose(ours_logits, twin_logits, atol=1e-6)
    ours_loss.backward()
    twin_loss.backward()
    for name, layer in lora_modules(ours).items():
        theirs = twin.get_submodule("base_model.model." + name)
        assert torch.allclose(layer.lora_A.grad, theirs.lora_A["default"].weight.grad, atol=1e-6)
        assert torch.allclose(layer.lora_B.grad, theirs.lora_B["default"].weight.grad, atol=1e-6)
    assert count_parameters(ours) == count_parameters(twin)


def test_only_a_and_b_train_and_merging_keeps_the_outputs():
    model = add_lora(tiny_gpt(), TARGETS, r=2, alpha=4)
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randint(0, 50, (2, 8)), torch.randint(0, 50, (2, 8))
    for _ in range(3):
        opt.zero_grad()
        model(x, y)[1].backward()
        opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    before = model(x)[0]
    layer = lora_modules(model)["blocks.1.mlp.c_fc"]
    assert torch.linalg.matrix_rank(layer.delta_weight()).item() <= 2
    merge_lora(model)
    assert not lora_modules(model) and isinstance(model.blocks[1].mlp.c_fc, nn.Linear)
    assert torch.allclose(model(x)[0], before, atol=1e-5)


def test_counts_and_memory():
    model = add_lora(tiny_gpt(), TARGETS, r=4)
    trainable, total = count_parameters(model)
    shapes = [(96, 32), (128, 32)] * 2  # c_attn and c_fc of two blocks: (out, in)
    assert trainable == lora_parameter_count(shapes, 4) == 4 * (2 * (32 + 96) + 2 * (32 + 128))
    full = finetune_memory(total, total)
    assert full["total"] == 16 * total  # float32 weights + gradients + AdamW's two moments
    lora = finetune_memory(total, trainable)
    assert lora["total"] == 4 * total + 12 * trainable
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    opt.step()
    n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
    assert optimizer_state_bytes(opt) == lora["optimizer"] + 4 * n_tensors  # + one 0-d step counter each


def test_bad_ranks_and_targets_say_what_to_do():
    with pytest.raises(ValueError, match=r"r=40 .* Choose r <= 32"):
        LoRALinear(nn.Linear(32, 96), r=40)
    with pytest.raises(ValueError, match="at least 1"):
        LoRALinear(nn.Linear(32, 96), r=0)
    with pytest.raises(ValueError, match="wraps an nn.Linear"):
        LoRALinear(nn.Conv1d(3, 3, 1), r=1)
    with pytest.raises(ValueError, match=r"no nn.Linear layer is named \['q_proj'\].*c_attn"):
        add_lora(tiny_gpt(), ["q_proj"], r=2)
    with pytest.raises(ValueError, match="r=33"):
        lora_parameter_count([(96, 32)], 33)
    with pytest.raises(ValueError, match="at most"):
        finetune_memory(10, 11)
    with pytest.raises(ValueError, match="dropout"):
        LoRALinear(nn.Linear(4, 4), r=1, dropout=1.5)


def test_lora_on_the_real_model_equals_peft(smollm2):
    model, tokenizer = smollm2
    targets = ["q_proj", "v_proj"]
    layers = [f"model.layers.{i}.self_attn.{t}" for i in (0, 29) for t in targets]  # first and last layer only
    ours = add_lora(copy.deepcopy(model), layers, r=4, alpha=8)
    twin = peft_twin(model, r=4, alpha=8.0, targets=layers)
    assert copy_from_peft(ours, twin) == 4
    ids = torch.tensor([tokenizer("def add(a, b):\n    return a + b")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, twin(input_ids=ids).logits, atol=1e-4)
    trainable, total = count_parameters(ours)
    assert total == 134_515_008 + trainable and trainable == lora_parameter_count([(576, 576), (192, 576)] * 2, 4)
