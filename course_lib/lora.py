"""LoRA, written out: a frozen weight matrix plus a trainable low-rank update (Hu et al. 2021).

Fine-tuning every weight of a model needs, per parameter, the weight, its gradient and
AdamW's two moments: 16 bytes in float32, 2.2 GB for a 135M-parameter model. LoRA freezes
the pretrained matrix W (out x in) and learns a change of rank r instead:

    h = W x + (alpha / r) * B A x          A: (r, in), B: (out, r), r << min(out, in)

Only A and B train: r * (in + out) numbers instead of in * out. B starts at zero, so the
wrapped model computes exactly what the pretrained one did until training moves it; A
starts as torch's ``nn.Linear`` default (Kaiming-uniform, a = sqrt(5)), as in Microsoft's
``loralib`` and Hugging Face's ``peft``. alpha / r keeps the update's size comparable when r
changes. After training, ``merge_lora`` folds W + (alpha / r) B A back into one matrix, so
inference costs nothing extra.

    model = add_lora(model, ["c_attn", "c_proj"], r=8, alpha=16)   # in place; the rest frozen
    trainable, total = count_parameters(model)
    finetune_memory(total, trainable)                               # bytes: weights, grads, AdamW

``tests/test_lora.py`` checks ``LoRALinear`` against ``peft``'s LoRA layer: the same A and B
give the same outputs and the same gradients.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import check_fraction, check_int, check_positive

__all__ = ["LoRALinear", "check_rank", "add_lora", "merge_lora", "lora_modules", "count_parameters",
           "lora_parameter_count", "finetune_memory", "optimizer_state_bytes", "copy_from_peft"]


def check_rank(r, out_features: int, in_features: int) -> int:
    """``r`` as an int in [1, min(out_features, in_features)]; ValueError saying what to choose otherwise.

    A product B A of an (out, r) and an (r, in) matrix has rank at most min(out, in), so a
    larger r only adds parameters that cannot add anything.
    """
    r = check_int(r, "LoRA rank r", minimum=1)
    limit = min(out_features, in_features)
    if r > limit:
        raise ValueError(f"LoRA rank r={r} is larger than the {out_features} x {in_features} matrix allows: the update "
                         f"B A has rank at most min(out, in) = {limit}. Choose r <= {limit} (LoRA's point is r much "
                         "smaller, typically 4 to 64).")
    return r


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + (alpha / r) * x A^T B^T``.

    Args:
        base: the pretrained ``nn.Linear`` (in_features -> out_features); its weight and
            bias are frozen (``requires_grad = False``) and left unchanged.
        r: the rank of the update, 1 <= r <= min(out, in).
        alpha: the scale numerator (default r, a scaling of 1); the update is multiplied by alpha / r.
        dropout: dropout on the input of the update only (0: none).
        generator: optional ``torch.Generator`` for A's initialisation.

    Attributes ``lora_A`` (r, in) and ``lora_B`` (out, r) are the trainable parameters.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None, dropout: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}.")
        self.r = check_rank(r, base.out_features, base.in_features)
        self.alpha = float(r) if alpha is None else check_positive(alpha, "alpha")
        self.scaling = self.alpha / self.r
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, dtype=w.dtype, device=w.device))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, dtype=w.dtype, device=w.device))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)  # nn.Linear's default
        dropout = check_fraction(dropout, "dropout", allow_zero=True)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        """The frozen pretrained weight (out, in) (so code that reads ``.weight`` keeps working)."""
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out): the frozen layer's output plus the scaled low-rank update."""
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)  # (..., r) -> (..., out)
        return self.base(x) + update * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The update as a full matrix, (alpha / r) B A: (out, in), of rank at most r."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight W + (alpha / r) B A (same outputs without dropout, no extra cost)."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        dtype=self.weight.dtype, device=self.weight.device)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.delta_weight())
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha:g}"


def _matches(name: str, targets) -> bool:
    """peft's rule for ``target_modules`` given as names: the module's name is a target or ends with ".target"."""
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model: nn.Module, targets, r: int, alpha: float | None = None, dropout: float = 0.0,
             seed: int = 0) -> nn.Module:
    """Wrap the ``nn.Linear`` layers named in ``targets`` in ``LoRALinear`` and freeze everything else; in place.

    ``targets``: module names or name endings, as peft's ``target_modules`` (``"c_attn"``
    matches ``blocks.0.attn.c_attn``). Every parameter of the model stops training except
    the new A and B matrices. A is drawn from a generator seeded with ``seed`` (layers in
    ``named_modules`` order). Returns the model. ValueError if no ``nn.Linear`` matches.
    """
    if isinstance(targets, str):
        targets = [targets]
    targets = list(targets)
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and _matches(name, targets)]
    if not found:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear layer is named {targets}; this model's linear layers end in: {linear}.")
    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r, alpha, dropout, generator))
    return model


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    """Every ``LoRALinear`` of a model, by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every ``LoRALinear`` by its merged ``nn.Linear`` (in place); returns the model."""
    for name, module in lora_modules(model).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.merged())
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameters; a tied weight (shared by two modules) counted once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():  # parameters() already yields a shared tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def lora_parameter_count(shapes, r: int) -> int:
    """Parameters LoRA of rank r adds to matrices of the given (out, in) ``shapes``: sum of r (in + out)."""
    total = 0
    for out_f, in_f in shapes:
        total += check_rank(r, out_f, in_f) * (in_f + out_f)
    return total


def finetune_memory(n_total: int, n_trainable: int, bytes_per_value: int = 4) -> dict[str, int]:
    """Bytes to fine-tune with AdamW, activations not included: weights, gradients, optimizer state.

    Every parameter is stored (``n_total`` values); only trainable ones get a gradient and
    AdamW's two moments (``exp_avg``, ``exp_avg_sq``). With float32 (4 bytes): full
    fine-tuning costs 16 bytes per parameter, LoRA 4 per frozen parameter plus 16 per
    trainable one. Returns ``{"weights", "gradients", "optimizer", "total"}`` in bytes.
    """
    n_total = check_int(n_total, "n_total", minimum=0)
    n_trainable = check_int(n_trainable, "n_trainable", minimum=0, maximum=n_total)
    b = check_int(bytes_per_value, "bytes_per_value", minimum=1)
    parts = {"weights": n_total * b, "gradients": n_trainable * b, "optimizer": 2 * n_trainable * b}
    parts["total"] = sum(parts.values())
    return parts


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held by an optimizer's state tensors (AdamW: exp_avg and exp_avg_sq; the step counters too)."""
    return sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values()
               if isinstance(t, torch.Tensor))


def copy_from_peft(model: nn.Module, peft_model, adapter: str = "default") -> int:
    """Copy A and B of every LoRA layer of a ``peft`` model into the same-named ``LoRALinear`` of ``model``.

    peft names a layer ``base_model.model.<name>`` and keeps ``lora_A[adapter]`` and
    ``lora_B[adapter]`` as ``nn.Linear`` layers whose weights are our (r, in) A and (out, r)
    B. Returns the number of layers copied; ValueError if a layer or a shape does not match.
    """
    ours = lora_modules(model)
    copied = 0
    for name, module in peft_model.named_modules():
        if not (hasattr(module, "lora_A") and isinstance(module.lora_A, nn.ModuleDict) and adapter in module.lora_A):
            continue
        plain = name.removeprefix("base_model.model.")
        if plain not in ours:
            raise ValueError(f"peft has a LoRA layer {plain!r} that the model lacks; wrap the same targets.")
        a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
        if a.shape != ours[plain].lora_A.shape or b.shape != ours[plain].lora_B.shape:
            raise ValueError(f"{plain}: peft's A {tuple(a.shape)} and B {tuple(b.shape)} do not match "
                             f"{tuple(ours[plain].lora_A.shape)} and {tuple(ours[plain].lora_B.shape)}; use the same r.")
        with torch.no_grad():
            ours[plain].lora_A.copy_(a)
            ours[plain].lora_B.copy_(b)
        copied += 1
    if copied != len(ours):
        raise ValueError(f"copied {copied} LoRA layers but the model has {len(ours)}; wrap the same targets in both.")
    return copied
