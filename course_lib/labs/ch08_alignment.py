"""Chapter 08 lab: sliders for LoRA's rank, DPO's beta and N in best-of-N.

    lora_rank_widget(shapes, n_total)  -> rank and target sliders; trainable parameters and
                                          fine-tuning memory against full fine-tuning (08b)
    dpo_beta_widget(pi_ref, rewards)   -> a beta slider; the KL-regularised optimum
                                          pi_ref * exp(r / beta), normalised (08c)
    best_of_n_widget(curves)           -> an N slider over accuracy-against-N curves (08d)

Each widget's numbers come from a plain ``*_state`` function (what the tests call); its
figure is drawn by ``plot_*`` into an ``ipywidgets.Image``. Updates are arithmetic on
small arrays, well under 100 ms; ``ipywidgets`` is imported inside the widget functions.
"""
from __future__ import annotations

import numpy as np

from ..lora import finetune_memory, lora_parameter_count
from ..preference import optimal_policy
from ..validation import check_int
from .figures import figure_png, wire_widget

__all__ = ["TARGET_SETS", "lora_rank_state", "plot_lora_rank", "lora_rank_widget", "dpo_beta_state",
           "plot_dpo_beta", "dpo_beta_widget", "best_of_n_state", "plot_best_of_n", "best_of_n_widget"]

TARGET_SETS = {"q, v": ("q_proj", "v_proj"), "q, k, v, o": ("q_proj", "k_proj", "v_proj", "o_proj"),
               "every linear layer": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
"""LoRA target choices for a Llama-architecture model: the original paper's (Wq, Wv), attention, everything."""


# ----------------------------------------------------------------------------- LoRA rank


def lora_rank_state(r: int, targets, shapes: dict, n_total: int) -> dict:
    """Trainable parameters and AdamW fine-tuning memory of LoRA rank r on ``targets``, against full fine-tuning.

    ``shapes`` maps a target name (``"q_proj"``) to the (out, in) shapes of the layers it
    names (one per block); ``n_total`` counts the model's parameters. Returns ``r``,
    ``trainable`` (parameters), ``share`` (of ``n_total``), and ``lora`` and ``full``, the
    ``finetune_memory`` dicts in bytes (float32, activations not included).
    """
    missing = [t for t in targets if t not in shapes]
    if missing:
        raise ValueError(f"no shapes for {missing}; give shapes for every target (known: {sorted(shapes)}).")
    trainable = lora_parameter_count([s for t in targets for s in shapes[t]], r)
    return {"r": r, "trainable": trainable, "share": trainable / n_total,
            "lora": finetune_memory(n_total + trainable, trainable), "full": finetune_memory(n_total, n_total)}


def plot_lora_rank(state: dict):
    """Stacked bars of weights, gradients and optimizer state (MB) for full fine-tuning and LoRA; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    bottom = np.zeros(2)
    for part, colour in (("weights", "#4c72b0"), ("gradients", "#dd8452"), ("optimizer", "#55a868")):
        values = np.array([state["full"][part], state["lora"][part]]) / 1e6
        ax.barh(["full fine-tuning", f"LoRA r = {state['r']}"], values, left=bottom, color=colour, label=part)
        bottom += values
    ax.set_xlabel("memory (MB, float32; activations not included)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def lora_rank_widget(shapes: dict, n_total: int, r: int = 8, plot: bool = True):
    """A rank slider (1-64) and a target menu over ``lora_rank_state``; ``box.update()`` returns the state."""
    import ipywidgets as widgets

    rank = widgets.IntSlider(value=r, min=1, max=64, description="rank r", continuous_update=False)
    targets = widgets.Dropdown(options=list(TARGET_SETS), value="q, v", description="targets")
    text, figure = widgets.HTML(), widgets.Image(format="png")

    def update():
        state = lora_rank_state(rank.value, TARGET_SETS[targets.value], shapes, n_total)
        text.value = (f"<pre>trainable: {state['trainable']:,} parameters ({state['share']:.2%} of {n_total:,})\n"
                      f"memory to fine-tune: LoRA {state['lora']['total'] / 1e6:,.0f} MB, "
                      f"full {state['full']['total'] / 1e6:,.0f} MB</pre>")
        return state

    box = widgets.VBox([widgets.HBox([rank, targets]), text, figure])
    return wire_widget(box, (rank, targets), update, plot_lora_rank, figure, plot, rank=rank, targets=targets, text=text)


# ----------------------------------------------------------------------------- DPO beta


def dpo_beta_state(beta: float, pi_ref, rewards) -> dict:
    """The optimum of E[r] - beta KL(pi || pi_ref) and what it achieves.

    Returns ``pi_ref`` and ``rewards`` (arrays), ``pi`` (the optimum, ``optimal_policy``),
    ``kl`` (KL(pi || pi_ref), nats), ``reward`` (E_pi[r]) and ``best`` (the index of the
    highest reward).
    """
    pi = optimal_policy(pi_ref, rewards, beta).numpy()
    ref, r = np.asarray(pi_ref, dtype=float), np.asarray(rewards, dtype=float)
    return {"beta": float(beta), "pi_ref": ref, "rewards": r, "pi": pi, "kl": float((pi * np.log(pi / ref)).sum()),
            "reward": float((pi * r).sum()), "best": int(r.argmax())}


def plot_dpo_beta(state: dict, labels=None):
    """Bars of pi_ref and the optimum pi for each answer; returns the figure."""
    import matplotlib.pyplot as plt

    k = len(state["pi"])
    labels = labels or [f"y{i + 1}\nr={r:+.1f}" for i, r in enumerate(state["rewards"])]
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    x = np.arange(k)
    ax.bar(x - 0.2, state["pi_ref"], 0.4, label="reference (SFT)", color="#999999")
    ax.bar(x + 0.2, state["pi"], 0.4, label=f"optimum, beta = {state['beta']:.2g}", color="#4c72b0")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(f"KL to the reference {state['kl']:.2f} nats, expected reward {state['reward']:+.2f}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def dpo_beta_widget(pi_ref, rewards, beta: float = 1.0, plot: bool = True):
    """A log slider for beta (0.03-30) over ``dpo_beta_state``; ``box.update()`` returns the state."""
    import ipywidgets as widgets

    slider = widgets.FloatLogSlider(value=beta, base=10, min=-1.5, max=1.5, step=0.05, description="beta",
                                    continuous_update=False)
    text, figure = widgets.HTML(), widgets.Image(format="png")

    def update():
        state = dpo_beta_state(slider.value, pi_ref, rewards)
        text.value = (f"<pre>beta = {state['beta']:.3g}: P(best answer) {state['pi'][state['best']]:.2f} "
                      f"(reference {state['pi_ref'][state['best']]:.2f}), KL {state['kl']:.2f} nats</pre>")
        return state

    box = widgets.VBox([slider, text, figure])
    return wire_widget(box, (slider,), update, plot_dpo_beta, figure, plot, slider=slider, text=text)


# ----------------------------------------------------------------------------- best-of-N


def best_of_n_state(curves: dict, n: int) -> dict:
    """Each method's accuracy and interval at N = ``n``: ``{method: (mean, low, high)}``.

    ``curves`` maps a method name to ``{"ks": [...], "mean": [...], "low": [...], "high": [...]}``
    (accuracy at each N in ``ks``); ``n`` must be one of the ks.
    """
    out = {}
    for name, c in curves.items():
        ks = list(c["ks"])
        if n not in ks:
            raise ValueError(f"N = {n} was not measured for {name!r}; choose one of {ks}.")
        i = ks.index(n)
        out[name] = (float(c["mean"][i]), float(c["low"][i]), float(c["high"][i]))
    return out


def plot_best_of_n(curves: dict, n: int | None = None, ax=None, xlabel: str = "samples per problem N"):
    """Accuracy against N (log axis) with shaded intervals, one line per method; a marker line at ``n``. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, c in curves.items():
        line, = ax.plot(c["ks"], c["mean"], marker="o", label=name)
        ax.fill_between(c["ks"], c["low"], c["high"], color=line.get_color(), alpha=0.15)
    if n is not None:
        ax.axvline(n, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return ax


def best_of_n_widget(curves: dict, n: int = 1, plot: bool = True):
    """A slider over the measured N of ``curves``, showing each method's accuracy there; ``box.update()`` returns the state."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    ks = [int(k) for k in next(iter(curves.values()))["ks"]]
    slider = widgets.SelectionSlider(options=ks, value=check_int(n, "n") if n in ks else ks[0], description="N",
                                     continuous_update=False)
    text, figure = widgets.HTML(), widgets.Image(format="png")

    def update():
        state = best_of_n_state(curves, slider.value)
        text.value = "<pre>" + "\n".join(f"{name:28} {m:.2f} ({lo:.2f}-{hi:.2f})" for name, (m, lo, hi) in state.items()) \
            + "</pre>"
        return state

    def draw(_state):
        fig, ax = plt.subplots(figsize=(6, 3.3))
        plot_best_of_n(curves, slider.value, ax=ax)
        fig.tight_layout()
        return fig

    box = widgets.VBox([slider, text, figure])
    return wire_widget(box, (slider,), update, draw, figure, plot, slider=slider, text=text)
