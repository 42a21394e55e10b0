"""The course glossary: English term, Chinese term, one-line definition.

The seed articles of the course are in Chinese and the course is in English, so every
key term is given in both languages. The entries are plain data (``GLOSSARY``, a tuple
of ``Term``) so that the notebooks, the book and the tests read the same list:

    glossary_markdown()          # a Markdown table, for display in a notebook
    glossary_rows()              # list of (english, chinese, definition) tuples
    lookup("perplexity")         # one Term, matched on the English or the Chinese name
"""
from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Term", "GLOSSARY", "glossary_rows", "glossary_markdown", "lookup"]


class Term(NamedTuple):
    """One glossary entry: ``english`` name, ``chinese`` name (中文), one-line ``definition``."""

    english: str
    chinese: str
    definition: str


# Grouped in the order the course meets them: language and data, models, training, scaling.
GLOSSARY: tuple[Term, ...] = (
    # language, text and data
    Term("artificial intelligence (AI)", "人工智能",
         "The study and building of systems that perform tasks we associate with intelligence."),
    Term("natural language processing (NLP)", "自然语言处理",
         "The part of AI that makes computers read, analyse and produce human language."),
    Term("language model", "语言模型",
         "A probability distribution over text, usually given one token at a time as P(next token | previous tokens)."),
    Term("large language model (LLM)", "大语言模型",
         "A language model with billions of parameters, pre-trained on hundreds of billions of tokens or more."),
    Term("token", "词元",
         "The unit a model reads and predicts: a byte, a character, a subword or a word."),
    Term("tokenizer / tokenization", "分词器 / 分词",
         "The program and the step that turn text into a sequence of token ids and back."),
    Term("byte-pair encoding (BPE)", "字节对编码",
         "A subword tokenizer that starts from bytes and repeatedly merges the most frequent adjacent pair."),
    Term("vocabulary", "词汇表",
         "The fixed set of tokens a model knows; its size V is the number of choices at each step."),
    Term("corpus", "语料库",
         "A collection of text used to train or evaluate a model; plural corpora."),
    Term("n-gram", "n 元语法 (n-gram)",
         "A run of n consecutive tokens; an n-gram model predicts a token from the previous n - 1 only."),
    Term("Markov assumption", "马尔可夫假设",
         "The simplification that the next token depends only on a fixed number of previous tokens."),
    Term("smoothing", "平滑",
         "Moving some probability to events never seen in training so that none gets probability zero."),
    Term("add-k (Laplace) smoothing", "加 k 平滑 (拉普拉斯平滑)",
         "Smoothing that adds a pseudo-count k to every n-gram before normalising; k = 1 is Laplace."),
    Term("maximum-likelihood estimate (MLE)", "最大似然估计",
         "The parameters that make the training data most probable; for counts, the relative frequency."),
    Term("held-out set", "留出集 (验证集 / 测试集)",
         "Data kept out of training and used only to measure how well a model generalises."),
    Term("overfitting", "过拟合",
         "Fitting the training data so closely that loss on held-out data gets worse."),
    Term("data deduplication", "数据去重",
         "Removing repeated documents or passages from a corpus before training."),
    Term("data contamination", "数据污染",
         "Evaluation text that also appears in the training data, which makes scores look better than they are."),
    # measuring
    Term("entropy", "熵",
         "The average surprise -log p of outcomes drawn from a distribution; the best achievable loss."),
    Term("cross-entropy", "交叉熵",
         "The average -log q(x) of data x under a model q; the training loss of a language model."),
    Term("nat / bit", "奈特 / 比特",
         "Units of information: -ln p is in nats, -log2 p in bits; 1 nat = 1.443 bits."),
    Term("bits per byte (bpb)", "每字节比特数",
         "Loss in bits divided by the UTF-8 bytes of the text; comparable across tokenizers."),
    Term("perplexity", "困惑度",
         "exp(cross-entropy in nats): the number of equally likely choices that would be as surprising."),
    Term("benchmark", "基准测试",
         "A fixed task and data set with a score, used to compare models; e.g. accuracy, BLEU, ROUGE."),
    # models
    Term("Transformer", "Transformer (变换器)",
         "A neural network built from attention and feed-forward layers (Vaswani et al., 2017); the basis of LLMs."),
    Term("attention", "注意力机制",
         "A weighted average of value vectors, with weights softmax(q . k / sqrt(d_k)) from query-key similarity."),
    Term("self-attention", "自注意力",
         "Attention in which queries, keys and values all come from the same sequence."),
    Term("multi-head attention", "多头注意力",
         "Several attention operations (heads) in parallel on projections of the input, concatenated and projected."),
    Term("feed-forward network (FFN)", "前馈神经网络",
         "The per-position two-layer network FFN(x) = act(x W1 + b1) W2 + b2 inside each Transformer block."),
    Term("softmax", "softmax (归一化指数函数)",
         "The function exp(z_i) / sum_j exp(z_j) that turns scores into probabilities."),
    Term("embedding", "嵌入",
         "A learned vector that represents a token id (or a position) as the model's input."),
    Term("encoder", "编码器",
         "A stack that reads the whole input with bidirectional attention into vectors; BERT is encoder-only."),
    Term("decoder", "解码器",
         "A stack that predicts the next token with causal (left-to-right) attention; GPT models are decoder-only."),
    Term("parameters", "参数",
         "The learned numbers (weights and biases) of a model; their count N measures model size."),
    Term("layer normalisation (LayerNorm)", "层归一化",
         "Centre each token's vector, divide by its standard deviation, then scale and shift by learned gains and biases."),
    Term("RMSNorm", "均方根归一化 (RMSNorm)",
         "LayerNorm without the centring and the bias: divide by the root mean square, then scale (Llama and most models since)."),
    Term("residual stream (residual connection)", "残差流 (残差连接)",
         "The sum x + f(x) around each sub-layer: every block adds to one running vector per token, and gradients flow through it."),
    Term("pre-LN / post-LN", "前置归一化 / 后置归一化",
         "Where the norm sits: before each sub-layer, inside the residual branch (GPT-2; stable), or after the addition (the 2017 Transformer)."),
    Term("rotary position embedding (RoPE)", "旋转位置编码",
         "Positions encoded by rotating pairs of query and key coordinates by angles proportional to the position, so attention sees relative offsets."),
    Term("SwiGLU", "SwiGLU (门控前馈层)",
         "A gated feed-forward layer: SiLU(x W_gate) times (x W_up), then W_down; three matrices of width about 8/3 d."),
    Term("grouped-query attention (GQA)", "分组查询注意力",
         "Several query heads share one key/value head, which shrinks the KV cache by the group size."),
    # training
    Term("pre-training", "预训练",
         "The first, large training phase on unlabelled text with a self-supervised objective."),
    Term("self-supervised learning", "自监督学习",
         "Learning from targets taken from the data itself, such as the next token, without human labels."),
    Term("next-token prediction (causal language modelling)", "下一个词元预测 (因果语言建模)",
         "The objective of predicting each token from the tokens before it."),
    Term("masked language modelling", "掩码语言建模",
         "The objective of predicting tokens hidden in the input from both sides (BERT)."),
    Term("fine-tuning", "微调",
         "Further training of a pre-trained model on a smaller, task-specific data set."),
    Term("gradient descent", "梯度下降",
         "Updating parameters a small step against the gradient of the loss; AdamW is the usual variant."),
    Term("backpropagation", "反向传播",
         "The chain rule applied backwards through the network to get the gradient of the loss."),
    # scale
    Term("compute", "计算量",
         "The arithmetic spent on training, in FLOPs; about C = 6 N D for a Transformer."),
    Term("FLOPs", "浮点运算次数",
         "Floating-point operations, a count; FLOP/s (per second) is a speed."),
    Term("scaling law", "缩放定律 / 尺度定律",
         "A fitted formula for how loss falls with parameters N, data D or compute C, e.g. L = E + A/N^a + B/D^b."),
    Term("power law", "幂律",
         "A relation y = a x^(-b): a straight line on log-log axes, with each tenfold step giving the same ratio."),
    Term("irreducible loss", "不可约损失",
         "The floor E a scaling law approaches with infinite N and D: the entropy of the text itself."),
    Term("compute-optimal", "计算最优",
         "The split of a compute budget between N and D with the lowest loss; about 20 tokens per parameter (Chinchilla)."),
    Term("IsoFLOP curve", "等计算量曲线 (IsoFLOP)",
         "Loss against model size for runs that all cost the same compute; its minimum is the optimal size."),
    # generation and evaluation
    Term("logits", "对数几率 (logits)",
         "A model's unnormalised scores, one per vocabulary token; softmax turns them into probabilities."),
    Term("context length", "上下文长度",
         "The most tokens a model can look at at once; longer prompts must be cut or processed in windows."),
    Term("end-of-sequence (EOS) token", "序列结束符",
         "A special token that marks the end of a document; generation stops when it is produced."),
    Term("padding and attention mask", "填充与注意力掩码",
         "Filler tokens that make a batch rectangular, and the 0/1 mask that tells the model to ignore them."),
    Term("decoding strategy", "解码策略",
         "How next-token probabilities become text: greedy, sampling, top-k, top-p or beam search."),
    Term("greedy decoding", "贪心解码",
         "Always pick the most probable next token; deterministic, and prone to repetition."),
    Term("temperature", "温度",
         "Divide the logits by T before the softmax: T < 1 sharpens the distribution, T > 1 flattens it."),
    Term("top-k sampling", "Top-k 采样",
         "Sample only among the k most probable next tokens."),
    Term("top-p (nucleus) sampling", "Top-p（核）采样",
         "Sample among the smallest set of most probable tokens whose probabilities add up to at least p."),
    Term("beam search", "束搜索",
         "Keep the num_beams most probable partial sequences at every step; return the best finished one."),
    Term("repetition penalty", "重复惩罚",
         "Make tokens that already appeared less likely: divide positive logits by the penalty, multiply negative ones."),
    Term("key-value cache (KV cache)", "键值缓存",
         "Keys and values of past tokens kept during generation so each new token costs one position, not all."),
    Term("BLEU", "BLEU（双语评估替补）",
         "Translation metric: geometric mean of clipped n-gram precisions (n = 1-4) times a brevity penalty."),
    Term("ROUGE", "ROUGE（召回导向的摘要评估）",
         "Summary metric: overlap of n-grams (ROUGE-1, ROUGE-2) or the longest common subsequence (ROUGE-L)."),
    Term("human evaluation", "人工评估",
         "People judge outputs, ideally blind and pairwise with a rubric; agreement is measured (Cohen's kappa)."),
    Term("hallucination", "幻觉",
         "Fluent generated text that is false or unsupported by the input or by any source."),
    Term("bias (social)", "偏见",
         "Systematic differences in what a model predicts about groups of people, learned from its data."),
    # from a base model to an assistant (chapter 08)
    Term("instruction tuning / supervised fine-tuning (SFT)", "指令微调 / 监督微调",
         "Further training of a pretrained model on (instruction, answer) conversations, the loss on the answers."),
    Term("chat template", "对话模板",
         "The tokenizer's rule (a Jinja program) that writes a list of chat messages as the text the model reads."),
    Term("loss masking", "损失掩码",
         "Labels of -100 on the prompt's tokens, so that only the answer's tokens are scored in fine-tuning."),
    Term("LoRA (low-rank adaptation)", "低秩适配",
         "Freeze a weight matrix W and train a low-rank change (alpha / r) B A beside it; B starts at zero."),
    Term("parameter-efficient fine-tuning (PEFT)", "参数高效微调",
         "Fine-tuning that trains a small set of added or chosen parameters (LoRA, adapters) and freezes the rest."),
    Term("RLHF (reinforcement learning from human feedback)", "基于人类反馈的强化学习",
         "Fit a reward model to human comparisons, then tune the model to maximise reward minus a KL penalty."),
    Term("reward model", "奖励模型",
         "A model that scores answers, fitted to comparisons with the Bradley-Terry model P(a > b) = sigmoid(r_a - r_b)."),
    Term("DPO (direct preference optimization)", "直接偏好优化",
         "Tune a policy on preference pairs with a logistic loss on its log-probability ratios to a reference model."),
    Term("test-time compute", "测试时计算",
         "Compute spent while answering (many samples, search, longer reasoning) to raise accuracy."),
    Term("best-of-N sampling", "N 选一采样（Best-of-N）",
         "Draw N answers and keep the one a verifier or reward model scores highest."),
    Term("majority voting (self-consistency)", "多数投票（自洽性）",
         "Draw N answers and return the most common one."),
    Term("verifier", "验证器",
         "A checker of answers: exact (unit tests, arithmetic) or partial (it also accepts some wrong answers)."),
    Term("coverage (pass@k)", "覆盖率（pass@k）",
         "The share of problems that at least one of k sampled answers solves."),
    Term("LLM-as-a-judge", "大模型评审",
         "A language model asked which of two answers is better, used in place of human raters."),
    Term("position bias", "位置偏差",
         "A judge's preference for the first or the second answer whatever they say; measured by swapping them."),
    Term("win rate", "胜率",
         "Share of questions on which system A beats system B, ties counted as half."),
)


def glossary_rows() -> list[tuple[str, str, str]]:
    """The glossary as a list of plain (english, chinese, definition) tuples, in course order."""
    return [tuple(term) for term in GLOSSARY]


def _cell(text: str) -> str:
    """Escape text for one Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def glossary_markdown(terms=None) -> str:
    """A Markdown table (English | 中文 | definition), one row per term; ``terms`` defaults to ``GLOSSARY``."""
    terms = GLOSSARY if terms is None else tuple(terms)
    if not terms:
        raise ValueError("no terms to show; pass a non-empty list of Term or leave terms=None for all.")
    lines = ["| English | 中文 | definition |", "|---|---|---|"]
    for term in terms:
        term = Term(*term)
        lines.append(f"| **{_cell(term.english)}** | {_cell(term.chinese)} | {_cell(term.definition)} |")
    return "\n".join(lines)


def _names(term: Term) -> set[str]:
    """Every name a term answers to, lower-case: both full names and their parts split at '/' and '()'."""
    names = set()
    for full in (term.english, term.chinese):
        names.add(full.lower())
        names.update(part.lower() for part in re.split(r"\s*[/()]\s*", full) if part.strip())
    return names


def lookup(name: str) -> Term:
    """The entry whose English or Chinese name is or contains ``name`` (case-insensitive), exact matches first.

    Raises ``ValueError`` naming close alternatives when nothing or more than one entry matches.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("give a term to look up, e.g. lookup('perplexity') or lookup('困惑度').")
    key = name.strip().lower()
    tiers = (
        lambda t: key in (t.english.lower(), t.chinese.lower()),  # a full name
        lambda t: key in _names(t),  # a part: "AI", "tokenization", "n-gram"
        lambda t: key in t.english.lower() or key in t.chinese.lower(),  # a substring
    )
    for matches in tiers:
        found = [t for t in GLOSSARY if matches(t)]
        if len(found) == 1:
            return found[0]
    if not found:
        raise ValueError(f"{name!r} is not in the glossary; it has {len(GLOSSARY)} terms, see glossary_rows().")
    raise ValueError(f"{name!r} matches {len(found)} terms: {[t.english for t in found]}; be more specific.")
