"""Symbolic fixtures shared by the claim topic files (which never import each other): the sizes
of the residual claims' encoder layers and the check that definitions of Q, K, V reach X. No torch
here; the numeric fixtures are in :mod:`verified_transformer.claims.numeric`."""

from __future__ import annotations

import sympy as sp

from verified_transformer.derive import attention as at

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the encoder layers of the residual claims


def projections_reach_input(definitions: at.Definitions) -> bool:
    """The definitions resolve (no undefined or circular quantity) to functions of X."""
    try:
        resolved = at.resolve(definitions)
    except ValueError:
        return False
    return all(at.X in rhs.atoms(sp.MatrixSymbol) for rhs in resolved.values())


