"""Set-up shared by every notebook: seeds, printing and plotting defaults."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["setup"]


def setup(seed: int = 0) -> None:
    """Seed Python, NumPy and torch, and set print and plot defaults. Prints nothing.

    Call it once at the top of a notebook so that every run gives the same numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.figsize": (6.0, 3.5), "figure.dpi": 80, "axes.grid": True,
                             "grid.alpha": 0.3, "savefig.dpi": 80})
    except ImportError:  # pragma: no cover
        pass
