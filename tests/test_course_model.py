"""The course model that ships in models/course_gpt: it loads offline through transformers'
Auto classes and pipeline, equals the course GPT, fits the size budget, documents how it was
made, and the command that rebuilds it works (on the tiny recipe)."""
import json
import math
import warnings

import huggingface_hub.constants
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel, pipeline

from course_lib import course_model
from course_lib.course_model import (
    COURSE_MODEL_ENV,
    REBUILD_COMMAND,
    CourseModelNotFound,
    course_model_path,
    gpt2_available,
    model_source,
)
from course_lib.generation import greedy_decode
from course_lib.model import GPT, GPTConfig, from_hf

PROMPTS = ["The quick brown fox", "def read_file(path):\n    with open(path) as f:\n"]


@pytest.fixture(autouse=True, scope="module")
def offline_and_few_threads():
    assert huggingface_hub.constants.HF_HUB_OFFLINE, "importing course_lib must make the Hugging Face libraries offline"
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def folder():
    return course_model_path()


@pytest.fixture(scope="module")
def hf_and_tok(folder):
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


# ----------------------------------------------------------------------------- the shipped folder


def test_loads_with_auto_classes(hf_and_tok, folder):
    model, tok = hf_and_tok
    record = json.loads((folder / "training.json").read_text())
    assert isinstance(model, GPT2LMHeadModel)
    assert model.config.vocab_size == len(tok) == record["config"]["model"]["vocab_size"]
    assert model.config.n_positions == record["config"]["model"]["context_length"]
    assert tok.eos_token == "<|endoftext|>" and model.generation_config.eos_token_id == tok.eos_token_id
    assert tok.decode(tok.encode(PROMPTS[1])) == PROMPTS[1], "byte-level BPE round-trips text exactly"


def test_pipeline_loads_from_the_folder_and_agrees_with_greedy_decoding(hf_and_tok, folder):
    model, tok = hf_and_tok
    generator = pipeline("text-generation", model=str(folder))
    out = generator(PROMPTS[0], do_sample=False, max_new_tokens=8)[0]["generated_text"]
    assert out.startswith(PROMPTS[0]) and len(out) > len(PROMPTS[0])
    ids = tok.encode(PROMPTS[0], return_tensors="pt")
    ours = greedy_decode(model, ids, 8, eos_token_id=tok.eos_token_id)
    assert out == tok.decode(ours[0], skip_special_tokens=True)


def test_default_pipeline_call_stays_inside_the_context(folder):
    """pipeline's own default is 256 new tokens, more than the context: the generation config caps the total."""
    generator = pipeline("text-generation", model=str(folder))
    assert generator.model.generation_config.max_length == generator.model.config.n_positions
    torch.manual_seed(0)
    text = generator("The world is a beautiful place,")[0]["generated_text"]  # the seeds' call, as written
    assert text.startswith("The world is a beautiful place,")
    assert len(generator.tokenizer.encode(text)) <= generator.model.config.n_positions


def test_max_length_of_a_call_wins(hf_and_tok):
    model, tok = hf_and_tok
    ids = tok.encode(PROMPTS[0], return_tensors="pt")
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_length=12, do_sample=False)
    assert out.shape[1] <= 12
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= ids.shape[1] + 3


def test_logits_equal_the_course_gpt(hf_and_tok):
    model, tok = hf_and_tok
    gpt = from_hf(model).eval()
    assert isinstance(gpt, GPT)
    ids = tok(PROMPTS[1] + " " + PROMPTS[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = model(ids).logits
        ours, _ = gpt(ids)
    assert ref.shape == ours.shape == (1, ids.shape[1], model.config.vocab_size)
    assert torch.allclose(ours, ref, atol=1e-4, rtol=0), (ours - ref).abs().max()


def test_load_helpers(folder):
    gpt, tok = course_model.load_course_gpt()
    hf, tok2 = course_model.load(folder)
    ids = tok.encode("import os", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(gpt(ids)[0], hf(ids).logits, atol=1e-4, rtol=0)
    assert tok.get_vocab() == tok2.get_vocab()


def test_size_budget(folder):
    size = course_model.folder_size(folder)
    assert size <= 20_000_000, f"models/course_gpt is {size / 1e6:.1f} MB; the repository allows 20 MB"
    record = json.loads((folder / "training.json").read_text())
    assert abs(record["folder_bytes"] - size) < 100_000, "training.json records the folder's size"


def test_training_record(folder, hf_and_tok):
    record = json.loads((folder / "training.json").read_text())
    for key in ("command", "config", "corpora", "steps", "tokens_seen", "final_train_loss_nats",
                "final_val_loss_nats", "final_val_bits_per_byte", "val_by_corpus", "versions", "date", "wall_time_s"):
        assert key in record, key
    assert record["command"] == REBUILD_COMMAND, "the record names the command that rebuilds the shipped folder"
    assert record["recipe"] == "full"
    # fields added to GPTConfig later (muP) take their defaults: the record still names the same model
    assert GPTConfig(**record["config"]["model"]) == course_model.FULL.model
    assert set(record["versions"]) >= {"python", "torch", "transformers"}
    assert "sha256" in record["corpora"]["prose"] and "sha256" in record["corpora"]["code"]
    assert record["tokens_seen"] == record["steps"] * course_model.FULL.batch_size * course_model.FULL.model.context_length
    model, _ = hf_and_tok
    assert record["parameters"] == GPT(course_model.FULL.model).num_params(non_embedding=False)
    assert record["parameters_in_file"] == model.num_parameters()
    # the model learned: far below a uniform guess, and bits per byte agree with nats per token
    val = record["final_val_loss_nats"]
    assert val < 0.6 * math.log(record["config"]["model"]["vocab_size"])
    bpb = val / math.log(2) / record["corpora"]["bytes_per_token"]
    assert math.isclose(bpb, record["final_val_bits_per_byte"], rel_tol=1e-3)
    assert (folder / "README.md").read_text().count(REBUILD_COMMAND) == 1


# ----------------------------------------------------------------------------- the build command


def test_tiny_build_end_to_end(tmp_path, capsys):
    out = tmp_path / "tiny_model"
    assert course_model.main(["build", "--out", str(out), "--tiny", "--quiet"]) == 0
    assert "saved" in capsys.readouterr().out
    record = json.loads((out / "training.json").read_text())
    assert record["recipe"] == "tiny" and record["command"].endswith("--tiny")
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    gpt = from_hf(model).eval()
    ids = tok.encode("def f(x):\n    return x", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(gpt(ids)[0], model(ids).logits, atol=1e-5, rtol=0)
    assert record["parameters_in_file"] == model.num_parameters()
    assert record["parameters"] == GPT(course_model.TINY.model).num_params(non_embedding=False)
    assert record["history"]["step"][-1] == course_model.TINY.steps
    assert math.isfinite(record["final_val_loss_nats"])
    # a second build into the same folder must not silently replace it
    assert course_model.main(["build", "--out", str(out), "--tiny", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_build_refuses_a_file(tmp_path):
    target = tmp_path / "not_a_folder"
    target.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        course_model.build(target, course_model.TINY)


# ----------------------------------------------------------------------------- missing model, model choice


def _fake_model(folder, files=course_model.MODEL_FILES):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_text("{}")
    return folder


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A current directory outside the repository, no COURSE_MODEL_DIR, and no model next to the package."""
    monkeypatch.delenv(COURSE_MODEL_ENV, raising=False)
    monkeypatch.setattr(course_model, "_PACKAGE_PARENT", tmp_path / "site-packages")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def test_path_explicit_folder_comes_first(elsewhere, monkeypatch):
    given = _fake_model(elsewhere / "given")
    monkeypatch.setenv(COURSE_MODEL_ENV, str(_fake_model(elsewhere / "from_env")))
    assert course_model_path(given) == given
    assert course_model_path(str(given)) == given
    with pytest.raises(CourseModelNotFound) as err:
        course_model_path(elsewhere / "empty")  # given, so nowhere else is tried
    assert "the folder given" in str(err.value) and str(elsewhere / "empty") in str(err.value)


def test_path_environment_variable_comes_second(elsewhere, monkeypatch):
    _fake_model(elsewhere / "work" / "models" / "course_gpt")  # would be found in the current directory
    from_env = _fake_model(elsewhere / "from_env")
    monkeypatch.setenv(COURSE_MODEL_ENV, str(from_env))
    assert course_model_path() == from_env
    monkeypatch.setenv(COURSE_MODEL_ENV, str(elsewhere / "nothing_here"))
    with pytest.raises(FileNotFoundError, match=COURSE_MODEL_ENV):
        course_model_path()  # set, so nowhere else is tried
    monkeypatch.setenv(COURSE_MODEL_ENV, "")  # empty counts as not set
    assert course_model_path() == (elsewhere / "work" / "models" / "course_gpt").resolve()


def test_path_current_directory_and_its_parents_come_third(elsewhere, monkeypatch):
    repo = elsewhere / "repo"
    found = _fake_model(repo / "models" / "course_gpt")
    _fake_model(elsewhere / "site-packages" / "models" / "course_gpt")  # next to the package: later
    (repo / "notebooks").mkdir()
    monkeypatch.chdir(repo / "notebooks")  # how a notebook runs
    assert course_model_path() == found.resolve()
    monkeypatch.chdir(repo)  # how the tests run
    assert course_model_path() == found.resolve()


def test_path_next_to_the_package_comes_last(elsewhere):
    beside = _fake_model(elsewhere / "site-packages" / "models" / "course_gpt")
    assert course_model_path() == beside


def test_path_of_this_checkout_without_an_editable_install(monkeypatch, tmp_path):
    """Found from the repository and from notebooks/, whatever the package's own location."""
    monkeypatch.delenv(COURSE_MODEL_ENV, raising=False)
    shipped = course_model._PACKAGE_PARENT / "models" / "course_gpt"
    monkeypatch.setattr(course_model, "_PACKAGE_PARENT", tmp_path)
    for cwd in (shipped.parent.parent, shipped.parent.parent / "notebooks"):
        monkeypatch.chdir(cwd)
        assert course_model_path() == shipped


def test_missing_model_says_where_it_looked_and_how_to_rebuild(elsewhere):
    incomplete = _fake_model(elsewhere / "work" / "models" / "course_gpt", ["config.json"])
    with pytest.raises(FileNotFoundError) as err:
        course_model_path()
    message = str(err.value)
    assert isinstance(err.value, ValueError), "also a ValueError, like every bad-input error of course_lib"
    assert REBUILD_COMMAND in message and COURSE_MODEL_ENV in message
    assert f"{incomplete.resolve()}: no model.safetensors, tokenizer.json" in message
    assert str(elsewhere / "site-packages" / "models" / "course_gpt") in message
    with pytest.raises(ValueError, match="course_lib.course_model build --out " + str(incomplete)):
        course_model.load(incomplete)


def test_model_source_defaults_to_the_course_model(folder):
    assert model_source() == str(folder)
    assert model_source(False) == str(folder)
    with pytest.raises(ValueError, match="True or False"):
        model_source("gpt2")


def test_model_source_falls_back_with_a_warning(monkeypatch, folder):
    monkeypatch.setattr("course_lib.course_model.gpt2_available", lambda: (False, "not cached, offline"))
    with pytest.warns(UserWarning, match="not cached, offline"):
        assert model_source(True) == str(folder)
    monkeypatch.setattr("course_lib.course_model.gpt2_available", lambda: (True, "cached"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model_source(True) == "gpt2"


def _fake_cache(root, files):
    repo = root / "models--gpt2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for name in files:
        (snap / name).write_text("{}")


def test_gpt2_available_reads_the_cache_and_never_the_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("offline mode must not open a connection")

    monkeypatch.setattr("socket.create_connection", no_network)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    ok, why = gpt2_available()
    assert not ok and "HF_HUB_OFFLINE" in why
    _fake_cache(tmp_path, ["config.json", "tokenizer.json"])  # weights missing: not usable
    assert not gpt2_available()[0]
    (tmp_path / "models--gpt2" / "snapshots" / "abc123" / "model.safetensors").write_text("{}")
    assert gpt2_available() == (True, "gpt2 is in the Hugging Face cache")


def test_gpt2_available_online_gives_up_quickly(tmp_path, monkeypatch):
    calls = []

    def unreachable(address, timeout):
        calls.append(timeout)
        raise OSError("no route")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("socket.create_connection", unreachable)
    ok, why = gpt2_available(timeout_s=0.5)
    assert not ok and "did not answer" in why and calls == [0.5]
