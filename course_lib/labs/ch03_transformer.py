"""Chapter 03's demonstrations: inside the reversal model, and one block with its LayerNorms and residuals moved.

The reversal model (03):

    reversal_alignment(cross, src)        # share of answer digits whose cross-attention peaks on the mirrored source digit
    teacher_forced_accuracy(model, s, t)  # per string: share of answer tokens right, reading the true earlier ones
    order_blind_accuracy(s, t)            # the same for the best predictor that knows the digits but not their order
    order_blind_loss(s, t)                # and its cross-entropy, nats per answer token

The block (03b):

    layer_norm_by_hand(x, gain, bias)     # the formula, checked against nn.LayerNorm
    VariantBlock(config, "post", True)    # course_lib.model's parts, LayerNorm before or after, residuals on or off
    stack_signals("pre", False, 48)       # gradients and token similarity through a deep stack at initialisation

Everything about the block is measured at initialisation on one batch of random tokens: no
training, a fraction of a second per call.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import MLP, CausalSelfAttention, GPTConfig
from ..train import torch_threads
from ..transformer import EOS, FIRST_DIGIT, PAD, Seq2SeqTransformer
from ..validation import check_int

__all__ = ["reversal_alignment", "teacher_forced_accuracy", "order_blind_accuracy", "order_blind_loss",
           "layer_norm_by_hand", "VariantBlock", "VariantStack", "StackSignals", "stack_signals"]

NORMS = ("pre", "post")
INITS = ("xavier", "gpt2")


# ----------------------------------------------------------------------------- the reversal model


def _lengths(src: torch.Tensor) -> torch.Tensor:
    """(B,) number of digits before EOS in each source row."""
    return (src == EOS).int().argmax(dim=1)


def reversal_alignment(cross: torch.Tensor, src: torch.Tensor) -> float:
    """Share of answer positions whose cross-attention peaks on the mirrored source position.

    ``cross``: (B, T, S) weights of one layer (one head, or the mean of its heads), from
    ``course_lib.transformer.seq2seq_attention_maps`` with the decoder reading BOS + the
    answer. The decoder input at position t predicts answer digit t, which is source digit
    length - 1 - t; only the digit positions of each row are counted (not EOS or padding).
    """
    if cross.dim() != 3 or cross.shape[0] != src.shape[0]:
        raise ValueError(f"cross must be (B, T, S) weights for the B={src.shape[0]} rows of src, got {tuple(cross.shape)}.")
    lengths = _lengths(src)  # (B,)
    t = torch.arange(cross.shape[1])[None, :]  # (1, T)
    mirrored = lengths[:, None] - 1 - t  # (B, T)
    digit = t < lengths[:, None]
    return ((cross.argmax(dim=-1) == mirrored) & digit).sum().item() / digit.sum().item()


@torch.no_grad()
def teacher_forced_accuracy(model: Seq2SeqTransformer, src: torch.Tensor, tgt: torch.Tensor) -> np.ndarray:
    """(B,) per string: the share of answer tokens (digits and EOS) predicted right when reading the true earlier ones."""
    was_training = model.training
    model.eval()
    try:
        pred = model(src, tgt[:, :-1]).argmax(dim=-1)  # (B, T-1)
    finally:
        model.train(was_training)
    answer = tgt[:, 1:]
    scored = answer != PAD
    return (((pred == answer) & scored).sum(1) / scored.sum(1)).numpy()


def _order_blind_steps(src: torch.Tensor, tgt: torch.Tensor):
    """Per row, per answer token: (its id, the source digits not yet written, as a Counter)."""
    for s, t in zip(src.tolist(), tgt.tolist()):
        left = Counter(i for i in s if i >= FIRST_DIGIT)
        steps = []
        for y in t[1:]:
            if y == PAD:
                break
            steps.append((y, Counter(left)))
            if y != EOS:
                left[y] -= 1
                left += Counter()  # drop digits used up
        yield steps


def order_blind_accuracy(src: torch.Tensor, tgt: torch.Tensor) -> np.ndarray:
    """(B,) per string: the expected share of answer tokens right for the best predictor blind to order.

    That predictor knows which digits the source holds (a multiset) and the answer tokens
    already written, and nothing about where each digit sat. Its best guess is a digit
    still unwritten that occurs most often (ties broken at random, hence "expected"); EOS
    comes when none are left, and it gets that right.
    """
    out = []
    for steps in _order_blind_steps(src, tgt):
        hits = []
        for y, left in steps:
            if not left:
                hits.append(float(y == EOS))
                continue
            top = max(left.values())
            modes = [d for d, c in left.items() if c == top]
            hits.append((y in modes) / len(modes))
        out.append(sum(hits) / len(hits))
    return np.array(out)


def order_blind_loss(src: torch.Tensor, tgt: torch.Tensor) -> float:
    """The cross-entropy (nats per answer token) of the best predictor blind to order.

    It gives each unwritten digit the probability count / number left, and EOS probability
    1 when none are left; no model without positions can do better on average.
    """
    nats = [0.0 if not left else -math.log(left[y] / sum(left.values()))
            for steps in _order_blind_steps(src, tgt) for y, left in steps]
    return sum(nats) / len(nats)


# ----------------------------------------------------------------------------- the block


def layer_norm_by_hand(x: torch.Tensor, gain: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                       eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm over the last axis (Ba et al. 2016): (x - mean) / sqrt(var + eps) * gain + bias.

    ``var`` is the biased variance (divide by d, not d - 1), as ``nn.LayerNorm`` computes it.
    """
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased
    y = (x - mean) / torch.sqrt(var + eps)
    if gain is not None:
        y = y * gain
    if bias is not None:
        y = y + bias
    return y


class VariantBlock(nn.Module):
    """A GPT block with the LayerNorms before or after each sub-layer, and residuals on or off.

        norm="pre",  residual=True:    x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))   (GPT-2, course_lib.model.Block)
        norm="post", residual=True:    x = ln_1(x + attn(x));  x = ln_2(x + mlp(x))   (Vaswani et al. 2017)
        norm="pre",  residual=False:   x = attn(ln_1(x));      x = mlp(ln_2(x))
        norm="post", residual=False:   x = ln_1(attn(x));      x = ln_2(mlp(x))

    Its parameters have the names of ``course_lib.model.Block``'s, so ``load_state_dict`` copies
    one into the other.
    """

    def __init__(self, config: GPTConfig, norm: str = "pre", residual: bool = True):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be 'pre' (LayerNorm before each sub-layer) or 'post' (after), got {norm!r}.")
        if not isinstance(residual, bool):
            raise ValueError(f"residual must be True or False, got {residual!r}.")
        self.norm, self.residual = norm, residual
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def _sublayer(self, x, f, ln):
        if self.norm == "pre":
            return x + f(ln(x)) if self.residual else f(ln(x))
        return ln(x + f(x)) if self.residual else ln(f(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._sublayer(x, self.attn, self.ln_1)  # (B, T, d)
        return self._sublayer(x, self.mlp, self.ln_2)  # (B, T, d)


class VariantStack(nn.Module):
    """Token embedding, ``n_layer`` VariantBlocks, a final LayerNorm (pre-norm only) and a linear head.

    ``init="gpt2"``: every block matrix N(0, 0.02^2), the residual projections (c_proj) with
    std 0.02 / sqrt(2 n_layer), as the course GPT; ``init="xavier"``: every block matrix
    uniform with variance 2 / (fan_in + fan_out), the initialisation Xiong et al. (2020)
    analyse. Embeddings N(0, 1), head N(0, 1/d).
    """

    def __init__(self, n_layer: int, norm: str = "pre", residual: bool = True, d_model: int = 64, n_head: int = 4,
                 vocab_size: int = 64, init: str = "gpt2"):
        super().__init__()
        check_int(n_layer, "n_layer", minimum=1)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}.")
        config = GPTConfig(vocab_size=vocab_size, context_length=1024, n_layer=n_layer, n_head=n_head, d_model=d_model)
        self.wte = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(VariantBlock(config, norm, residual) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model, bias=False) if norm == "pre" else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2 and name.startswith("blocks."):
                if init == "xavier":
                    nn.init.xavier_uniform_(p)
                else:
                    nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02)
        nn.init.normal_(self.wte.weight)
        nn.init.normal_(self.head.weight, std=d_model ** -0.5)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx)  # (B, T, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)


@dataclass(frozen=True)
class StackSignals:
    """What one backward pass at initialisation shows, layer by layer (block 0 first).

    Attributes:
        param_grad: per block, the L2 norm of the gradient of all its parameters.
        mlp_out_grad: per block, the gradient norm of the MLP's output matrix (Xiong et al.'s W^{2,l}).
        input_grad: per block, the norm of dLoss/d(the block's input): what reaches it from above.
        token_cosine: per block output, the mean cosine similarity between the vectors of
            different positions (1.0: every position carries the same vector).
    """

    param_grad: list[float]
    mlp_out_grad: list[float]
    input_grad: list[float]
    token_cosine: list[float]


def stack_signals(norm: str, residual: bool, n_layer: int, d_model: int = 64, n_head: int = 4, seq_len: int = 32,
                  batch_size: int = 16, vocab_size: int = 64, init: str = "gpt2", seed: int = 0) -> StackSignals:
    """One forward and backward pass of a ``VariantStack`` at initialisation, on random tokens.

    The loss is the next-token cross-entropy (nats) on a batch of uniformly random ids; the
    model is seeded with ``seed`` (torch's global random state is left as it was). Runs on one
    torch thread.
    """
    check_int(seq_len, "seq_len", minimum=2)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed", minimum=0)
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VariantStack(n_layer, norm, residual, d_model, n_head, vocab_size, init)
        ids = torch.randint(vocab_size, (batch_size, seq_len + 1), generator=torch.Generator().manual_seed(seed + 1))
        x = model.wte(ids[:, :-1])  # (B, T, d)
        inputs, cosines = [], []
        for block in model.blocks:
            x.retain_grad()
            inputs.append(x)
            x = block(x)
            unit = F.normalize(x.detach(), dim=-1)  # (B, T, d)
            off_diag = (unit @ unit.transpose(1, 2)).sum(dim=(1, 2)) - seq_len  # (B,): sum over pairs i != j
            cosines.append((off_diag / (seq_len * (seq_len - 1))).mean().item())
        logits = model.head(model.ln_f(x))  # (B, T, V)
        F.cross_entropy(logits.reshape(-1, vocab_size), ids[:, 1:].reshape(-1)).backward()
    param = [math.sqrt(sum(float(p.grad.pow(2).sum()) for p in b.parameters())) for b in model.blocks]
    mlp_out = [b.mlp.c_proj.weight.grad.norm().item() for b in model.blocks]
    return StackSignals(param, mlp_out, [h.grad.norm().item() for h in inputs], cosines)
