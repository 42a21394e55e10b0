"""course_lib.corpora: the frozen snapshot of Python's text, checked on every load."""
import hashlib
import json
import shutil

import pytest

from course_lib import corpora, text


def test_the_snapshot_matches_its_manifest():
    data = corpora.manifest()
    assert data["python"] == "3.11.7" and data["command"] == corpora.BUILD_COMMAND
    assert (corpora.FOLDER / "LICENSE-PSF.txt").read_text(encoding="utf-8").count("PYTHON SOFTWARE FOUNDATION") >= 1
    for name, corpus in (("python-docs", text.python_docs()), ("python-code", text.python_code())):
        entry = data["files"][name]
        assert corpus.sha256 == entry["text_sha256"], f"{name}: the loaded text is not the text the manifest records"
        assert len(corpus.documents) == entry["documents"] and corpus.n_chars == entry["characters"]
        assert corpus.source == entry["source"] == "Python 3.11.7"


def test_the_default_text_does_not_depend_on_the_running_python():
    # The docs corpus of the course, whatever Python runs this test.
    assert text.python_docs().sha256.startswith("adccba3fda26")
    assert text.python_docs(max_chars=1000).n_chars <= 1000


def test_the_running_python_is_an_explicit_choice():
    running = text.python_docs(source="running")
    assert running.source.startswith("Python ") and len(running.documents) > 1000
    with pytest.raises(ValueError, match="'snapshot'.*'running'"):
        text.python_docs(source="internet")


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "corpora"
    shutil.copytree(corpora.FOLDER, folder)
    return folder


def test_a_missing_file_names_it_its_checksum_and_the_fix(copy):
    (copy / "python-docs.json.xz").unlink()
    expected = corpora.manifest(copy)["files"]["python-docs"]["sha256"]
    with pytest.raises(corpora.SnapshotError) as err:
        corpora.load_documents("python-docs", copy)
    message = str(err.value)
    assert "python-docs.json.xz" in message and expected in message and corpora.BUILD_COMMAND in message


@pytest.mark.parametrize("damage", ["truncate", "alter"])
def test_a_truncated_or_altered_file_is_refused(copy, damage):
    path = copy / "python-code.json.xz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(corpora.SnapshotError, match="altered or truncated"):
        corpora.load_documents("python-code", copy)
    with pytest.raises(corpora.SnapshotError, match="python-code.json.xz"):
        corpora.verify(copy)


def test_a_missing_manifest_and_an_unknown_name(copy):
    (copy / corpora.MANIFEST).unlink()
    with pytest.raises(corpora.SnapshotError, match="MANIFEST.json is missing"):
        corpora.load_documents("python-docs", copy)
    with pytest.raises(ValueError, match="python-docs, python-code"):
        corpora.load_documents("wikipedia")


def test_verify_reports_every_file():
    lines = corpora.verify()
    assert [line.split()[1] for line in lines] == ["python-docs.json.xz:", "python-code.json.xz:"]
    digest = hashlib.sha256((corpora.FOLDER / "python-docs.json.xz").read_bytes()).hexdigest()
    assert json.loads((corpora.FOLDER / corpora.MANIFEST).read_text())["files"]["python-docs"]["sha256"] == digest
