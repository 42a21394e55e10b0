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
