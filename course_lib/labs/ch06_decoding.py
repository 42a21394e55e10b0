"""Chapter 06's decoding lab: temperature, top-k and top-p sliders on a real next-token distribution.

The model runs once per prompt (``prompt_logits``); every slider move after that is
arithmetic on one (V,) vector of logits (``next_token_state``, a few milliseconds), so the
bar chart follows the sliders. A sampled continuation needs the model again, a forward
pass per new token, so it is drawn when a slider is released.

    logits = prompt_logits(model, tokenizer, "The quick brown fox")   # (V,), one forward pass
    state = next_token_state(logits, tokenizer, temperature=0.8, top_k=50, top_p=0.9)
    state.n_kept, state.entropy_bits, state.top[:3]                    # what the sliders show
    plot_next_token(state)
    decoding_widget(model, tokenizer)                                  # the sliders (ipywidgets)

The arithmetic is ``course_lib.generation.next_token_distribution``, whose kept tokens are
those of transformers' warpers; the slider conventions are ``generate``'s: top-k 0 and
top-p 1.0 switch the filter off, temperature 0 is greedy.

``compare_strategies(model, tokenizer, prompts)`` runs the decoding strategies of
``STRATEGIES`` on a list of prompts (batched ``generate`` calls) and measures each: the
log-probability per token of its text under the model, its repetition (seq-rep-4) and its
variety (distinct-2), each a mean over the texts with a bootstrap interval (chapter 06b).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..adapter import inference, next_token_logits
from ..bootstrap import Interval, mean_interval
from ..generation import check_temperature, next_token_distribution, sample
from ..metrics import distinct_n, repetition_rate
from ..validation import check_int
from .figures import figure_png

__all__ = ["token_label", "prompt_logits", "NextTokenState", "next_token_state", "plot_next_token",
           "continuation", "decoding_widget", "STRATEGIES", "StrategyRow", "StrategyTable", "compare_strategies",
           "distinct_interval"]

_VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u2192"}  # open box, return arrow, right arrow


def token_label(tokenizer, token_id: int) -> str:
    """A token as readable text: spaces as ␣, newlines as ↵, tabs as →; special tokens as they are.

    A token that is part of a multi-byte character (it decodes to U+FFFD) shows its bytes,
    e.g. ``<0xE2>``.
    """
    text = tokenizer.decode([int(token_id)])
    if text == "" or "\ufffd" in text:
        raw = tokenizer.convert_ids_to_tokens(int(token_id)) or ""
        byte_of = _byte_level_bytes()
        if raw and all(ch in byte_of for ch in raw):
            return "".join(f"<0x{byte_of[ch]:02X}>" for ch in raw)
        return f"<{int(token_id)}>"
    return "".join(_VISIBLE.get(ch, ch) for ch in text)


def _byte_level_bytes() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte -> the byte.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space,
    ...) are shifted to code points 256 and up (Radford et al. 2019, ``bytes_to_unicode``).
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
            *range(ord("\u00ae"), ord("\u00ff") + 1)]
    chars, shift = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + shift)] = b
            shift += 1
    return chars


def _encode_prompt(tokenizer, prompt: str) -> torch.Tensor:
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string, e.g. 'The quick brown fox'.")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]  # (1, T)
    if ids.shape[1] == 0:
        raise ValueError(f"the prompt {prompt!r} encoded to no tokens; give some text.")
    return ids


def prompt_logits(model, tokenizer, prompt: str) -> torch.Tensor:
    """The model's next-token logits after ``prompt``: (V,) float32 (one forward pass)."""
    ids = _encode_prompt(tokenizer, prompt)
    with inference(model):
        return next_token_logits(model, ids)[0]  # (V,)


def _slider_filters(top_k, top_p) -> tuple[int | None, float | None]:
    """Slider values -> filter_logits arguments: top_k 0 and top_p 1.0 mean no filter."""
    if top_k is not None and not isinstance(top_k, bool) and isinstance(top_k, int) and top_k == 0:
        top_k = None
    if top_p is not None and not isinstance(top_p, bool) and isinstance(top_p, (int, float)) and top_p == 1.0:
        top_p = None
    return top_k, top_p


@dataclass(frozen=True)
class NextTokenState:
    """What the sliders show for one setting.

    Attributes:
        temperature, top_k, top_p: the setting (top_k None / top_p None: filter off).
        probs: (V,) the distribution that would be sampled from (0 for removed tokens).
        base_probs: (V,) the model's own distribution, softmax(logits), for comparison.
        n_kept: how many tokens can still be drawn (probability > 0).
        entropy_bits: entropy of ``probs`` in bits (0 = one certain token; log2 V = uniform).
        top: the ``n_show`` most likely tokens of ``base_probs``, best first, as
            (label, model probability, probability after the setting).
    """

    temperature: float
    top_k: int | None
    top_p: float | None
    probs: torch.Tensor
    base_probs: torch.Tensor
    n_kept: int
    entropy_bits: float
    top: list

    def summary(self) -> str:
        """One line: the setting, how many tokens stay, the entropy and the best token."""
        k = "off" if self.top_k is None else str(self.top_k)
        p = "off" if self.top_p is None else f"{self.top_p:.2f}"
        label, _, prob = self.top[0]
        tokens = "token" if self.n_kept == 1 else "tokens"
        return (f"temperature {self.temperature:.2f}, top-k {k}, top-p {p}: {self.n_kept:,} {tokens} can be drawn, "
                f"entropy {self.entropy_bits:.2f} bits; most likely '{label}' at {prob:.1%}")


def next_token_state(logits: torch.Tensor, tokenizer, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None, n_show: int = 12) -> NextTokenState:
    """The distribution a sampler would draw from, for slider values: (V,) logits -> ``NextTokenState``.

    ``top_k`` 0 or None and ``top_p`` 1.0 or None switch that filter off; temperature 0 is
    greedy (all the probability on the best token). Arithmetic only: a few milliseconds.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 1:
        raise ValueError("logits must be a (V,) tensor, e.g. prompt_logits(model, tokenizer, prompt).")
    n_show = check_int(n_show, "n_show", minimum=1)
    temperature = check_temperature(temperature)
    top_k, top_p = _slider_filters(top_k, top_p)
    probs = next_token_distribution(logits, temperature, top_k=top_k, top_p=top_p)  # (V,)
    base = torch.softmax(logits.float(), dim=-1)  # (V,)
    kept = probs > 0
    order = torch.argsort(base, descending=True, stable=True)[:n_show]
    top = [(token_label(tokenizer, int(i)), float(base[i]), float(probs[i])) for i in order]
    return NextTokenState(temperature, top_k, top_p, probs, base, int(kept.sum()), _entropy_bits(probs), top)


def plot_next_token(state: NextTokenState, ax=None, title: str | None = None):
    """Horizontal bars: the model's probability (grey) and after the setting (colour), best token on top."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.28 * len(state.top) + 1.0))
    labels = [label for label, _, _ in state.top]
    y = list(range(len(state.top)))[::-1]
    ax.barh(y, [b for _, b, _ in state.top], color="0.8", label="model (T = 1, no filter)")
    ax.barh(y, [a for _, _, a in state.top], height=0.5, color="C0", label="after the setting")
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of the next token")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or state.summary().split(":")[0], fontsize=9)
    return ax


def continuation(model, tokenizer, prompt: str, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, n_tokens: int = 20, seed: int = 0) -> str:
    """``n_tokens`` new tokens sampled after ``prompt`` with ``course_lib.generation.sample`` (text only).

    Same conventions as ``next_token_state``; the same seed gives the same text.
    """
    top_k, top_p = _slider_filters(top_k, top_p)
    ids = _encode_prompt(tokenizer, prompt)
    eos = getattr(tokenizer, "eos_token_id", None)
    out = sample(model, ids, n_tokens, temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=eos,
                 seed=seed)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def decoding_widget(model, tokenizer, prompt: str = "The quick brown fox", n_tokens: int = 20, plot: bool = True):
    """Temperature, top-k, top-p and seed sliders and a prompt box, over ``next_token_state``.

    Returns an ``ipywidgets.VBox`` with the widgets as attributes (``prompt_box``,
    ``temperature``, ``top_k``, ``top_p``, ``seed``, ``text``, ``sample_text``, ``figure``) and
    two callbacks: ``update()`` redraws the distribution and returns the ``NextTokenState``
    (arithmetic plus a plot); ``resample()`` returns a new sampled continuation (a forward
    pass per token). Sliders act when released. ``plot=False`` leaves the figure out (tests).
    """
    import ipywidgets as widgets

    _encode_prompt(tokenizer, prompt)  # validates the starting prompt
    style = dict(continuous_update=False, layout=widgets.Layout(width="330px"), style={"description_width": "100px"})
    prompt_box = widgets.Text(value=prompt, description="prompt", continuous_update=False,
                              layout=widgets.Layout(width="660px"))
    temperature = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
                                      readout_format=".2f", **style)
    top_k = widgets.IntSlider(value=0, min=0, max=200, description="top-k (0 off)", **style)
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.01, description="top-p (1 off)",
                                readout_format=".2f", **style)
    seed = widgets.IntSlider(value=0, min=0, max=20, description="seed", **style)
    text = widgets.HTML()
    sample_text = widgets.HTML()
    figure = widgets.Image(format="png")
    cache = {}

    def logits_now():
        if cache.get("prompt") != prompt_box.value:
            cache["prompt"], cache["logits"] = prompt_box.value, prompt_logits(model, tokenizer, prompt_box.value)
        return cache["logits"]

    def update(*_):
        state = next_token_state(logits_now(), tokenizer, temperature.value, top_k.value, top_p.value)
        text.value = "<pre>" + state.summary() + "</pre>"
        if plot:
            figure.value = figure_png(plot_next_token(state).figure)
        return state

    def resample(*_):
        out = continuation(model, tokenizer, prompt_box.value, temperature.value, top_k.value, top_p.value,
                           n_tokens, seed.value)
        sample_text.value = "<pre>" + _html_escape(prompt_box.value) + "<b>" + _html_escape(out) + "</b></pre>"
        return out

    def both(*_):
        state = update()
        resample()
        return state

    for w in (prompt_box, temperature, top_k, top_p, seed):
        w.observe(both, names="value")
    both()
    box = widgets.VBox([prompt_box, widgets.HBox([temperature, top_k]), widgets.HBox([top_p, seed]), text,
                        sample_text, figure])
    box.update, box.resample = update, resample
    box.prompt_box, box.temperature, box.top_k, box.top_p, box.seed = prompt_box, temperature, top_k, top_p, seed
    box.text, box.sample_text, box.figure = text, sample_text, figure
    return box


def _html_escape(text: str) -> str:
    import html

    return html.escape(text)


def _entropy_bits(probs: torch.Tensor) -> float:
    """Entropy in bits of a probability vector; tokens with probability 0 add nothing."""
    p = probs[probs > 0].double()
    return max(float(-(p * p.log2()).sum()), 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0


# ----------------------------------------------------------------------------- strategies compared

STRATEGIES = {  # name -> generate() settings; top_k=0 switches off generate's default top-k of 50
    "greedy": dict(do_sample=False),
    "beam search, 4 beams": dict(do_sample=False, num_beams=4),
    "greedy, repetition penalty 1.3": dict(do_sample=False, repetition_penalty=1.3),
    "sampling, T = 1": dict(do_sample=True, temperature=1.0, top_k=0),
    "sampling, T = 0.7": dict(do_sample=True, temperature=0.7, top_k=0),
    "top-k 50": dict(do_sample=True, temperature=1.0, top_k=50),
    "top-p 0.9": dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.9),
}


@dataclass(frozen=True)
class StrategyRow:
    """One strategy's measurements over its texts.

    Attributes:
        logprob: mean log-probability per generated token under the model (nats, T = 1), per text.
        repetition: mean seq-rep-4 of a text (share of its 4-grams that repeat an earlier one).
        distinct: mean distinct-2 of a text (share of its token pairs that are distinct; ``distinct_interval``).
    """

    logprob: Interval
    repetition: Interval
    distinct: Interval


@dataclass(frozen=True)
class StrategyTable:
    """``compare_strategies``' result, per strategy name: its row, its texts and their token ids."""

    rows: dict
    texts: dict
    token_ids: dict

    def summary(self, title: str = "") -> str:
        """A table of the rows, each number with its 95% bootstrap interval."""
        def cell(i: Interval, digits: int) -> str:
            return f"{i.estimate:6.{digits}f} [{i.low:6.{digits}f}, {i.high:6.{digits}f}]"

        lines = [title] if title else []
        lines.append(f"{'strategy':32} {'log-prob per token (nats)':>26} {'repetition (seq-rep-4)':>24} "
                     f"{'distinct-2':>22}")
        for name, r in self.rows.items():
            lines.append(f"{name:32} {cell(r.logprob, 2):>26} {cell(r.repetition, 3):>24} {cell(r.distinct, 3):>22}")
        return "\n".join(lines)


def compare_strategies(model, tokenizer, prompts, new_tokens: int = 48, samples: int = 2, seed: int = 0,
                       strategies: dict | None = None) -> StrategyTable:
    """Generate ``new_tokens`` after every prompt with every strategy, and measure the texts.

    A transformers causal LM's ``generate`` does the decoding, one batched call per strategy
    (prompts left-padded, with an attention mask; the end-of-text token held back with
    ``min_new_tokens`` so that every text has ``new_tokens`` tokens). Deterministic strategies
    give one text per prompt, sampling ones ``samples`` (after ``torch.manual_seed(seed)``).
    Each text is then scored by one forward pass: its mean log-probability per token at
    temperature 1, its seq-rep-4 and its distinct-2; each row holds their means over the
    strategy's texts, with 95% percentile bootstrap intervals over the texts (``course_lib.bootstrap``).
    """
    if isinstance(prompts, str) or len(prompts) < 2:
        raise ValueError("prompts must be a list of at least two prompts (str).")
    new_tokens = check_int(new_tokens, "new_tokens", minimum=4)
    samples = check_int(samples, "samples", minimum=1)
    strategies = STRATEGIES if strategies is None else strategies
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = "left"  # new tokens follow real text in every row
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows, texts, token_ids = {}, {}, {}
    try:
        for name, settings in strategies.items():
            batch = tokenizer(list(prompts) * (samples if settings.get("do_sample") else 1), return_tensors="pt",
                              padding=True)
            torch.manual_seed(seed)
            with inference(model):
                out = model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                     pad_token_id=tokenizer.pad_token_id, **settings)  # (n, T + new_tokens)
                new = out[:, batch["input_ids"].shape[1]:]  # (n, new_tokens)
                mask = torch.cat([batch["attention_mask"], torch.ones_like(new)], dim=1)
                positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # positions count from the first real token
                logits = model(input_ids=out, attention_mask=mask, position_ids=positions).logits
                logits = logits[:, batch["input_ids"].shape[1] - 1:-1].float()  # (n, new_tokens, V)
                logprob = torch.log_softmax(logits, dim=-1).gather(2, new[..., None])[..., 0].mean(dim=1)  # (n,)
            token_lists = new.tolist()
            rows[name] = StrategyRow(
                logprob=mean_interval(logprob.double().numpy(), seed=seed),
                repetition=mean_interval([repetition_rate(t, 4) for t in token_lists], seed=seed),
                distinct=distinct_interval(token_lists, 2, seed))
            texts[name] = tokenizer.batch_decode(new, skip_special_tokens=True)
            token_ids[name] = token_lists
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad
    return StrategyTable(rows, texts, token_ids)


def distinct_interval(token_lists, n: int = 2, seed: int = 0) -> Interval:
    """The mean over texts of each text's own distinct-n, with a 95% bootstrap interval over the texts.

    Each text (a list of token ids, at least ``n`` of them) scores its distinct n-grams over
    its n-grams (``course_lib.metrics.distinct_n`` of that text alone: 1 = no n-gram repeats,
    near 0 = a loop); the estimate is the mean of those scores, and the interval resamples the
    scores (``course_lib.bootstrap.mean_interval``), so it lies around the estimate. (distinct-n
    of the texts pooled would not do: a resample that repeats a text repeats its n-grams, so
    nearly every resample would score below the pooled texts.)
    """
    if isinstance(token_lists, str) or len(token_lists) < 2:
        raise ValueError("token_lists must be a list of at least two token lists, one per text.")
    n = check_int(n, "n", minimum=1)
    short = [i for i, t in enumerate(token_lists) if len(t) < n]
    if short:
        raise ValueError(f"texts {short} have fewer than n = {n} tokens and no n-gram; generate longer texts.")
    return mean_interval([distinct_n([t], n) for t in token_lists], seed=seed)
