"""Importing course_lib makes the Hugging Face libraries offline, so nothing can hang on the network;
and a plain (non-editable) install of course_lib still finds the course model."""
import os
import pathlib
import shutil
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


def test_the_course_model_is_found_without_an_editable_install(tmp_path):
    """A plain (non-editable) copy of course_lib still finds models/course_gpt from the repository or notebooks/."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    site = tmp_path / "site-packages"
    shutil.copytree(repo / "course_lib", site / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = (
        "import os, course_lib\n"
        "from course_lib.course_model import CourseModelNotFound, course_model_path\n"
        "print(course_lib.__file__)\n"
        "print(course_model_path())\n"
        f"os.chdir({str(outside)!r})\n"
        "try:\n    course_model_path()\nexcept CourseModelNotFound as e:\n"
        "    print('not found;', 'python -m course_lib.course_model build' in str(e))\n"
        f"os.environ['COURSE_MODEL_DIR'] = {str(repo / 'models' / 'course_gpt')!r}\n"
        "print(course_model_path())\n"
    )
    env = {k: v for k, v in CLEAN_ENV.items() if k != "COURSE_MODEL_DIR"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                         cwd=repo / "notebooks")
    assert out.returncode == 0, out.stderr
    package, found, missing, from_env = out.stdout.strip().splitlines()
    assert package.startswith(str(site)), "the copy, not the editable install, was imported"
    assert found == str(repo / "models" / "course_gpt"), "found from notebooks/, a child of the repository"
    assert missing == "not found; True", "outside the repository: an error that says how to rebuild the model"
    assert from_env == str(repo / "models" / "course_gpt")
