"""What every chapter notebook's one set-up cell calls.

Every notebook starts with ``from verified_transformer.notebook import setup; setup()``, so that
re-executing it top to bottom reproduces its stored outputs byte for byte (seeds, deterministic
kernels, print options, figure style and fonts are fixed here, in one place).
``setup(explicit=True)`` also switches this book's modules to their explicit formulas for the
whole notebook.
:func:`verify` runs one claim of the ledger and prints its verdict.
"""

from __future__ import annotations

import os
import random
import sys

import torch

from verified_transformer.nn import set_fused_kernels

FIGSIZE = (6.4, 3.6)


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True)``, without its import of ``torch._inductor``.

    That function sets two things: the flag that torch's kernels read, and
    ``torch._inductor.config.deterministic`` for ``torch.compile``; importing the latter loads the
    compiler stack (``torch._dynamo``, seconds per kernel start). No chapter compiles, so until
    something has loaded the compiler this sets the kernels' flag alone and asks for deterministic
    compilation through ``TORCHINDUCTOR_DETERMINISTIC=1``, which the inductor config reads when it
    is first imported: a later ``torch.compile`` is deterministic as well.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    torch._C._set_deterministic_algorithms(True)


def setup(seed: int = 0, *, explicit: bool = False) -> None:
    """Seed every RNG, force deterministic kernels, fix print options, the figure style and fonts
    (:func:`verified_transformer.fonts.use_book_fonts`: Chinese glyphs from the packaged font).

    ``explicit=True`` selects the explicit formulas of :mod:`verified_transformer.nn` instead of
    torch's fused kernels (:func:`verified_transformer.nn.set_fused_kernels`) until changed.
    """
    if not isinstance(explicit, bool):
        raise TypeError(f"explicit must be a bool, got {type(explicit).__name__}")
    set_fused_kernels(not explicit)
    random.seed(seed)
    torch.manual_seed(seed)
    deterministic_kernels()
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
    from verified_transformer.fonts import use_book_fonts

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
    use_book_fonts()
