"""Decoding: how a language model's next-token logits become text.

A causal language model gives, for every prefix, a vector of logits over the vocabulary
(V,): unnormalised log-probabilities of the next token. A *decoding strategy* turns that
vector into one token, appends it, and asks again. Everything here works from logits, so
it is the same for the course GPT (``forward(idx) -> (logits, loss)``) and for a Hugging
Face causal LM such as ``GPT2LMHeadModel`` (``model(input_ids).logits``):

    logits (B, V) -> apply_repetition_penalty   (make tokens already seen less likely)
                  -> apply_temperature          (sharpen, T < 1, or flatten, T > 1)
                  -> filter_logits              (top-k, then top-p: keep a short list)
                  -> softmax -> argmax (greedy) or torch.multinomial (sampling)

That is also the order in which ``transformers``' ``generate`` applies its logits
processors (``RepetitionPenaltyLogitsProcessor``, ``TemperatureLogitsWarper``,
``TopKLogitsWarper``, ``TopPLogitsWarper``), and the tests check each step against them:

* ``filter_logits`` keeps exactly the tokens that ``TopKLogitsWarper`` and
  ``TopPLogitsWarper`` keep, ties and ``min_tokens_to_keep`` included.
* ``greedy_decode`` gives the tokens of ``generate(do_sample=False)``.
* ``sample`` with ``seed=s`` gives the tokens of ``torch.manual_seed(s)`` followed by
  ``generate(do_sample=True, ...)`` with the same settings (pass ``top_k`` explicitly:
  ``generate`` uses ``top_k=50`` unless told otherwise).
* ``beam_search`` follows the beam search of transformers 5 (``num_beams > 1``,
  ``do_sample=False``), including its length penalty and its three ``early_stopping``
  modes; see its docstring for the exact conventions.

Two differences from ``generate`` are deliberate: the functions here recompute the whole
(cropped) prefix at every step instead of keeping a key-value cache, which is slower but
shows the idea (``course_lib.kv_cache`` writes the cache out and measures the difference),
and once the text outgrows the model's context length they crop the prefix from the left,
so that a course GPT can generate past it. The logits then differ from the cached ones by
rounding (about 1e-6), which can only matter where two tokens are tied to that precision.
A *prompt* longer than the context is refused with a ValueError naming the limit
(``adapter.check_fits_context``): cropping it would silently drop its beginning.

``next_token_distribution`` is the logic behind chapter 06's temperature / top-k / top-p
sliders: one call maps logits to the distribution that would be sampled from.

Which kinds of model work, and how their logits are obtained, is ``course_lib.adapter``'s
business (``next_token_logits``, ``inference``); which model to load is
``course_lib.course_model``'s (``model_source``, ``course_model_path``).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .adapter import as_batch, check_fits_context, inference, model_device, model_logits, next_token_logits
from .validation import check_int

__all__ = [
    "check_temperature",
    "check_top_k",
    "check_top_p",
    "apply_temperature",
    "apply_repetition_penalty",
    "filter_logits",
    "next_token_distribution",
    "greedy_decode",
    "greedy_margins",
    "sample",
    "beam_search",
    "beam_search_beams",
    "Beam",
]


# ----------------------------------------------------------------------------- checks


def _check_logits(logits, name: str = "logits") -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape (V,) or (B, V).")
    if logits.dim() not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (V,) or (B, V) with V >= 1, got {tuple(logits.shape)}.")
    if bool(torch.isnan(logits).any()):
        raise ValueError(f"{name} contains NaN; check the model output (a diverged model gives NaN logits).")
    return logits


def check_temperature(temperature) -> float:
    """``temperature`` as a float; ValueError unless it is a finite number >= 0 (0 means greedy)."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}.")
    if temperature < 0:
        raise ValueError(
            f"temperature must be >= 0, got {temperature}: use 0 for greedy decoding, values below 1 to "
            "sharpen the distribution and above 1 to flatten it."
        )
    return float(temperature)


def check_top_k(top_k) -> int | None:
    """``top_k`` as an int >= 1, or None (no top-k filter); ValueError otherwise (0 is refused here)."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be an int >= 1 (the number of tokens to keep), or None for no top-k; got {top_k!r}.")
    return int(top_k)


def check_top_p(top_p) -> float | None:
    """``top_p`` as a float in (0, 1], or None (no top-p filter); ValueError otherwise."""
    if top_p is None:
        return None
    if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0.0 < top_p <= 1.0:
        raise ValueError(
            f"top_p must be in (0, 1] (the probability mass to keep; 1 keeps everything), or None; got {top_p!r}."
        )
    return float(top_p)


def _eos_list(eos_token_id) -> list[int]:
    if eos_token_id is None:
        return []
    ids = [eos_token_id] if isinstance(eos_token_id, numbers.Integral) else list(eos_token_id)
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0:
            raise ValueError(f"eos_token_id must be a token id (int >= 0), a list of them, or None; got {eos_token_id!r}.")
    if not ids:
        raise ValueError("eos_token_id is an empty list; pass None for no end-of-sequence token.")
    return [int(i) for i in ids]


# ----------------------------------------------------------------------------- logits -> logits


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits by a temperature T: (V,) or (B, V) -> same shape.

    softmax(logits / T) is sharper than softmax(logits) for T < 1 and flatter for T > 1;
    T = 1 changes nothing (``TemperatureLogitsWarper`` computes the same division).
    T = 0 is the limit T -> 0: every token except the most likely one(s) gets -inf, so
    softmax puts all the probability there (shared equally between exact ties).
    """
    logits = _check_logits(logits)
    temperature = check_temperature(temperature)
    if temperature == 0.0:
        best = logits.max(dim=-1, keepdim=True).values  # (..., 1)
        return logits.masked_fill(logits < best, float("-inf"))
    return logits / temperature


def apply_repetition_penalty(logits: torch.Tensor, ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make tokens that already occur in ``ids`` less likely (Keskar et al. 2019, CTRL).

    Args:
        logits: (B, V) or (V,) next-token logits.
        ids: (B, T) or (T,) token ids seen so far (prompt included, as in transformers).
        penalty: > 0. Each token that occurs in ``ids`` (once or more) has its logit
            divided by ``penalty`` if it is positive and multiplied by it if it is
            negative, so ``penalty > 1`` always lowers it; 1 changes nothing.

    Returns:
        Logits of the same shape; equal to ``RepetitionPenaltyLogitsProcessor(penalty)``.
    """
    logits = _check_logits(logits)
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not (penalty > 0 and math.isfinite(penalty)):
        raise ValueError(f"penalty must be a positive number (1.0 = no penalty, about 1.2 is typical), got {penalty!r}.")
    one = logits.dim() == 1
    batch = logits.unsqueeze(0) if one else logits  # (B, V)
    ids, _ = as_batch(ids)
    ids = ids.to(batch.device)
    if ids.shape[0] != batch.shape[0]:
        raise ValueError(f"ids has {ids.shape[0]} rows but logits has {batch.shape[0]}; give one row of ids per row of logits.")
    if bool((ids >= batch.shape[-1]).any()):
        raise ValueError(f"ids holds ids >= the vocabulary size {batch.shape[-1]}; check that ids and logits match.")
    seen = torch.zeros_like(batch, dtype=torch.bool).scatter_(1, ids, True)  # (B, V): token occurred
    penalised = torch.where(batch < 0, batch * penalty, batch / penalty)  # (B, V)
    out = torch.where(seen, penalised, batch)
    return out.squeeze(0) if one else out


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None,
                  min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Keep a short list of likely tokens; every other logit becomes -inf.

    Args:
        logits: (V,) or (B, V).
        top_k: keep the k highest logits. A token tied with the k-th highest is kept
            too, so exact ties can keep more than k. None: no top-k.
        top_p: nucleus sampling (Holtzman et al. 2020): keep the smallest set of most
            likely tokens whose probabilities add up to at least ``top_p``. In (0, 1];
            1.0 (like None) keeps every token, as in ``generate``. Applied after top-k,
            on the renormalised probabilities of the tokens top-k kept.
        min_tokens_to_keep: never keep fewer tokens than this (transformers keeps 2 in
            sampled beam search; 1 otherwise).

    Returns:
        Logits of the same shape, -inf where a token was removed. The kept set is exactly
        the one kept by ``TopKLogitsWarper(top_k, min_tokens_to_keep=...)`` followed by
        ``TopPLogitsWarper(top_p, min_tokens_to_keep=...)``.

    Top-p is computed the way transformers computes it, from the *least* likely end:
    sort ascending, add up probabilities, and drop tokens while the running total is at
    most ``1 - top_p``. What is left is the nucleus. Where exactly tied tokens straddle
    the cut, which of them go follows ``torch.sort``'s order, as in transformers.
    """
    logits = _check_logits(logits)
    top_k, top_p = check_top_k(top_k), check_top_p(top_p)
    min_tokens_to_keep = check_int(min_tokens_to_keep, "min_tokens_to_keep", minimum=1)
    if top_k is not None:
        k = min(max(top_k, min_tokens_to_keep), logits.shape[-1])
        kth_best = torch.topk(logits, k).values[..., -1:]  # (..., 1): the k-th highest logit
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)  # least likely first
        mass_so_far = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # running total from the tail
        drop_sorted = mass_so_far <= 1.0 - top_p  # the tail that together holds at most 1 - top_p
        drop_sorted[..., -min_tokens_to_keep:] = False  # the most likely tokens always stay
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                            top_p: float | None = None) -> torch.Tensor:
    """The probabilities a sampler would draw the next token from: (V,) or (B, V) -> same shape.

    ``softmax(filter_logits(apply_temperature(logits, temperature), top_k, top_p))``:
    temperature first, then top-k, then top-p (the order of ``generate``; top-p depends on
    the temperature, top-k does not). Removed tokens get probability exactly 0 and the
    rest is renormalised to sum to 1. The logic behind chapter 06's sliders: compute the
    model's logits once, then call this for every slider position.
    """
    logits = _check_logits(logits).float()
    if bool(torch.isneginf(logits).all(dim=-1).any()):
        raise ValueError("every logit is -inf, so no token can be sampled; check the mask that produced them.")
    scaled = apply_temperature(logits, temperature)
    return torch.softmax(filter_logits(scaled, top_k=top_k, top_p=top_p), dim=-1)


# ----------------------------------------------------------------------------- decoding loops


def _decode_loop(model, ids, max_new_tokens, choose, repetition_penalty, eos_token_id, pad_token_id):
    """Shared loop of greedy decoding and sampling: ``choose(logits (B, V)) -> (B,)`` ids."""
    ids, one = as_batch(ids)
    check_fits_context(model, ids.shape[1])
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", minimum=0)
    eos = _eos_list(eos_token_id)
    if pad_token_id is None:
        pad_token_id = eos[0] if eos else 0
    pad_token_id = check_int(pad_token_id, "pad_token_id", minimum=0)
    ids = ids.to(model_device(model))
    eos_t = torch.tensor(eos, dtype=torch.long, device=ids.device)
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)  # (B,)
    with inference(model):
        for _ in range(max_new_tokens):
            logits = next_token_logits(model, ids)  # (B, V)
            if repetition_penalty is not None:
                logits = apply_repetition_penalty(logits, ids, repetition_penalty)
            nxt = choose(logits)  # (B,)
            if eos:
                nxt = torch.where(finished, torch.full_like(nxt, pad_token_id), nxt)  # finished rows: padding
                finished |= torch.isin(nxt, eos_t)
            ids = torch.cat([ids, nxt[:, None]], dim=1)  # (B, T + 1)
            if eos and bool(finished.all()):
                break
    return ids.squeeze(0) if one else ids


def greedy_decode(model, ids, max_new_tokens: int, eos_token_id: int | list[int] | None = None,
                  pad_token_id: int | None = None, repetition_penalty: float | None = None) -> torch.Tensor:
    """Append the most likely next token, ``max_new_tokens`` times.

    Args:
        model: a course GPT or a transformers causal LM.
        ids: (T,) or (B, T) prompt token ids (rows of equal length, no padding).
        max_new_tokens: how many tokens to add (fewer if every row reaches EOS).
        eos_token_id: optional end-of-sequence id(s). A row that produced one is
            finished: it is extended with ``pad_token_id`` (default: the EOS id) until
            every row has finished, then decoding stops.
        repetition_penalty: optional, see ``apply_repetition_penalty``.

    Returns:
        (T + n,) or (B, T + n) ids: the prompt followed by the new tokens; the same as
        ``model.generate(ids, do_sample=False, max_new_tokens=n)`` with the same EOS,
        pad and repetition penalty (ties go to the lowest token id, as ``argmax``).
    """
    return _decode_loop(model, ids, max_new_tokens, lambda logits: logits.argmax(dim=-1),
                        repetition_penalty, eos_token_id, pad_token_id)


def greedy_margins(model, ids, n_new: int) -> torch.Tensor:
    """How clearly each of the last ``n_new`` tokens of ``ids`` beat every other token: (n_new,) logits.

    One forward pass over ``ids`` (T,), prompt and generated tokens; at every generated
    position, the logit of the token that was chosen minus the highest logit of any other
    token. Positive everywhere for greedy tokens (0 is a tie, negative means the token was
    not the most likely one). Logits differ between CPUs by about 1e-5, so a greedy text
    whose smallest margin is well above that (say 0.01) is the same on every machine;
    near-ties can flip.
    """
    seq, _ = as_batch(ids)
    if seq.shape[0] != 1:
        raise ValueError(f"greedy_margins takes one sequence, (T,) or (1, T); got {seq.shape[0]} rows.")
    n_new = check_int(n_new, "n_new", minimum=1, maximum=seq.shape[1] - 1)
    check_fits_context(model, seq.shape[1])
    with inference(model):
        logits = model_logits(model, seq)[0, -n_new - 1:-1]  # (n_new, V): the logits each new token came from
    chosen = seq[0, -n_new:].to(logits.device)  # (n_new,)
    chosen_logit = logits.gather(1, chosen[:, None])[:, 0]  # (n_new,)
    others = logits.scatter(1, chosen[:, None], float("-inf"))  # (n_new, V): the chosen token removed
    return chosen_logit - others.max(dim=-1).values


def sample(model, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, repetition_penalty: float | None = None,
           eos_token_id: int | list[int] | None = None, pad_token_id: int | None = None,
           seed: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Append ``max_new_tokens`` tokens, each drawn at random from the model's distribution.

    Each step: logits -> repetition penalty -> temperature -> top-k -> top-p -> softmax ->
    ``torch.multinomial``. ``temperature=0`` is greedy decoding.

    Args:
        model, ids, max_new_tokens, eos_token_id, pad_token_id, repetition_penalty:
            as in ``greedy_decode``.
        temperature, top_k, top_p: as in ``next_token_distribution``.
        seed: seeds a fresh ``torch.Generator`` when ``generator`` is None, so the same
            call gives the same text (deterministic by default).
        generator: a ``torch.Generator`` on the model's device to draw from instead; it
            advances, so successive calls give different samples.

    Returns:
        (T + n,) or (B, T + n) ids. With ``seed=s`` the tokens equal those of
        ``torch.manual_seed(s); model.generate(ids, do_sample=True, temperature=...,
        top_k=..., top_p=..., max_new_tokens=n)`` on a CPU (pass ``top_k=0`` there for
        no top-k: its default is 50), up to rounding-level differences in the logits.
    """
    temperature = check_temperature(temperature)
    top_k, top_p = check_top_k(top_k), check_top_p(top_p)
    if temperature == 0.0:
        return greedy_decode(model, ids, max_new_tokens, eos_token_id, pad_token_id, repetition_penalty)
    if generator is None:
        seed = check_int(seed, "seed", minimum=0)
        generator = torch.Generator(device=model_device(model)).manual_seed(seed)
    elif not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}.")

    def choose(logits):
        logits = filter_logits(apply_temperature(logits, temperature), top_k=top_k, top_p=top_p)  # (B, V)
        probs = torch.softmax(logits, dim=-1)  # (B, V)
        return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)  # (B,)

    return _decode_loop(model, ids, max_new_tokens, choose, repetition_penalty, eos_token_id, pad_token_id)


# ----------------------------------------------------------------------------- beam search


@dataclass
class Beam:
    """One finished beam-search hypothesis.

    Attributes:
        ids: (T + n,) int64, the prompt followed by the n generated tokens (EOS included).
        logprob: sum of the log-probabilities of the n generated tokens, in nats (<= 0).
        score: ``logprob / n ** length_penalty``, what beam search ranks by.
    """

    ids: torch.Tensor
    logprob: float
    score: float


def beam_search(model, ids, num_beams: int, max_new_tokens: int, length_penalty: float = 1.0,
                eos_token_id: int | list[int] | None = None, early_stopping: bool | str = False) -> torch.Tensor:
    """Beam search: keep the ``num_beams`` most probable prefixes at every step.

    Each step extends every live beam by every token, scores each candidate by its total
    log-probability (nats), and looks at the best ``2 * num_beams`` candidates (one more
    ``num_beams`` per extra EOS id), best first:

    * a candidate that ends (its token is an EOS id, or ``max_new_tokens`` is reached)
      and ranks among the best ``num_beams`` becomes a *finished hypothesis* with score
      ``logprob / n ** length_penalty``, n = its number of generated tokens, EOS
      included; the ``num_beams`` best finished hypotheses are kept;
    * the best ``num_beams`` candidates that do not end become the next live beams.

    The search stops after ``max_new_tokens`` steps, or earlier once ``num_beams``
    hypotheses have finished and: ``early_stopping=True``: at once; ``False``: when the
    best live beam, scored as if it ended now, is no better than the worst finished one;
    ``"never"``: the same, but with ``length_penalty > 0`` the live beam is scored as if
    it reached ``max_new_tokens`` (the most it could gain).

    Args:
        model: a course GPT or a transformers causal LM.
        ids: (T,) or (1, T) prompt ids: one prompt (call once per prompt).
        num_beams: >= 1 beams. (``generate`` switches to greedy for 1; here 1 is a beam
            search of width 1, which differs from greedy only once EOS is involved.)
        max_new_tokens: the most tokens to generate.
        length_penalty: exponent of the length normalisation. 1.0 ranks finished
            hypotheses by log-probability per token, 0.0 by total log-probability (which
            favours short ones: log-probabilities are negative), > 1 favours longer ones.
        eos_token_id: optional end-of-sequence id(s); None: every hypothesis is
            ``max_new_tokens`` long and the length penalty cannot change the ranking.
        early_stopping: True, False or "never", as in ``generate``.

    Returns:
        The best hypothesis as ids, shaped like ``ids``: (T + n,) or (1, T + n).
        ``beam_search_beams`` (same arguments) returns every finished hypothesis instead,
        with its log-probability and score.

    What matches transformers 5 (``generate(num_beams=k, do_sample=False,
    length_penalty=..., early_stopping=..., eos_token_id=...)``, tested): the candidates
    (2k best), the finished-hypothesis rule (only the best k candidates can finish), the
    length penalty (divide by the number of *generated* tokens including EOS; older
    transformers versions divided by the whole length, prompt included) and the three
    stopping rules, hence the same output tokens whenever the vocabulary has at least 2k
    tokens and no two candidates tie to within rounding (transformers uses a key-value
    cache, we recompute). transformers starts with k copies of the prompt, all but one
    scored -1e9; we start with one beam, which differs only in the tokens a tiny
    vocabulary (fewer than 2k tokens) lets those placeholder copies contribute. Not
    covered: sampling beams (``do_sample=True``), ``num_return_sequences``, batches of
    prompts, and logits processors such as a repetition penalty inside beam search.
    """
    _, one = as_batch(ids)
    best = beam_search_beams(model, ids, num_beams, max_new_tokens, length_penalty, eos_token_id,
                             early_stopping)[0].ids.clone()  # (T + n,)
    return best if one else best.unsqueeze(0)


def beam_search_beams(model, ids, num_beams: int, max_new_tokens: int, length_penalty: float = 1.0,
                      eos_token_id: int | list[int] | None = None, early_stopping: bool | str = False) -> list[Beam]:
    """The search of ``beam_search`` (same arguments), returning every finished hypothesis.

    Returns:
        Up to ``num_beams`` ``Beam`` objects, best score first; ``[0].ids`` is what
        ``beam_search`` returns (as (T + n,)). With ``max_new_tokens=0`` the one beam is
        the prompt, with log-probability and score 0.
    """
    prompt, _ = as_batch(ids)
    if prompt.shape[0] != 1:
        raise ValueError(f"beam search takes one prompt, got a batch of {prompt.shape[0]}; call it once per prompt.")
    check_fits_context(model, prompt.shape[1])
    num_beams = check_int(num_beams, "num_beams", minimum=1)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", minimum=0)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be a finite number (1.0 is the usual choice), got {length_penalty!r}.")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}.")
    eos = _eos_list(eos_token_id)
    device = model_device(model)
    prompt = prompt.to(device)
    if max_new_tokens == 0:
        return [Beam(prompt[0].clone(), 0.0, 0.0)]

    eos_t = torch.tensor(eos, dtype=torch.long, device=device)
    n_candidates = max(2, 1 + len(eos)) * num_beams  # enough that num_beams of them do not end
    live = prompt  # (n_live, T + step): live beams, best first
    live_scores = torch.zeros(1, device=device)  # (n_live,) float32: total log-probability
    finished: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (score, logprob, ids), best first

    with inference(model):
        for step in range(max_new_tokens):
            n_new = step + 1  # generated tokens in a candidate of this step
            last_step = n_new == max_new_tokens
            logprobs = F.log_softmax(next_token_logits(model, live), dim=-1)  # (n_live, V)
            vocab = logprobs.shape[-1]
            totals = (logprobs + live_scores[:, None]).reshape(-1)  # (n_live * V,): every extension
            cand_scores, cand = torch.topk(totals, min(n_candidates, totals.numel()))  # best first
            cand_beam, cand_token = cand // vocab, cand % vocab  # which beam, which token
            ends = torch.isin(cand_token, eos_t) | last_step  # (n_cand,)
            cand_ids = torch.cat([live[cand_beam], cand_token[:, None]], dim=1)  # (n_cand, T + step + 1)

            # finished hypotheses: only candidates among the best num_beams may finish
            for r in range(min(num_beams, len(cand))):
                if ends[r]:
                    score = cand_scores[r] / (n_new ** length_penalty)  # float32, as transformers
                    finished.append((score, cand_scores[r], cand_ids[r]))
            finished.sort(key=lambda h: -h[0].item())  # stable: earlier hypotheses win ties
            del finished[num_beams:]

            # the next live beams: the best num_beams candidates that do not end
            keep = (~ends).nonzero().flatten()[:num_beams]
            live, live_scores = cand_ids[keep], cand_scores[keep]
            if last_step or len(live) == 0:
                break
            if len(finished) == num_beams:  # every slot is taken: can a live beam still do better?
                if early_stopping is True:
                    break
                horizon = max_new_tokens if (early_stopping == "never" and length_penalty > 0) else n_new
                best_possible = live_scores[0] / (horizon ** length_penalty)
                if not bool(best_possible > finished[-1][0]):
                    break

    return [Beam(h_ids, logprob.item(), score.item()) for score, logprob, h_ids in finished]
