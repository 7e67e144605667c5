"""SymPy derivations of the formulas the book states, one module per topic.

``softmax``    softmax for a symbolic length n, its Jacobian ``diag(p) - p p^T``.
``attention``  Q/K/V shapes, scaled dot-product attention, variance of ``q.k``, multi-head blocks,
               masks, and the seed article's (wrong) formulas for comparison.
``residual``   the unrolled residual sum, the path expansion of its Jacobian, Post-LN / Pre-LN
               sub-layer orders, DeepNorm.
``layernorm``  LayerNorm and RMSNorm for a symbolic width n, the LayerNorm Jacobian, Table 1 of
               Ba, Kiros & Hinton (2016) recomputed.
``placements`` Peri-LN and the output norm, the Pre-LN stream's variance, the bounds that RMSNorm
               outputs and QK-norm give, DyT (and its row of Table 1), nGPT's update, Mix-LN.
``exact``      the exact equality tests they share (counterexample or proof, never a guess).

Every function returns SymPy objects (``sympy.latex`` displays them); none imports
``verified_transformer.nn``: the claims ledger ties the two together.
"""

from verified_transformer.derive import (
    attention,
    exact,
    layernorm,
    placements,
    residual,
    softmax,
)

__all__ = ["attention", "exact", "layernorm", "placements", "residual", "softmax"]
