"""One call that makes a chapter notebook deterministic.

Every notebook starts with ``from verified_transformer.notebook import setup; setup()``, so that
re-executing it top to bottom reproduces its stored outputs byte for byte (seeds, deterministic
kernels, print options and figure style are fixed here, in one place).
"""

from __future__ import annotations

import random

import torch

FIGSIZE = (6.4, 3.6)


def setup(seed: int = 0) -> None:
    """Seed every RNG, force deterministic kernels, fix print options and the figure style."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_printoptions(precision=4, sci_mode=False, linewidth=100)
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the library itself
        pass
    else:
        np.random.seed(seed)  # noqa: NPY002 (seeds the legacy global RNG a reader may call)
        np.set_printoptions(precision=4, suppress=True, linewidth=100)
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
