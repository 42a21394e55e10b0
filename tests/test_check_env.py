"""python -m course_lib.check_env: one line per requirement, failures named."""
import subprocess
import sys

from course_lib import check_env


def test_all_requirements_pass_in_the_test_environment():
    checks = check_env.run_checks(include_corpus=False)
    names = {c.name for c in checks}
    assert {"python", "torch", "transformers", "ipywidgets", "jupyterlab widget extension"} <= names
    failed = [c for c in checks if c.status == "FAIL"]
    assert not failed, failed


def test_a_missing_package_is_a_fail_with_a_hint():
    check = check_env._check_package("no_such_module_xyz", "no-such-dist-xyz", (1, 0))
    assert check.status == "FAIL" and "pip install -r requirements.txt" in check.detail


def test_a_too_new_version_fails():
    check = check_env._check_package("torch", "torch", (2, 0), below=(2, 1))
    assert check.status == "FAIL" and "< 2.1" in check.detail


def test_command_line_prints_ok_lines():
    out = subprocess.run([sys.executable, "-m", "course_lib.check_env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK    torch" in out.stdout and "All set" in out.stdout


def test_the_pretrained_model_line_is_informative_whether_cached_or_not(tmp_path, monkeypatch):
    from course_lib import pretrained

    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "empty"))
    check = check_env._check_pretrained()
    assert check.status == "INFO" and "python -m course_lib.pretrained fetch" in check.detail
    assert "not cached" in check.detail and str(tmp_path / "empty") in check.detail
    folder = tmp_path / "full" / pretrained.SMOLLM2.name
    folder.mkdir(parents=True)
    for name in pretrained.MODEL_FILES:
        (folder / name).write_text("{}")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "full"))
    check = check_env._check_pretrained()
    assert check.status == "INFO" and check.detail == f"cached in {folder}"
