"""Objects a hidden test hands to the learner's functions that cannot travel as values.

A model or an optimizer is built on the worker's side from a *spec* the grader sends
(:func:`build`): the class, its configuration and its weights (tensors), so both sides hold
the same model to the bit. The grader keeps its own copy to compute the reference; after a
call, it asks the worker for the object's state (:func:`state`: parameters, gradients,
learning rates) to see what the learner's function did to it.

The kinds (new ones are added here, and only here):

- ``"PrefixLM"``: a fixed-weight causal LM, ``(B, T)`` int64 -> ``(B, T, V)`` logits, whose
  next token depends on the last token and on the mean embedding of the whole prefix;
  weights ``bigram (V, V)``, ``embed (V, d)``, ``out (d, V)``, option ``scale``;
- ``"TableLM"``: a bigram model from a fixed ``(V, V)`` table of logits;
- ``"GPT"`` and ``"Block"``: ``course_lib.model``'s, from ``config`` (``GPTConfig``
  keywords) and ``state`` (a state dict); options ``dtype``, ``train`` (train mode) and
  ``grads`` (parameter name -> a gradient already in ``.grad``);
- ``"optimizer"``: ``torch.optim.AdamW`` or ``SGD`` over a model built before (``model``:
  its handle), with parameter ``groups`` (``"matrices"``: parameters of 2 or more
  dimensions, ``"vectors"``: the others, ``"all"``) and keyword options.

This module is part of the worker package: it imports only torch (and ``course_lib``,
the learner's library, for the course's own model classes).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["PrefixLM", "TableLM", "build", "state", "KINDS"]


class PrefixLM(torch.nn.Module):
    """A fixed-weight causal LM: logits[t] = scale * (bigram[ids[t]] + mean(embed[ids[:t+1]]) @ out)."""

    def __init__(self, bigram: torch.Tensor, embed: torch.Tensor, out: torch.Tensor, scale: float = 1.0):
        super().__init__()
        self.bigram = torch.nn.Parameter(bigram.clone(), requires_grad=False)  # (V, V)
        self.embed = torch.nn.Parameter(embed.clone(), requires_grad=False)  # (V, d)
        self.out = torch.nn.Parameter(out.clone(), requires_grad=False)  # (d, V)
        self.scale = float(scale)

    @classmethod
    def random(cls, vocab: int, d: int, seed: int, scale: float = 1.0, embed_scale: float = 1.0) -> "PrefixLM":
        """Weights drawn from ``torch.Generator().manual_seed(seed)``: bigram, then embed, then out."""
        g = torch.Generator().manual_seed(seed)
        bigram = torch.randn(vocab, vocab, generator=g)
        embed = torch.randn(vocab, d, generator=g) * embed_scale
        out = torch.randn(d, vocab, generator=g)
        return cls(bigram, embed, out, scale)

    def spec(self) -> dict:
        return {"bigram": self.bigram.detach(), "embed": self.embed.detach(), "out": self.out.detach(),
                "scale": self.scale}

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        prefix = self.embed[ids].cumsum(dim=1) / torch.arange(1, T + 1, device=ids.device)[:, None]  # (B, T, d)
        return self.scale * (self.bigram[ids] + prefix @ self.out)  # (B, T, V)


class TableLM(torch.nn.Module):
    """A bigram model from a fixed (V, V) table of next-token logits: (B, T) -> (B, T, V)."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table.clone(), requires_grad=False)

    def spec(self) -> dict:
        return {"table": self.table.detach()}

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]  # (B, T, V)


def _course_model(kind: str, spec: dict) -> torch.nn.Module:
    from course_lib.model import GPT, Block, GPTConfig

    config = GPTConfig(**spec["config"])
    with torch.random.fork_rng():
        module = GPT(config) if kind == "GPT" else Block(config)
    dtype = spec.get("dtype")
    if dtype is not None:
        module = module.to(dtype)
    module.load_state_dict(spec["state"])
    module.train(bool(spec.get("train", False)))
    named = dict(module.named_parameters())
    for name, grad in spec.get("grads", {}).items():  # gradients left over from an earlier step
        named[name].grad = grad.clone()
    return module


def _groups(model: torch.nn.Module, groups: list[dict]) -> list[dict]:
    chosen = {"matrices": lambda p: p.dim() >= 2, "vectors": lambda p: p.dim() < 2, "all": lambda p: True}
    out = []
    for group in groups:
        group = dict(group)
        pick = chosen[group.pop("params")]
        out.append({"params": [p for p in model.parameters() if pick(p)], **group})
    return out


def _optimizer(spec: dict, objects: dict) -> torch.optim.Optimizer:
    model = spec["model"] if isinstance(spec["model"], torch.nn.Module) else objects[spec["model"]]
    cls = {"AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}[spec["class"]]
    return cls(_groups(model, spec["groups"]), **spec.get("options", {}))


KINDS: dict[str, Callable[[dict, dict], Any]] = {
    "PrefixLM": lambda spec, objects: PrefixLM(spec["bigram"], spec["embed"], spec["out"], spec.get("scale", 1.0)).eval(),
    "TableLM": lambda spec, objects: TableLM(spec["table"]).eval(),
    "GPT": lambda spec, objects: _course_model("GPT", spec),
    "Block": lambda spec, objects: _course_model("Block", spec),
    "optimizer": _optimizer,
}


def build(kind: str, spec: dict, objects: dict) -> Any:
    """A new object of ``kind`` from ``spec``; ``objects`` maps handles to objects built before."""
    if kind not in KINDS:
        raise ValueError(f"unknown fixture kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind](spec, objects)


def state(obj: Any) -> dict:
    """What a test may read back: a module's parameters and gradients, an optimizer's learning rates."""
    if isinstance(obj, torch.optim.Optimizer):
        return {"lr": [float(g["lr"]) for g in obj.param_groups]}
    if isinstance(obj, torch.nn.Module):
        return {"params": {n: p.detach().clone() for n, p in obj.named_parameters()},
                "grads": {n: p.grad.detach().clone() for n, p in obj.named_parameters() if p.grad is not None},
                "training": bool(obj.training)}
    raise ValueError(f"no state for a {type(obj).__name__}")
