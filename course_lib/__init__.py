"""course_lib: the code behind the course "Large language models and scaling laws".

The package reads in the order data flows through a language model:

    text         -> real English and Python corpora, offline; splits and batches
    tokenizer    -> bytes, characters and byte-level BPE
    preprocess   -> normalisation, exact deduplication, punctuation/stop-word statistics, BPE sweep
    ngram        -> count-based n-gram models, smoothing, the data-scale curve
    attention    -> scaled dot-product and multi-head attention, written out
    transformer  -> encoder-decoder Transformer, positional encodings, parameter formulas
    model        -> a decoder-only GPT, and conversion to and from Hugging Face GPT-2
    objectives   -> BERT-style masking and a small encoder; number words -> digits translation
    lstm         -> the seeds' LSTM as a real language model
    train        -> the training loop: AdamW, warmup + cosine, clipping, evaluation
    course_model -> the model that ships with the course: build it, load it
    compute      -> FLOPs, measured throughput, MFU, memory
    cost         -> what a training run costs on GPUs
    scaling      -> scaling laws (Kaplan, Chinchilla), power-law and Chinchilla fits, the live sweep
    isoflop      -> IsoFLOP experiments: several model sizes at a fixed compute budget
    synthetic    -> a random-walk language whose entropy rate is known exactly
    units        -> nats, bits, bits per byte, perplexity
    generation   -> decoding from logits: greedy, temperature, top-k, top-p, beam search
    metrics      -> perplexity (sliding window), cloze accuracy, BLEU, ROUGE
    eval_tasks   -> small evaluation tasks from the corpora; zero-shot classification; intervals
    llm_choice   -> memory, speed, cost and energy of running or training a model
    bias         -> measuring bias in a corpus and in a model's probabilities
    device       -> picking CUDA, MPS or CPU

On top, used by notebooks and never imported by the modules above:

    notebook, glossary, attention_lab   -> notebook set-up, the bilingual glossary, chapter 02's lab
    scaling_explorer                    -> chapter 05a: the compute-budget explorer and demos
    decoding_lab                        -> chapter 06: the temperature / top-k / top-p sliders
    feedback, testkit, hidden_tests_NN  -> instant feedback in exercises, hidden tests
    exercises, grade                    -> python -m course_lib.exercises / course_lib.grade
    check_env                           -> python -m course_lib.check_env

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
