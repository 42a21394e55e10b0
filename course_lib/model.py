"""A decoder-only Transformer language model (GPT), read top to bottom in data order.

    token ids (B, T)
      -> token embedding + learned position embedding     (B, T, d_model)
      -> n_layer x Block: x + attn(ln_1(x)); x + mlp(ln_2(x))   (pre-LayerNorm, GPT-2)
      -> final LayerNorm -> linear head tied to the token embedding  (B, T, vocab_size)

``GPTConfig(mup_base_width=...)`` switches to the maximal-update parametrisation (muP, Yang
et al. 2022): an untied readout with a 1/m output multiplier, 1/d_head attention, hidden
matrices initialised with variance / m and trained with lr / m (``GPT.lr_scales``), where
m = d_model / mup_base_width; ``course_lib.mup`` explains it and checks it.

The layout follows GPT-2 (Radford et al. 2019) and Karpathy's nanoGPT, so ``to_hf`` and
``from_hf`` convert it to and from Hugging Face's ``GPT2LMHeadModel`` with identical
logits. Attention calls torch's fused ``scaled_dot_product_attention`` with
``is_causal=True``; ``course_lib.attention`` writes the same computation out by hand.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import check_int

__all__ = ["GPTConfig", "GPT", "MuReadout", "to_hf", "from_hf", "check_token_ids"]


# ----------------------------------------------------------------------------- config

_GELU_APPROXIMATE = {"gelu": "none", "gelu_tanh": "tanh"}  # our name -> torch's approximate=
_HF_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}  # our name -> GPT2Config's
_HF_SIZES = {"vocab_size": "vocab_size", "context_length": "n_positions", "d_model": "n_embd", "n_layer": "n_layer",
             "n_head": "n_head"}  # GPTConfig field -> GPT2Config field


@dataclass
class GPTConfig:
    """Everything that sets the size of a GPT.

    Attributes:
        vocab_size: V, number of token ids.
        context_length: T_max, the longest sequence the model reads (positions).
        n_layer: number of Transformer blocks.
        n_head: attention heads per block; must divide d_model.
        d_model: width of the residual stream (GPT-2's n_embd).
        dropout: dropout probability in [0, 1), applied as in GPT-2. 0 for small data.
        bias: biases in the linear layers and LayerNorms. GPT-2 has them; they buy
            nothing measurable in small models and cost speed, so the course turns them off.
        activation: ``"gelu"`` (exact, erf-based; the default) or ``"gelu_tanh"``, the tanh
            approximation GPT-2 used. They differ by under 1e-3. Measured by
            benchmarks/train_throughput.py (2-core CPU, torch 2.13), the approximation
            trains 1-2% slower (25,409 against 25,947 tokens/s), within the noise.
        mup_base_width: None (the default) for the standard parametrisation (SP), GPT-2's.
            An int: the maximal-update parametrisation (muP; Yang et al. 2022, "Tensor
            Programs V", arXiv 2203.03466, Table 3), with the width multiplier
            m = d_model / mup_base_width (any d_model; m may be fractional). A muP model of
            width mup_base_width equals the SP model of the same seed; hyperparameters tuned at
            that base width transfer to other widths.
        mup_base_head_dim: under muP, the head width of the base model (None:
            mup_base_width // n_head, i.e. n_head fixed across widths so d_head grows with m;
            give the fixed head width when widening adds heads instead).
    """

    vocab_size: int
    context_length: int
    n_layer: int
    n_head: int
    d_model: int
    dropout: float = 0.0
    bias: bool = False
    activation: str = "gelu"
    mup_base_width: int | None = None
    mup_base_head_dim: int | None = None

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "d_model"):
            check_int(getattr(self, name), f"GPTConfig.{name}", minimum=1)
        if self.d_model % self.n_head:
            divisors = [h for h in range(1, min(self.d_model, 64) + 1) if self.d_model % h == 0]
            raise ValueError(
                f"n_head={self.n_head} must divide d_model={self.d_model} (each head gets d_model / n_head "
                f"dimensions). Choose n_head from {divisors} or change d_model."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.activation not in _GELU_APPROXIMATE:
            raise ValueError(f"activation must be one of {sorted(_GELU_APPROXIMATE)}, got {self.activation!r}.")
        if self.mup_base_width is not None and (isinstance(self.mup_base_width, bool)
                                                or not isinstance(self.mup_base_width, int) or self.mup_base_width < 1):
            raise ValueError(f"mup_base_width must be None (standard parametrisation) or a positive int, the d_model "
                             f"of the base model muP is tuned at, got {self.mup_base_width!r}.")
        if self.mup_base_head_dim is not None:
            check_int(self.mup_base_head_dim, "GPTConfig.mup_base_head_dim (or None)", minimum=1)

    @property
    def d_head(self) -> int:
        """Width of one attention head, d_model / n_head."""
        return self.d_model // self.n_head

    @property
    def width_mult(self) -> float:
        """muP's width multiplier m = d_model / mup_base_width (1.0 under SP)."""
        return 1.0 if self.mup_base_width is None else self.d_model / self.mup_base_width

    @property
    def attn_scale(self) -> float | None:
        """The factor on q.k in attention: None under SP (torch's default, 1/sqrt(d_head)).

        Under muP it is sqrt(b) / d_head, b the base model's head width (``mup_base_head_dim``,
        default mup_base_width / n_head): muP's 1/d attention (Yang et al. 2022; microsoft/mup's
        README writes 8/d, i.e. b = 64), normalised so that at the base it equals SP's
        1/sqrt(d_head). A pure number.
        """
        if self.mup_base_width is None:
            return None
        base = self.mup_base_width / self.n_head if self.mup_base_head_dim is None else self.mup_base_head_dim
        return math.sqrt(base) / self.d_head


# ----------------------------------------------------------------------------- layers


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused Q, K, V projection."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.dropout, self.scale = config.n_head, config.dropout, config.attn_scale
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.c_proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # batch, time, d_model
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0, scale=self.scale
        )  # (B, nh, T, hs); scale None = 1/sqrt(hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward network: Linear(C, 4C), GELU, Linear(4C, C).

    GELU(x) = x * Phi(x) (Hendrycks & Gimpel 2016), a smooth ReLU; the seeds' FFN uses
    max(0, .), the ReLU of the original Transformer. Chapter 02 compares the two.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, 4 * config.d_model, bias=config.bias)
        self.gelu = nn.GELU(approximate=_GELU_APPROXIMATE[config.activation])
        self.c_proj = nn.Linear(4 * config.d_model, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """One Transformer block, pre-LayerNorm: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class MuReadout(nn.Linear):
    """muP's output layer: ``Linear(x / width_mult)``, (..., d_model) -> (..., vocab_size) logits.

    The 1/m output multiplier of microsoft/mup's ``MuReadout`` (mup/layer.py), the form of
    muP with multipliers: with it the weight keeps a width-independent init and Adam learning
    rate, and the effective readout W / m has Table 3's init variance 1/fan_in^2 and Adam
    lr 1/fan_in (Yang et al. 2022).
    """

    def __init__(self, in_features: int, out_features: int, width_mult: float):
        super().__init__(in_features, out_features, bias=False)
        self.width_mult = float(width_mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x / self.width_mult)


# ----------------------------------------------------------------------------- the model


class GPT(nn.Module):
    """A GPT language model: ``forward(idx, targets=None) -> (logits, loss)``.

    Initialisation (GPT-2): every weight N(0, 0.02^2), the projections into the residual
    stream (c_proj) with std 0.02 / sqrt(2 n_layer), biases 0, LayerNorm gains 1. Under muP
    (``config.mup_base_width`` set; m = ``config.width_mult``) the hidden matrices of the
    blocks (c_attn, c_fc, both c_proj) get std / sqrt(m) (variance ~ 1/fan_in); the
    embeddings and LayerNorms keep SP's init; the readout ``lm_head`` is a ``MuReadout``
    (logits of x / m) that shares its weight with the token embedding, as microsoft/mup's
    ``MuSharedReadout`` does for tied embeddings. At m = 1 a muP model is the SP model of the
    same seed, weight for weight and logit for logit.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"GPT needs a GPTConfig, got {type(config).__name__}.")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)  # token embedding
        self.wpe = nn.Embedding(config.context_length, config.d_model)  # position embedding
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        mup = config.mup_base_width is not None
        if mup:  # muP: the readout with a 1/m multiplier (microsoft/mup's MuSharedReadout: tied to wte)
            self.lm_head = MuReadout(config.d_model, config.vocab_size, config.width_mult)
        else:
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017), as GPT-2
        self.apply(self._init_weights)
        # GPT-2: scale the init of the projections into the residual stream by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if mup:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if self._is_hidden_matrix(name, p):
                        p.mul_(1.0 / math.sqrt(config.width_mult))  # std 0.02 / sqrt(m): variance ~ 1/fan_in

    @staticmethod
    def _is_hidden_matrix(name: str, p: torch.Tensor) -> bool:
        return name.startswith("blocks.") and p.dim() == 2  # c_attn, c_proj, c_fc weights

    def lr_scales(self) -> dict[str, float]:
        """Learning-rate multiplier of every parameter, by ``named_parameters`` name (``train_loop`` applies them).

        All 1.0 under SP. Under muP with Adam (Yang et al. 2022, Table 3; microsoft/mup's
        ``MuAdam``, mup/optim.py): 1/m for the hidden matrices (both dimensions grow with
        width), 1.0 for the embeddings, LayerNorm gains and biases; the readout shares the
        token embedding's weight (one width-sized dimension: vector-like in ``MuAdam``) and
        its 1/m output multiplier gives the readout's effective lr / m.
        """
        m = self.config.width_mult
        return {name: (1.0 / m if self.config.mup_base_width is not None and self._is_hidden_matrix(name, p) else 1.0)
                for name, p in self.named_parameters()}

    @staticmethod
    def _init_weights(module: nn.Module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Next-token logits, and the cross-entropy loss if targets are given.

        Args:
            idx: (B, T) int64 token ids in [0, vocab_size), T <= context_length.
            targets: optional (B, T) int64 next-token ids; -100 marks positions to ignore.

        Returns:
            logits: (B, T, vocab_size), unnormalised log-probabilities.
            loss: mean cross-entropy in nats per token (a 0-d tensor), or None.
        """
        self.check_ids(idx, "idx")
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        self.check_ids(targets, "targets", allow_ignore=True)
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}.")
        loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T), ignore_index=-100)
        return logits, loss

    def check_ids(self, ids, name: str = "idx", allow_ignore: bool = False):
        """ValueError, saying what to do, unless ``ids`` is a (B, T) integer tensor this model can read.

        The checks of ``forward`` (shape, dtype, T <= context_length, ids < vocab_size; ``allow_ignore``
        admits the ignore index -100 in targets), public so that code running the model block by
        block gives the same messages.
        """
        check_token_ids(ids, name, "time")
        if ids.shape[1] > self.config.context_length:
            raise ValueError(
                f"{name} has {ids.shape[1]} positions but context_length is {self.config.context_length}; "
                f"crop it, e.g. {name}[:, -{self.config.context_length}:]."
            )
        if ids.shape[1] == 0:
            raise ValueError(f"{name} is empty (0 positions); give at least one token.")
        if ids.device != self.wte.weight.device:
            raise ValueError(f"{name} is on {ids.device} but the model is on {self.wte.weight.device}; use {name}.to(device).")
        valid = (ids >= 0) & (ids < self.config.vocab_size)
        if allow_ignore:
            valid |= ids == -100
        if not bool(valid.all()):
            bad = ids[~valid]
            raise ValueError(
                f"{name} holds ids outside the vocabulary (e.g. {bad[:3].tolist()}); vocab_size is "
                f"{self.config.vocab_size}, so ids must be in [0, {self.config.vocab_size - 1}]"
                + (" or -100 to ignore a position." if allow_ignore else ". Check that the tokenizer matches the model.")
            )

    # ------------------------------------------------------------------------- accounting

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters. ``non_embedding=True`` leaves out the token and position
        embeddings, as Kaplan et al. (2020) count N; the tied output head is the token
        embedding, so it is left out too (muP's untied readout, the same size, is left out
        with it, so N is the same in both parametrisations). That N is about
        12 * n_layer * d_model**2."""
        n = sum(p.numel() for p in self.parameters())  # tied weights are counted once
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
            if self.lm_head.weight is not self.wte.weight:
                n -= self.lm_head.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), for compute and MFU estimates.

        ``6 * N_matmul + 12 * n_layer * d_model * context_length`` where N_matmul is every
        weight used in a matrix multiply: the non-embedding parameters plus the tied output
        head (d_model * vocab_size). The second term is attention's QK^T and AV products.
        Source: Chowdhery et al. 2022 (PaLM), appendix B; Kaplan et al. 2020, table 1, give
        the forward pass as 2N + 2 n_layer n_ctx d_attn and count N without embeddings.
        """
        c = self.config
        n_matmul = self.num_params(non_embedding=True) + c.d_model * c.vocab_size
        return 6.0 * n_matmul + 12.0 * c.n_layer * c.d_model * c.context_length

    # ------------------------------------------------------------------------- sampling

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend (B, T) token ids by ``max_new_tokens`` sampled tokens -> (B, T + max_new_tokens).

        ``temperature=0`` is greedy decoding (the most likely token each step).
        ``course_lib.generation`` has the full set of decoding strategies.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}.")
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.context_length :])
            logits = logits[:, -1, :]  # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        self.train(was_training)
        return idx


def check_token_ids(ids, name: str, positions: str = "time") -> None:
    """ValueError, saying what to do, unless ``ids`` is a 2-D (batch, positions) tensor of integer ids.

    The first checks of ``GPT`` and ``course_lib.transformer.Seq2SeqTransformer``; each
    model then checks the length, the device and the vocabulary itself. ``positions`` names
    the second axis in the message ("time" for GPT, "length" for the encoder-decoder).
    """
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}; use torch.tensor(...).")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}; use {name}.long().")
    if ids.dim() != 2:
        hint = f" Add a batch dimension with {name}.unsqueeze(0)." if ids.dim() == 1 else ""
        raise ValueError(f"{name} must have shape (batch, {positions}), got {tuple(ids.shape)}.{hint}")


# ----------------------------------------------------------------------------- Hugging Face


def to_hf(gpt: GPT):
    """Copy a course GPT into a Hugging Face ``GPT2LMHeadModel`` that computes the same logits.

    The HF model uses Conv1D layers whose weights are the transposes of ours, and it
    always has biases: a course model without biases gets zero biases there.
    ``model.save_pretrained(folder)`` then writes safetensors that
    ``AutoModelForCausalLM.from_pretrained(folder)`` loads offline. A muP model raises
    ValueError: GPT-2 has no readout multiplier, untied head or 1/d_head attention.
    """
    if gpt.config.mup_base_width is not None:
        raise ValueError("to_hf converts standard-parametrisation models only: this one is muP "
                         f"(mup_base_width={gpt.config.mup_base_width}), and GPT-2 has no readout multiplier, "
                         "untied head or 1/d_head attention scale.")
    from transformers import GPT2Config, GPT2LMHeadModel

    c = gpt.config
    hf_config = GPT2Config(
        **{hf: getattr(c, ours) for ours, hf in _HF_SIZES.items()},
        n_inner=4 * c.d_model,
        activation_function=_HF_ACTIVATION[c.activation],  # the same torch function as ours
        resid_pdrop=c.dropout,
        embd_pdrop=c.dropout,
        attn_pdrop=c.dropout,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
    )
    hf = GPT2LMHeadModel(hf_config)
    src = gpt.state_dict()
    dst = {}
    for name, tensor in src.items():
        hf_name, transpose = _hf_name(name)
        if hf_name is None:
            continue
        dst[hf_name] = tensor.t() if transpose else tensor
    with torch.no_grad():
        for name, p in hf.state_dict().items():
            if name in dst:
                p.copy_(dst[name])
            elif name.endswith(".bias"):
                p.zero_()  # our model has no biases
            elif name.endswith(".weight") and ("ln_" in name):
                raise AssertionError(f"unmapped LayerNorm weight {name}")  # pragma: no cover
    hf.tie_weights()
    return hf.to(gpt.wte.weight.device).train(gpt.training)


def from_hf(hf_model) -> GPT:
    """Build a course GPT with the weights of a Hugging Face ``GPT2LMHeadModel`` (same logits).

    Works for the real GPT-2 checkpoints as well as for models made by ``to_hf``. GPT-2
    variants the course GPT cannot express (untied head, other activations, layer-wise
    attention scaling) raise a ValueError.
    """
    hc = hf_model.config
    if getattr(hc, "model_type", None) != "gpt2":
        raise ValueError(f"from_hf expects a GPT-2 model (model_type 'gpt2'), got {getattr(hc, 'model_type', None)!r}.")
    tanh_gelus = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
    if hc.activation_function not in tanh_gelus + ("gelu",):
        raise ValueError(f"from_hf supports GELU (exact or tanh-approximated), got {hc.activation_function!r}.")
    if hc.n_inner not in (None, 4 * hc.n_embd):
        raise ValueError(f"from_hf supports an MLP width of 4 * n_embd, got n_inner={hc.n_inner}.")
    if hc.scale_attn_by_inverse_layer_idx or not hc.scale_attn_weights:
        raise ValueError("from_hf supports standard 1/sqrt(d_head) attention scaling only.")
    if not getattr(hc, "tie_word_embeddings", True):
        raise ValueError("from_hf supports GPT-2 with the output head tied to the token embedding.")
    config = GPTConfig(
        **{ours: getattr(hc, hf) for ours, hf in _HF_SIZES.items()},
        dropout=0.0,
        bias=True,
        activation="gelu_tanh" if hc.activation_function in tanh_gelus else "gelu",
    )
    gpt = GPT(config)
    hf_state = hf_model.state_dict()
    with torch.no_grad():
        for name, p in gpt.state_dict().items():
            hf_name, transpose = _hf_name(name)
            if hf_name is None:
                continue
            src = hf_state[hf_name]
            p.copy_(src.t() if transpose else src)
    return gpt.to(next(hf_model.parameters()).device)


def _hf_name(name: str) -> tuple[str | None, bool]:
    """Our state-dict key -> (GPT2LMHeadModel key, whether the weight is transposed)."""
    if name == "lm_head.weight":
        return None, False  # tied to wte
    if name in ("wte.weight", "wpe.weight") or name.startswith("ln_f."):
        return "transformer." + name, False
    if name.startswith("blocks."):
        hf = "transformer.h." + name[len("blocks.") :]
        is_linear = ("c_attn" in name or "c_fc" in name or "c_proj" in name) and name.endswith(".weight")
        return hf, is_linear
    raise KeyError(name)


def config_dict(config: GPTConfig) -> dict:
    """The config as a plain dict (for JSON next to a checkpoint)."""
    return asdict(config)
