"""course_lib: the code behind the course "Large language models and scaling laws".

What learners import, grouped by topic in the order data flows through a language model.
Who may import whom is a separate, stricter statement: the layered import contracts in
``pyproject.toml`` (drawn in CONTRIBUTING.md), checked by the tests.

    data        corpora      -> the frozen text: Python 3.11.7's docs and stdlib source, checksummed
                text         -> corpora as ``Corpus`` objects, user files, splits, random windows
                tokenizer    -> bytes, characters and byte-level BPE
                units        -> nats, bits, bits per byte, perplexity
                preprocess   -> normalisation, deduplication, punctuation statistics, BPE sweep
                ngram        -> count-based n-gram models, smoothing, the data-scale curve
    models      attention    -> scaled dot-product and multi-head attention, written out
                model        -> a decoder-only GPT; conversion to and from Hugging Face GPT-2
                llama_layers -> RMSNorm, RoPE, SwiGLU, grouped-query attention, written out
                llama        -> a Llama-style decoder; conversion to and from LlamaForCausalLM
                lora         -> LoRA: a frozen matrix plus a trainable low-rank update
                transformer  -> the encoder-decoder Transformer, positional encodings, toy tasks
                objectives   -> masked-token and translation objectives and their data
                lstm, params -> the seeds' LSTM; parameter formulas for GPT and encoder-decoder
    training    train        -> the one training loop (AdamW, warmup + cosine, clipping), History,
                                checkpoints; the language-model, toy, masked-LM and translation trainers
                checkpoint   -> resumable runs; distributed -> data parallelism under torchrun
                evaluation   -> held-out loss on fixed windows
    running     adapter      -> any model that gives next-token logits: batches, devices, inference
                generation   -> decoding: greedy, temperature, top-k, top-p, beam search
                course_model -> the model that ships with the course: where it is, build, load
                pretrained   -> SmolLM2-135M-Instruct from the package index, fetched once and cached
                kv_cache     -> incremental decoding with a key-value cache; chat -> chat prompts
    evaluation  metrics      -> sliding-window perplexity, cloze accuracy, BLEU, ROUGE
                eval_tasks   -> small evaluation tasks; zero-shot classification; intervals; kappa
                bias         -> bias in a corpus and in a model's probabilities
                baselines    -> what a bigram, the best n-gram, gzip, bz2 and xz get on the same text
                bootstrap    -> bootstrap intervals over items; judge -> win rates, a model as judge
    assistant   instruct     -> instruction data, chat templates, SFT with the loss on the answer
                preference   -> DPO and its closed form; test_time -> many samples, votes, verifiers
    hardware    compute      -> FLOPs, the GPU table, measured throughput, MFU, memory
                cost, llm_choice -> what training and serving cost
    scaling     scaling/     -> laws (Kaplan, Chinchilla), fits, IsoFLOP, the sweep and the N x D grid
                                with their CLI, Hoffmann's three approaches, bootstrap predictions,
                                repeated data; mup -> the maximal-update parametrisation
                synthetic    -> a random-walk language whose entropy rate is known exactly
    support     validation   -> argument checks; device -> CUDA, MPS or CPU
                notebook, glossary, feedback, check_env -> notebook set-up, the bilingual
                                glossary, instant feedback in exercises, python -m course_lib.check_env

On top, ``course_lib.labs``: one module per chapter with its widgets and demonstrations
(``ch01_ngrams``, ``ch02_attention``, ``ch03_transformer``, ``ch04_training``, ``ch05_scaling``,
``ch05_fits``, ``ch06_decoding``, ``ch07_deployment``, ``ch08_alignment``); nothing in the library imports a lab. The grader and its hidden
tests are a separate package, ``course_grader``, which learners never need.

Nothing here downloads anything, except ``pretrained``, and only from the Python Package
Index when the real model is asked for and not yet cached. Importing the package makes the Hugging Face
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
