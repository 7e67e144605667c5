"""verified-transformer: residual connections, LayerNorm and multi-head attention, verified.

Subpackages
-----------
``nn``           PyTorch re-implementations, drop-in compatible with ``torch.nn``.
``derive``       SymPy derivations of the formulas the book states.
``claims``       The ledger that ties every formula to a symbolic and a numeric check.
``experiments``  Small deterministic studies used by the chapters.
``exercises``    The chapters' exercises and their checkers: ``check(exercise_id, candidate)``.
"""

__version__ = "0.1.0"
