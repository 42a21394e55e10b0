"""The course model: a small GPT that ships with the course, and the command that rebuilds it.

The seeds load ``"gpt2"`` from the Hugging Face Hub, which needs the network. The course
ships its own model instead, in ``models/course_gpt/`` (``course_model_path()`` finds
it): a ``course_lib.model.GPT`` trained on text every Python installation carries,
exported with ``to_hf`` and saved with ``save_pretrained``, so

    AutoModelForCausalLM.from_pretrained(folder)   # a GPT2LMHeadModel
    AutoTokenizer.from_pretrained(folder)          # a byte-level BPE, like GPT-2's
    pipeline("text-generation", model=folder)

all work offline. The recipe, in the order the build runs it:

    1. text:      Python's documentation (English prose) and every third standard-library
                  source file (Python code), about 1 : 2 in characters; the last whole
                  documents of each (5% of its characters) are held out for validation
    2. tokenizer: byte-level BPE trained on the training text (``train_bpe``)
    3. tokens:    each document encoded, documents separated by ``<|endoftext|>``
    4. model:     ``GPT`` with ``FULL.model`` (about 4.3 M parameters, 17 MB in float32)
    5. training:  ``course_lib.train.train``, AdamW, warmup + cosine, fixed seeds
    6. export:    ``to_hf`` -> ``save_pretrained``; tokenizer, ``generation_config.json``,
                  ``training.json`` (what was done, with the final losses) and a README

Rebuild it with ``python -m course_lib.course_model build --out models/course_gpt``
(the shipped build took 2,122 s, about 35 minutes, on a 2-core CPU); ``--tiny`` runs the same recipe on a sliver of
the text in seconds (the tests use it). This module also owns the model's location,
``course_model_path()`` (no editable install assumed), and the choice between it and the
real GPT-2: ``model_source(use_gpt2)``, ``gpt2_available()``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import socket
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch

from .model import GPT, GPTConfig, to_hf
from .text import Corpus, held_out_documents, python_code, python_docs
from .tokenizer import END_OF_TEXT, train_bpe
from .train import estimate_loss, train
from .units import bits_per_byte

__all__ = ["REBUILD_COMMAND", "COURSE_MODEL_ENV", "CourseModelNotFound", "course_model_path", "gpt2_available",
           "model_source", "Recipe", "FULL", "TINY", "build", "load", "load_course_gpt",
           "folder_size", "main"]

MAX_FOLDER_BYTES = 20 * 1024 * 1024  # what the repository can afford to carry: 20 MiB
REBUILD_COMMAND = "python -m course_lib.course_model build --out models/course_gpt"
COURSE_MODEL_ENV = "COURSE_MODEL_DIR"  # environment variable: the folder of the course model
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")  # what a usable folder holds
_IN_A_CHECKOUT = pathlib.Path("models") / "course_gpt"  # where the repository keeps it
_PACKAGE_PARENT = pathlib.Path(__file__).resolve().parent.parent  # the checkout, for an editable install


# ----------------------------------------------------------------------------- where the model is


class CourseModelNotFound(FileNotFoundError, ValueError):
    """The course model is not where it was looked for (a FileNotFoundError and a ValueError)."""


def _missing_files(folder: pathlib.Path) -> list[str]:
    return [name for name in MODEL_FILES if not (folder / name).is_file()]


def course_model_path(folder: str | pathlib.Path | None = None) -> pathlib.Path:
    """The folder of the course model, checked to hold config.json, model.safetensors and tokenizer.json.

    Returns the first that holds the model of: 1. ``folder``, when given (then nowhere
    else); 2. the environment variable ``COURSE_MODEL_DIR``, when set (then nowhere else);
    3. ``models/course_gpt`` in the current directory or any parent of it (notebooks run in
    ``notebooks/``, the tests in the repository root); 4. ``models/course_gpt`` next to the
    ``course_lib`` package (an editable install). Raises ``CourseModelNotFound`` (a
    FileNotFoundError and a ValueError) naming where it looked, what is missing there, and
    the command that rebuilds the model.
    """
    if folder is not None or os.environ.get(COURSE_MODEL_ENV):
        chosen = pathlib.Path(folder if folder is not None else os.environ[COURSE_MODEL_ENV]).expanduser()
        missing = _missing_files(chosen)
        if not missing:
            return chosen
        looked = [f"{chosen} ({'the folder given' if folder is not None else 'from ' + COURSE_MODEL_ENV}): "
                  f"no {', '.join(missing)}"]
        command = _command(chosen, tiny=False)
    else:
        here = pathlib.Path.cwd().resolve()
        candidates = dict.fromkeys([d / _IN_A_CHECKOUT for d in (here, *here.parents)]
                                   + [_PACKAGE_PARENT / _IN_A_CHECKOUT])  # in order, without repeats
        looked = []
        for candidate in candidates:
            missing = _missing_files(candidate)
            if not missing:
                return candidate
            if candidate.is_dir():
                looked.append(f"{candidate}: no {', '.join(missing)}")
        looked += [f"models/course_gpt in {here} and in every folder above it", f"{COURSE_MODEL_ENV}: not set",
                   f"{_PACKAGE_PARENT / _IN_A_CHECKOUT} (next to the course_lib package)"]
        command = REBUILD_COMMAND
    raise CourseModelNotFound(
        "the course model was not found. Looked in:\n" + "".join(f"  {line}\n" for line in looked)
        + f"Set {COURSE_MODEL_ENV} to the folder that holds it, or rebuild it from the repository root with:\n"
        f"    {command}\n(about 35 minutes on a 2-core CPU; add --overwrite if the folder holds an "
        "incomplete model)."
    )


def gpt2_available(timeout_s: float = 2.0) -> tuple[bool, str]:
    """Whether the real ``gpt2`` can be loaded now, and why: ``(ok, reason)``.

    True when its files are in the Hugging Face cache (works offline), or when the Hugging Face
    libraries are allowed online (``HF_HUB_OFFLINE=0`` set before Python started) and
    huggingface.co answers within ``timeout_s`` seconds. Never downloads, never waits longer.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    cached = [name for name in MODEL_FILES if isinstance(try_to_load_from_cache("gpt2", name), str)]
    if len(cached) == len(MODEL_FILES):
        return True, "gpt2 is in the Hugging Face cache"
    if constants.HF_HUB_OFFLINE:
        return False, ("gpt2 is not in the Hugging Face cache and the Hugging Face libraries are offline "
                       "(HF_HUB_OFFLINE=1, the course's default); start Jupyter with HF_HUB_OFFLINE=0 "
                       "to download it")
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            pass
    except OSError:
        return False, f"gpt2 is not in the Hugging Face cache and huggingface.co did not answer within {timeout_s:g} s"
    return True, "huggingface.co is reachable: gpt2 will be downloaded (about 550 MB) on first use"


def model_source(use_gpt2: bool = False) -> str:
    """What to pass to ``from_pretrained`` / ``pipeline(model=...)``: the course model or ``"gpt2"``.

    ``use_gpt2=False`` (the default) gives the course model's folder, as a string.
    ``use_gpt2=True`` gives ``"gpt2"`` if ``gpt2_available()``; otherwise it warns, saying
    why, and gives the course model's folder, so the same cells run either way.
    """
    if not isinstance(use_gpt2, bool):
        raise ValueError(f"use_gpt2 must be True or False, got {use_gpt2!r}.")
    if use_gpt2:
        ok, reason = gpt2_available()
        if ok:
            return "gpt2"
        warnings.warn(f"using the course model instead of gpt2: {reason}.", stacklevel=2)
    return str(course_model_path())


# ----------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the course model: data, tokenizer, model size, training.

    Attributes:
        name: "full" or "tiny", recorded in training.json.
        docs_chars: characters of Python's documentation to use (None: all, about 2.2 M).
        code_every: use every n-th standard-library source file (sorted by path).
        code_chars: at most this many characters of that code (None: no limit).
        val_fraction: the last fraction of each corpus, held out for validation.
        vocab_size: BPE vocabulary, ``<|endoftext|>`` and the 256 bytes included.
        model: the GPT's size (``GPTConfig``).
        steps, batch_size, lr, warmup_steps, eval_every, eval_batches: training, as in
            ``course_lib.train.train`` (batch_size windows of model.context_length tokens).
        final_eval_batches: batches per corpus for the final, reported validation loss.
        seed: seeds the initial weights, the batch order and the evaluation windows.
    """

    name: str
    docs_chars: int | None
    code_every: int
    code_chars: int | None
    val_fraction: float
    vocab_size: int
    model: GPTConfig
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    eval_every: int
    eval_batches: int
    final_eval_batches: int
    seed: int = 0


# About 4.3 M parameters, 17 MB in float32 (the 20 MB budget allows no more than about
# 5 M). d_model 256 with 4 heads of 64 and 4 layers is a GPT-2-shaped model that fits that
# budget and trains on a CPU in well under an hour (its samples are far from fluent); a vocabulary of
# 4096 keeps the tied embedding at a quarter of the parameters (8192 would make it 40% and
# break the size budget), and a context of 256 tokens (about 900 bytes) holds a paragraph
# or a short function. 600 steps of 16 x 256 tokens = 2.5 M tokens, about one pass over
# the training text, took 2,122 s on a 2-core CPU (models/course_gpt/training.json).
FULL = Recipe(
    name="full", docs_chars=None, code_every=3, code_chars=None, val_fraction=0.05, vocab_size=4096,
    model=GPTConfig(vocab_size=4096, context_length=256, n_layer=4, n_head=4, d_model=256),
    steps=600, batch_size=16, lr=2e-3, warmup_steps=30, eval_every=100, eval_batches=4, final_eval_batches=16,
)

# The same recipe on a sliver of the text with a toy model: seconds, for tests.
TINY = Recipe(
    name="tiny", docs_chars=60_000, code_every=3, code_chars=60_000, val_fraction=0.1, vocab_size=300,
    model=GPTConfig(vocab_size=300, context_length=32, n_layer=1, n_head=2, d_model=16),
    steps=8, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=4, eval_batches=1, final_eval_batches=2,
)


# ----------------------------------------------------------------------------- data


def _corpora(recipe: Recipe) -> tuple[Corpus, Corpus]:
    """(prose, code): Python's documentation and every ``code_every``-th stdlib file."""
    docs = python_docs(recipe.docs_chars)
    full_code = python_code()
    code = Corpus("python-code-every-%d" % recipe.code_every, full_code.documents[:: recipe.code_every],
                  full_code.source)
    if recipe.code_chars is not None:
        code = code.head(recipe.code_chars)
    return docs, code


def _split_documents(corpus: Corpus, val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, validation) documents of a corpus, its blank documents left out (``held_out_documents``)."""
    docs = [doc for doc in corpus.documents if doc.strip()]
    if len(docs) < 2:
        raise ValueError(f"corpus {corpus.name!r} has {len(docs)} document(s); the recipe needs at least 2 "
                         "to hold one out for validation. Give it more text.")
    return held_out_documents(docs, val_fraction)


def _encode(tokenizer, documents: list[str]) -> torch.Tensor:
    """Documents -> one (N,) int64 tensor of ids, each document followed by ``<|endoftext|>``."""
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids: list[int] = []
    for row in tokenizer(documents, add_special_tokens=False)["input_ids"]:
        ids.extend(row)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def _bytes_per_token(texts: list[str], ids: torch.Tensor) -> float:
    """UTF-8 bytes per token of text that was encoded into ``ids`` (separators included)."""
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return n_bytes / len(ids)


# ----------------------------------------------------------------------------- build


def _check_out(out: pathlib.Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the model (e.g. models/course_gpt).")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace the model in it, "
                         "or choose another folder.")


def folder_size(folder: str | pathlib.Path) -> int:
    """Total size in bytes of the files in ``folder`` (recursively)."""
    return sum(p.stat().st_size for p in pathlib.Path(folder).rglob("*") if p.is_file())


def build(out: str | pathlib.Path, recipe: Recipe = FULL, *, overwrite: bool = False, progress: bool = True,
          command: str | None = None) -> dict:
    """Train the course model with ``recipe`` and save it to ``out``; return the training record.

    Writes ``model.safetensors``, ``config.json``, ``generation_config.json``, the tokenizer
    files, ``training.json`` (the returned dict) and ``README.md``. Deterministic: the
    same recipe, Python, torch and thread count give the same weights.
    """
    out = pathlib.Path(out)
    _check_out(out, overwrite)
    start = time.perf_counter()
    torch.manual_seed(recipe.seed)

    docs, code = _corpora(recipe)
    parts = {corpus.name: _split_documents(corpus, recipe.val_fraction) for corpus in (docs, code)}
    train_docs = [d for tr, _ in parts.values() for d in tr]
    tokenizer = train_bpe(train_docs, vocab_size=recipe.vocab_size)
    if len(tokenizer) != recipe.model.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the model expects {recipe.model.vocab_size}; "
                         "give the recipe more text or a smaller vocab_size.")

    train_ids = torch.cat([_encode(tokenizer, tr) for tr, _ in parts.values()])  # (N,)
    val_ids = {name: _encode(tokenizer, va) for name, (_, va) in parts.items()}
    all_val = torch.cat(list(val_ids.values()))
    val_texts = [d for _, va in parts.values() for d in va]
    bpt = _bytes_per_token(val_texts, all_val)
    tokenizer.model_max_length = recipe.model.context_length  # after encoding: documents are longer

    model = GPT(recipe.model)
    history = train(model, train_ids, all_val, steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
                    warmup_steps=recipe.warmup_steps, eval_every=recipe.eval_every,
                    eval_batches=recipe.eval_batches, bytes_per_token=bpt, seed=recipe.seed, device="cpu",
                    progress=progress, desc="course model")

    # The reported validation loss: more windows than during training, and per corpus.
    T = recipe.model.context_length
    per_corpus = {}
    for name, ids in val_ids.items():
        n_bpt = _bytes_per_token(parts[name][1], ids)
        loss = estimate_loss(model, ids, recipe.batch_size, T, recipe.final_eval_batches, seed=recipe.seed + 1)
        per_corpus[name] = {"val_loss_nats": round(loss, 4), "val_bits_per_byte": round(bits_per_byte(loss, n_bpt), 4),
                            "bytes_per_token": round(n_bpt, 4), "val_tokens": len(ids)}
    val_loss = estimate_loss(model, all_val, recipe.batch_size, T, 2 * recipe.final_eval_batches, seed=recipe.seed + 1)

    hf = _save(model, tokenizer, out, progress)
    record = {
        "what": "the course model: course_lib.model.GPT trained on Python's documentation and standard-library "
                "source, exported with course_lib.model.to_hf",
        "command": command or _command(out, recipe.name == "tiny"),
        "recipe": recipe.name,
        "config": {"model": asdict(recipe.model),
                   "training": {k: v for k, v in asdict(recipe).items() if k not in ("model", "name")}},
        "parameters": model.num_params(non_embedding=False),
        "parameters_non_embedding": model.num_params(non_embedding=True),
        "parameters_in_file": hf.num_parameters(),  # GPT2LMHeadModel: + the zero biases to_hf adds
        "corpora": {"prose": docs.fingerprint(), "code": code.fingerprint(), "train_tokens": len(train_ids),
                    "val_tokens": len(all_val), "bytes_per_token": round(bpt, 4)},
        "steps": recipe.steps,
        "tokens_seen": history.tokens[-1],
        "epochs": round(history.tokens[-1] / len(train_ids), 3),
        "final_train_loss_nats": round(history.train_loss[-1], 4),
        "final_train_bits_per_byte": round(history.train_bpb[-1], 4),
        "final_val_loss_nats": round(val_loss, 4),
        "final_val_bits_per_byte": round(bits_per_byte(val_loss, bpt), 4),
        "val_by_corpus": per_corpus,
        "history": {"step": history.step, "train_loss": [round(x, 4) for x in history.train_loss],
                    "val_loss": [round(x, 4) for x in history.val_loss]},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": _version("transformers"), "tokenizers": _version("tokenizers")},
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": None, "folder_bytes": None,  # filled in below
    }
    record["wall_time_s"] = round(time.perf_counter() - start, 1)
    (out / "README.md").write_text(_readme(record))
    (out / "training.json").write_text("{}")  # placeholder so the size below counts the file
    record["folder_bytes"] = folder_size(out)
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    record["folder_bytes"] = folder_size(out)
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _save(model: GPT, tokenizer, out: pathlib.Path, progress: bool = True):
    """Export with ``to_hf``, write everything ``from_pretrained`` and ``pipeline`` need; return the HF model."""
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    if not progress and bars_were_on:
        hf_logging.disable_progress_bar()

    out.mkdir(parents=True, exist_ok=True)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    hf = to_hf(model.cpu().eval()).eval()
    hf.config.bos_token_id = hf.config.eos_token_id = eos
    # max_length = the context: generate() never runs past the positions the model has, and
    # pipeline("text-generation") keeps it instead of its own default of 256 *new* tokens, which
    # would overflow a 256-token context (GPT-2 has 1,024). A max_new_tokens here would override
    # a caller's max_length instead. pad = eos, as for GPT-2, which has no padding token.
    hf.generation_config = GenerationConfig(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
                                            max_length=model.config.context_length)
    try:
        hf.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        if not progress and bars_were_on:
            hf_logging.enable_progress_bar()
    return hf


def _command(out, tiny: bool) -> str:
    """The command line that builds into ``out`` (``REBUILD_COMMAND`` for the shipped folder)."""
    return REBUILD_COMMAND.replace("models/course_gpt", str(out)) + (" --tiny" if tiny else "")


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover
        return "not installed"


def _readme(r: dict) -> str:
    m = r["config"]["model"]
    t = r["config"]["training"]
    return f"""# The course model

A small GPT that ships with the course so that chapter 06 (Hugging Face text generation)
and chapter 07 (evaluation and applications) run offline. It is a `course_lib.model.GPT`,
exported with `course_lib.model.to_hf`, so it loads as a `GPT2LMHeadModel`:

```python
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
from course_lib.course_model import course_model_path
folder = course_model_path()
model = AutoModelForCausalLM.from_pretrained(folder)
tokenizer = AutoTokenizer.from_pretrained(folder)
generator = pipeline("text-generation", model=str(folder))
```

## How it was made

`{r["command"]}` (recipe `{r["recipe"]}`; {r["wall_time_s"]:.0f} s on {r["threads"]} threads).

- Text: Python {r["versions"]["python"]}'s own documentation (help topics and standard-library
  docstrings: English prose) and every {t["code_every"]}rd standard-library source file (Python
  code); the last documents of each, {t["val_fraction"]:.0%} of its characters, are held out for validation.
  {r["corpora"]["prose"]}; {r["corpora"]["code"]}.
- Tokenizer: byte-level BPE (as GPT-2's), {m["vocab_size"]} tokens including `<|endoftext|>`,
  which also separates documents; {r["corpora"]["bytes_per_token"]:.2f} bytes per token.
- Model: {m["n_layer"]} layers, {m["n_head"]} heads, width {m["d_model"]}, context {m["context_length"]}
  tokens, {r["parameters"]:,} parameters ({r["parameters_non_embedding"]:,} without embeddings; the
  saved `GPT2LMHeadModel` adds {r["parameters_in_file"] - r["parameters"]:,} biases, all zero, as the course GPT has
  none), float32.
- Training: {r["steps"]} steps of {t["batch_size"]} x {m["context_length"]} tokens ({r["tokens_seen"]:,} tokens,
  {r["epochs"]:.2f} passes over {r["corpora"]["train_tokens"]:,} training tokens), AdamW, peak learning rate
  {t["lr"]}, warmup then cosine decay, seed {t["seed"]}.
- Final validation loss: {r["final_val_loss_nats"]:.3f} nats per token, {r["final_val_bits_per_byte"]:.3f} bits per
  byte (training loss {r["final_train_loss_nats"]:.3f} nats). Details in `training.json`.

## Limits

It is tiny and trained for minutes, so it knows the shape of Python and of technical
English, not facts: its continuations are fluent-looking for a sentence or a few lines of
code and then drift. It has seen only Python's documentation and source (no web text,
no other languages, no dialogue), and its context is {m["context_length"]} tokens:
`generation_config.json` sets `max_length` to that, so `generate` and `pipeline` stop there
(transformers warns when a call also passes `max_new_tokens`; the call's value wins). Its
mistakes and biases are those of that text. Use it to learn how generation works, never
to answer questions.
"""


# ----------------------------------------------------------------------------- loading


def load(path: str | pathlib.Path | None = None):
    """``(GPT2LMHeadModel in evaluation mode, tokenizer)`` from ``path`` (default: ``course_model_path()``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = course_model_path(path)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


def load_course_gpt(path: str | pathlib.Path | None = None):
    """The course model as a ``course_lib.model.GPT`` (via ``from_hf``), and its tokenizer."""
    from .model import from_hf

    hf, tokenizer = load(path)
    return from_hf(hf).eval(), tokenizer


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.course_model build --out FOLDER [--tiny] [--overwrite]``."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.course_model",
                                     description="Build the course model (a small GPT) from Python's own text.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train the model and save it with save_pretrained")
    b.add_argument("--out", required=True, help="folder to write, e.g. models/course_gpt")
    b.add_argument("--tiny", action="store_true", help="a toy model on a sliver of the text, in seconds")
    b.add_argument("--overwrite", action="store_true", help="replace the files in a non-empty folder")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    recipe = TINY if args.tiny else FULL
    try:
        record = build(args.out, recipe, overwrite=args.overwrite, progress=not args.quiet,
                       command=_command(args.out, args.tiny))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"saved {args.out}: {record['parameters']:,} parameters, {record['folder_bytes'] / 1e6:.1f} MB, "
          f"validation loss {record['final_val_loss_nats']:.3f} nats/token "
          f"({record['final_val_bits_per_byte']:.3f} bits/byte), {record['wall_time_s']:.0f} s")
    if recipe is FULL and record["folder_bytes"] > MAX_FOLDER_BYTES:
        print(f"warning: the folder is larger than {MAX_FOLDER_BYTES / 2**20:.0f} MiB", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
