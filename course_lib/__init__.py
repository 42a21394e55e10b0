"""course_lib: the code behind the course "Large language models and scaling laws".

The package reads in the order data flows through a language model:

    text       -> real English and Python corpora, offline; splits and batches
    tokenizer  -> bytes, characters and byte-level BPE
    attention  -> scaled dot-product and multi-head attention, written out
    model      -> a decoder-only GPT, and conversion to and from Hugging Face GPT-2
    train      -> the training loop: AdamW, warmup + cosine, clipping, evaluation
    device     -> picking CUDA, MPS or CPU

Nothing here downloads anything. Importing the package makes the Hugging Face
libraries offline by default (``HF_HUB_OFFLINE=1``) so that no code path can hang
on the network; set ``HF_HUB_OFFLINE=0`` in the environment *before* starting
Python to let them reach the Hub (for example to use the real ``gpt2``).
"""
import os as _os

# Offline unless the user explicitly asked otherwise. This must run before
# huggingface_hub is imported, because it reads the variable once at import.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", _os.environ["HF_HUB_OFFLINE"])
_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
