"""The book order of the claims ledger, stated once (a test checks it against the claims).

A new claim is registered in two places: its topic module's ``CLAIMS`` (the module listed in
``claims/__init__.py``'s ``MODULES``) and here, at the place where the book states it.
"""

from __future__ import annotations

BOOK_ORDER: tuple[str, ...] = (
    # chapter 4.1: attention
    "attention.qkv_projections",
    "attention.dot_product_variance",
    "attention.scaled_variance",
    "softmax.definition",
    "derivation.softmax_from_properties",
    "softmax.sums_to_one",
    "softmax.shift_invariance",
    "softmax.jacobian",
    "derivation.softmax_jacobian",
    "attention.scaled_dot_product_definition",
    "attention.multihead_concat",
    "attention.permutation_equivariance",
    "attention.mask_renormalizes",
    "attention.causal_mask",
    # chapter 4.2: residual connections
    "residual.block",
    "residual.unrolled_sum",
    "derivation.telescoping",
    "residual.jacobian_paths",
    "residual.gradient_identity_term",
    # chapter 4.3: layer normalization
    "layernorm.definition",
    "layernorm.unbiased_ratio",
    "layernorm.moments",
    "layernorm.shift_invariance",
    "layernorm.scale_invariance",
    "layernorm.scale_with_eps",
    "layernorm.jacobian",
    "derivation.layernorm_jacobian",
    "layernorm.jacobian_nullspace",
    "layernorm.jacobian_spectrum",
    "derivation.layernorm_spectrum",
    "layernorm.invariance_table",
    "rmsnorm.definition",
    "rmsnorm.scale_invariance",
    "rmsnorm.equals_layernorm_when_centered",
    "scalenorm.is_scaled_rmsnorm",
    # chapter 4.2 and 8: Post-LN, Pre-LN and their successors
    "postln.definition",
    "preln.definition",
    "preln.identity_path",
    "postln.no_identity_path",
    "residual.scaled_init",
    "admin.residual",
    "deepnorm.residual",
    "rezero.identity_at_init",
    # chapter 6 and 8: placements of 2020-2026
    "periln.definition",
    "outputnorm.definition",
    "preln.stream_variance_growth",
    "periln.increment_bound",
    "qknorm.logit_bound",
    "dyt.definition",
    "dyt.invariance_row",
    "ngpt.update",
    "mixln.layout",
    # the seed article's formulas, refuted
    "seed.qkv_circular",
    "seed.scale_outside_exp",
    "derivation.scale_cancels",
    "seed.double_softmax",
    "seed.residual_concat",
    "seed.ffn_shape",
    "derivation.affine_collapse",
    # chapter 6b: positions, and training the date translator
    "positions.sinusoidal_shift",
    "positions.sinusoidal_dot",
    "positions.rope_relative",
    "positions.break_permutation_equivariance",
    "training.warmup_peak",
    "training.label_smoothing",
)
