"""course_lib.labs.ch08_alignment: the LoRA-rank, DPO-beta and best-of-N sliders, through their state functions."""
import numpy as np
import pytest

from course_lib.labs.ch08_alignment import (TARGET_SETS, best_of_n_state, dpo_beta_state, lora_rank_state,
                                            plot_best_of_n)

SHAPES = {"q_proj": [(576, 576)] * 30, "k_proj": [(192, 576)] * 30, "v_proj": [(192, 576)] * 30,
          "o_proj": [(576, 576)] * 30, "gate_proj": [(1536, 576)] * 30, "up_proj": [(1536, 576)] * 30,
          "down_proj": [(576, 1536)] * 30}  # SmolLM2-135M's linear layers
N_TOTAL = 134_515_008


def test_lora_rank_state_counts_like_the_paper():
    state = lora_rank_state(8, TARGET_SETS["q, v"], SHAPES, N_TOTAL)
    assert state["trainable"] == 30 * 8 * ((576 + 576) + (576 + 192)) == 460_800  # peft's count for this model
    assert state["full"]["total"] == 16 * N_TOTAL
    assert state["lora"]["total"] == 4 * (N_TOTAL + 460_800) + 12 * 460_800
    double = lora_rank_state(16, TARGET_SETS["q, v"], SHAPES, N_TOTAL)
    assert double["trainable"] == 2 * state["trainable"]  # linear in r
    with pytest.raises(ValueError, match="Choose r <= 192"):
        lora_rank_state(200, TARGET_SETS["q, v"], SHAPES, N_TOTAL)
    with pytest.raises(ValueError, match="no shapes"):
        lora_rank_state(8, ["c_attn"], SHAPES, N_TOTAL)


def test_dpo_beta_state_moves_between_the_reference_and_the_best_answer():
    pi_ref, r = [0.5, 0.3, 0.2], [0.0, 1.0, -1.0]
    near = dpo_beta_state(30.0, pi_ref, r)
    far = dpo_beta_state(0.05, pi_ref, r)
    assert np.allclose(near["pi"], pi_ref, atol=0.02) and near["kl"] < 1e-3
    assert far["pi"][1] > 0.99 and far["kl"] == pytest.approx(np.log(1 / 0.3), abs=0.02)
    with pytest.raises(ValueError, match="beta"):
        dpo_beta_state(0.0, pi_ref, r)


def test_best_of_n_state_reads_the_curves():
    curves = {"coverage": {"ks": [1, 2, 4], "mean": [0.2, 0.35, 0.5], "low": [0.1, 0.25, 0.4], "high": [0.3, 0.45, 0.6]},
              "majority": {"ks": [1, 2, 4], "mean": [0.2, 0.2, 0.22], "low": [0.1] * 3, "high": [0.3] * 3}}
    assert best_of_n_state(curves, 4) == {"coverage": (0.5, 0.4, 0.6), "majority": (0.22, 0.1, 0.3)}
    with pytest.raises(ValueError, match="choose one of"):
        best_of_n_state(curves, 3)
    ax = plot_best_of_n(curves, 2)
    assert ax.get_xscale() == "log" and len(ax.lines) == 3  # two curves and the marker


def test_widgets_follow_their_sliders():
    pytest.importorskip("ipywidgets")
    from course_lib.labs.ch08_alignment import best_of_n_widget, dpo_beta_widget, lora_rank_widget

    box = lora_rank_widget(SHAPES, N_TOTAL, r=4, plot=False)
    assert box.update()["trainable"] == 230_400
    box.targets.value = "every linear layer"
    assert box.update()["trainable"] > 1_000_000 and "of 134,515,008" in box.text.value
    beta = dpo_beta_widget([0.5, 0.5], [1.0, 0.0], beta=1.0, plot=False)
    beta.slider.value = 0.1
    assert beta.update()["pi"][0] > 0.99
    curves = {"c": {"ks": [1, 2], "mean": [0.1, 0.2], "low": [0.0, 0.1], "high": [0.2, 0.3]}}
    bon = best_of_n_widget(curves, n=1, plot=True)
    bon.slider.value = 2
    assert bon.update() == {"c": (0.2, 0.1, 0.3)} and bon.figure.value[:4] == b"\x89PNG"
