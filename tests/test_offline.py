"""Importing course_lib makes the Hugging Face libraries offline, so nothing can hang on the network."""
import os
import subprocess
import sys

import pytest

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}


def run(code: str, env=None, timeout=120):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=CLEAN_ENV if env is None else env)


def test_import_sets_offline_mode():
    out = run("import course_lib, huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_an_explicit_user_choice_is_kept():
    out = run("import course_lib, huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)",
              env={**CLEAN_ENV, "HF_HUB_OFFLINE": "0"})
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("loader", ["AutoTokenizer", "AutoModelForCausalLM"])
def test_hub_model_names_fail_fast_instead_of_hanging(loader):
    code = (
        "import course_lib, transformers\n"
        f"try:\n    transformers.{loader}.from_pretrained('gpt2-this-is-not-cached')\n"
        "except OSError as e:\n    print('OSError')\n"
    )
    out = run(code, timeout=60)
    assert "OSError" in out.stdout, out.stdout + out.stderr
