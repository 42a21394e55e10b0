"""Fixtures shared by the unit tests (the repository's conftest.py sets the offline environment)."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one torch thread (and much faster on a busy machine); restored after.

    A test module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


REQUIRE_PRETRAINED = "COURSE_REQUIRE_PRETRAINED"


@pytest.fixture(scope="session")
def smollm2():
    """``(model, tokenizer)`` of the real pretrained model (``course_lib.pretrained``), fetched once if missing.

    Skips, saying how to get the model, when it is neither cached nor fetchable (offline) --
    unless ``$COURSE_REQUIRE_PRETRAINED`` is set (CI sets it), where a missing model fails.
    """
    import os

    from course_lib.pretrained import PretrainedUnavailable, load_pretrained

    try:
        return load_pretrained(progress=False)
    except PretrainedUnavailable as e:
        if os.environ.get(REQUIRE_PRETRAINED):
            raise
        pytest.skip(f"the pretrained model is not available: {e}")
