"""A Llama-style decoder in the course's model family, and its conversion to and from ``LlamaForCausalLM``.

    token ids (B, T)
      -> token embedding; no position table                                    (B, T, d_model)
      -> n_layer x Block: x + attn(rms_1(x)); x + swiglu(rms_2(x))             (pre-norm, as GPT-2)
             attention: grouped-query (n_kv_head key/value heads), q and k rotated by RoPE
      -> final RMSNorm -> linear head, tied to the embedding or not             (B, T, vocab_size)

``ModernGPT`` is ``course_lib.model.GPT`` with the changes Llama made to GPT-2's block
(Touvron et al. 2023, section 2.2): RMSNorm for LayerNorm, rotary positions for the learned
table, a SwiGLU feed-forward of width about 8d/3 for GELU at 4d; and grouped-query attention,
which Llama 2 used in its 34B and 70B models and Llama 3 in all of them. The parts are in
``course_lib.llama_layers``; biases and dropout are gone, as in Llama.

``from_hf`` reads a Hugging Face ``LlamaForCausalLM`` (random small ones, or the real
SmolLM2-135M of ``course_lib.pretrained``) and ``to_hf`` writes one; both give the same logits
(tests/test_llama.py: under 1e-4 in float32 on SmolLM2). A Llama variant this family cannot
express (scaled RoPE, biases, a sliding window, another activation, ...) raises a ValueError
that names the setting. Inputs are whole rows, no padding: every position attends to every
earlier one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .llama_layers import GroupedQueryAttention, RMSNorm, SwiGLU, rope_cos_sin, swiglu_hidden_size
from .model import GPT
from .validation import check_int, check_positive

__all__ = ["ModernGPTConfig", "ModernGPT", "LlamaBlock", "check_hf_llama_config", "from_hf", "to_hf"]


@dataclass
class ModernGPTConfig:
    """Everything that sets the size of a ``ModernGPT``.

    Attributes:
        vocab_size: V, number of token ids.
        context_length: the longest sequence the model reads. RoPE has no table that ends
            here, but a model is trained up to some length and is not trusted beyond it.
        n_layer: number of blocks.
        n_head: query heads per block; must divide d_model, and head_dim = d_model / n_head
            must be even (RoPE rotates pairs).
        n_kv_head: key/value heads, dividing n_head. n_head: multi-head attention; 1:
            multi-query attention; in between: grouped-query attention.
        d_model: width of the residual stream.
        d_hidden: width of the SwiGLU feed-forward; None: Llama's rule,
            ``swiglu_hidden_size(d_model)`` (about 8/3 d_model, rounded up to a multiple of 256).
        rope_base: RoPE's base (Hugging Face's rope_theta): 10,000 in Llama 2, 100,000 in SmolLM2.
        norm_eps: the epsilon of every RMSNorm (1e-5 in Llama 2 and SmolLM2).
        tie_embeddings: whether the output head is the token embedding (SmolLM2: yes; Llama 2: no).
    """

    vocab_size: int
    context_length: int
    n_layer: int
    n_head: int
    n_kv_head: int
    d_model: int
    d_hidden: int | None = None
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "n_kv_head", "d_model"):
            check_int(getattr(self, name), f"ModernGPTConfig.{name}", minimum=1)
        if self.d_model % self.n_head:
            raise ValueError(f"n_head={self.n_head} must divide d_model={self.d_model} (each head gets "
                             f"d_model / n_head dimensions).")
        if self.head_dim % 2:
            raise ValueError(f"head_dim = d_model / n_head = {self.head_dim} is odd; RoPE rotates coordinates in "
                             f"pairs, so choose d_model and n_head with an even quotient.")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_kv_head={self.n_kv_head} must divide n_head={self.n_head}; choose n_kv_head from "
                             f"{[k for k in range(1, self.n_head + 1) if self.n_head % k == 0]}.")
        if self.d_hidden is None:
            self.d_hidden = swiglu_hidden_size(self.d_model)
        check_int(self.d_hidden, "ModernGPTConfig.d_hidden", minimum=1)
        if check_positive(self.rope_base, "ModernGPTConfig.rope_base") <= 1:
            raise ValueError(f"ModernGPTConfig.rope_base must be > 1 (10000 in Llama 2), got {self.rope_base}.")
        check_positive(self.norm_eps, "ModernGPTConfig.norm_eps")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"ModernGPTConfig.tie_embeddings must be True or False, got {self.tie_embeddings!r}.")

    @property
    def head_dim(self) -> int:
        """Width of one attention head, d_model / n_head."""
        return self.d_model // self.n_head


class LlamaBlock(nn.Module):
    """One Llama block, pre-norm: x + attn(rms_1(x)), then x + swiglu(rms_2(x)); (B, T, d) -> (B, T, d)."""

    def __init__(self, config: ModernGPTConfig):
        super().__init__()
        self.norm_1 = RMSNorm(config.d_model, config.norm_eps)
        self.attn = GroupedQueryAttention(config.d_model, config.n_head, config.n_kv_head)
        self.norm_2 = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config.d_model, config.d_hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_1(x), cos, sin)
        return x + self.mlp(self.norm_2(x))


class ModernGPT(nn.Module):
    """A Llama-style language model: ``forward(idx, targets=None) -> (logits, loss)``, as ``course_lib.model.GPT``.

    Initialisation as the course GPT: every matrix N(0, 0.02^2), the two projections into the
    residual stream (o_proj, down_proj) with std 0.02 / sqrt(2 n_layer), RMSNorm gains 1.
    """

    def __init__(self, config: ModernGPTConfig):
        super().__init__()
        if not isinstance(config, ModernGPTConfig):
            raise ValueError(f"ModernGPT needs a ModernGPTConfig, got {type(config).__name__}.")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)  # the only place tokens enter; no positions
        self.blocks = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layer))
        self.norm_f = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Next-token logits (B, T, vocab_size), and the mean cross-entropy in nats per token if targets are given.

        ``idx``: (B, T) int64 ids, T <= context_length; ``targets`` (B, T), -100 = ignore.
        """
        self.check_ids(idx, "idx")
        B, T = idx.shape
        angle_dtype = torch.float64 if self.wte.weight.dtype == torch.float64 else torch.float32  # float32: as HF
        cos, sin = rope_cos_sin(torch.arange(T, device=idx.device), self.config.head_dim, self.config.rope_base,
                                angle_dtype)  # (T, hd) each
        x = self.wte(idx)  # (B, T, d)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.norm_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        self.check_ids(targets, "targets", allow_ignore=True)
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}.")
        return logits, F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-100)

    # The input checks of the course GPT, word for word: they read only config.context_length,
    # config.vocab_size and wte, which ModernGPT has too (shape, dtype, length, device, vocabulary).
    check_ids = GPT.check_ids

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters (tied weights once); ``non_embedding`` leaves out the embedding and an untied head."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel()
            if self.lm_head.weight is not self.wte.weight:
                n -= self.lm_head.weight.numel()
        return n


# ----------------------------------------------------------------------------- Hugging Face


def _rope_settings(hc) -> tuple[str, float, dict]:
    params = dict(getattr(hc, "rope_parameters", None) or {})
    legacy = getattr(hc, "rope_scaling", None)  # transformers 4 kept scaling apart from rope_theta
    if isinstance(legacy, dict) and legacy:
        params.setdefault("rope_type", legacy.get("rope_type", legacy.get("type")))
    theta = params.get("rope_theta", getattr(hc, "rope_theta", 10000.0))
    return params.get("rope_type") or "default", float(theta), params


def check_hf_llama_config(hc) -> None:
    """ValueError naming the first setting of a Hugging Face Llama config that ``ModernGPT`` cannot express."""
    model_type = getattr(hc, "model_type", None)
    if model_type != "llama":
        raise ValueError(f"from_hf reads Llama models (model_type 'llama'), got {model_type!r}; other families "
                         "(Mistral, Qwen2, Gemma, ...) differ in details this course model does not have.")
    rope_type, _, params = _rope_settings(hc)
    if rope_type != "default":
        raise ValueError(f"RoPE scaling (rope_type={rope_type!r}) is not supported: ModernGPT rotates by "
                         "position * theta_i with no rescaling; load a model with plain RoPE (rope_type 'default').")
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"partial_rotary_factor={params['partial_rotary_factor']} is not supported: ModernGPT "
                         "rotates every coordinate of each head.")
    for flag in ("attention_bias", "mlp_bias"):
        if getattr(hc, flag, False):
            raise ValueError(f"{flag}=True is not supported: ModernGPT's linear layers have no biases, as Llama's.")
    if getattr(hc, "hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act={hc.hidden_act!r} is not supported: ModernGPT's feed-forward is SwiGLU (silu).")
    if getattr(hc, "sliding_window", None) is not None:
        raise ValueError(f"sliding_window={hc.sliding_window} is not supported: every ModernGPT position attends to "
                         "all earlier ones.")
    head_dim = getattr(hc, "head_dim", None)
    if head_dim is not None and head_dim * hc.num_attention_heads != hc.hidden_size:
        raise ValueError(f"head_dim={head_dim} with {hc.num_attention_heads} heads does not make hidden_size="
                         f"{hc.hidden_size}; ModernGPT needs head_dim = hidden_size / num_attention_heads.")
    if getattr(hc, "attention_dropout", 0.0):
        raise ValueError(f"attention_dropout={hc.attention_dropout} is not supported: ModernGPT has no dropout.")


def _hf_name(name: str) -> str:
    """Our state-dict key -> LlamaForCausalLM's."""
    if name == "wte.weight":
        return "model.embed_tokens.weight"
    if name == "norm_f.weight":
        return "model.norm.weight"
    if name == "lm_head.weight":
        return name
    layer, rest = name[len("blocks."):].split(".", 1)
    rest = rest.replace("norm_1.", "input_layernorm.").replace("norm_2.", "post_attention_layernorm.")
    return f"model.layers.{layer}.{rest.replace('attn.', 'self_attn.')}"


def from_hf(hf_model) -> ModernGPT:
    """A ``ModernGPT`` with the weights of a Hugging Face ``LlamaForCausalLM`` (the same logits).

    The model keeps the Hugging Face model's dtype and device. Unsupported settings raise a
    ValueError naming them (``check_hf_llama_config``).
    """
    if type(hf_model).__name__ != "LlamaForCausalLM":
        raise ValueError(f"from_hf expects a transformers LlamaForCausalLM, got {type(hf_model).__name__}.")
    hc = hf_model.config
    check_hf_llama_config(hc)
    _, theta, _ = _rope_settings(hc)
    config = ModernGPTConfig(vocab_size=hc.vocab_size, context_length=hc.max_position_embeddings,
                             n_layer=hc.num_hidden_layers, n_head=hc.num_attention_heads,
                             n_kv_head=hc.num_key_value_heads, d_model=hc.hidden_size, d_hidden=hc.intermediate_size,
                             rope_base=theta, norm_eps=hc.rms_norm_eps, tie_embeddings=bool(hc.tie_word_embeddings))
    ref = next(hf_model.parameters())
    with torch.device("meta"):  # no memory and no random init: every weight is copied below
        model = ModernGPT(config)
    model = model.to_empty(device=ref.device).to(dtype=ref.dtype)
    if config.tie_embeddings:
        model.lm_head.weight = model.wte.weight  # to_empty makes new tensors: tie them again
    hf_state = hf_model.state_dict()
    with torch.no_grad():
        for name, p in model.named_parameters():  # a tied head is one parameter, named wte.weight
            p.copy_(hf_state[_hf_name(name)])
    return model.train(hf_model.training)


def to_hf(model: ModernGPT):
    """A Hugging Face ``LlamaForCausalLM`` with this model's weights (the same logits).

    ``save_pretrained(folder)`` then writes safetensors that ``AutoModelForCausalLM.from_pretrained``
    reads offline.
    """
    if not isinstance(model, ModernGPT):
        raise ValueError(f"to_hf expects a ModernGPT, got {type(model).__name__}.")
    from transformers import LlamaConfig, LlamaForCausalLM

    c = model.config
    hc = LlamaConfig(vocab_size=c.vocab_size, hidden_size=c.d_model, intermediate_size=c.d_hidden,
                     num_hidden_layers=c.n_layer, num_attention_heads=c.n_head, num_key_value_heads=c.n_kv_head,
                     head_dim=c.head_dim, max_position_embeddings=c.context_length, rms_norm_eps=c.norm_eps,
                     rope_parameters={"rope_type": "default", "rope_theta": float(c.rope_base)},
                     tie_word_embeddings=c.tie_embeddings, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    try:  # skip transformers' random initialisation: every weight is copied below
        from transformers.initialization import no_init_weights
    except ImportError:  # pragma: no cover - older layout
        from transformers.modeling_utils import no_init_weights
    ref = model.wte.weight
    with no_init_weights():
        hf = LlamaForCausalLM(hc).to(dtype=ref.dtype)
    hf_params = dict(hf.named_parameters())
    with torch.no_grad():
        for name, p in model.named_parameters():
            hf_params[_hf_name(name)].copy_(p)
    if c.tie_embeddings:
        hf.tie_weights()
    return hf.to(ref.device).train(model.training)
