r"""Residual connections and the sub-layer orders built on them, derived with SymPy.

* Unrolling :math:`H^{i+1} = H^i + F_i(H^i)` gives
  :math:`H^L = H^l + \sum_{i=l}^{L-1} F_i(H^i)` (He et al. 2016, *Identity Mappings*, eq. 4).
* Its Jacobian is :math:`\partial H^L/\partial H^l = \prod_{i=L-1}^{l}(I + J_i)`, which expands
  into :math:`2^{L-l}` products, one per path, among them :math:`I` (Veit et al. 2016).
* Post-LN: :math:`y = \mathrm{LN}_1(x + \mathrm{SA}(x))`, output
  :math:`\mathrm{LN}_2(y + \mathrm{FFN}(y))`; Pre-LN: :math:`y = x + \mathrm{SA}(\mathrm{LN}_1(x))`,
  output :math:`y + \mathrm{FFN}(\mathrm{LN}_2(y))` (Xiong et al. 2020). Sub-layer Jacobians:
  Pre-LN :math:`I + J_F N_{LN}`, Post-LN :math:`N_{LN}(I + J_F)`.
* DeepNorm: :math:`x_{l+1} = \mathrm{LN}(\alpha x_l + G(x_l))` (Wang et al. 2022).
* Admin: :math:`x_i = \mathrm{LN}(\omega_i \odot x_{i-1} + f_i(x_{i-1}))` (Liu et al. 2020);
  ReZero: :math:`x_{l+1} = x_l + \alpha_l F_l(x_l)` (Bachlechner et al. 2021).
* Scaled initialization: :math:`\mathrm{Var}(\sum_{i=1}^N s B_i) = N s^2` for independent
  unit-variance branches, so :math:`s = 1/\sqrt N` keeps it at 1 (Radford et al. 2019).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from verified_transformer.derive.exact import expand_sums

i, ell, L = sp.symbols("i l L", integer=True)
H = sp.IndexedBase("H")
alpha = sp.Symbol("alpha", positive=True)
N = sp.Symbol("N", integer=True, positive=True)  # number of residual branches


def branches(depth: int) -> list[sp.Function]:
    """Undefined residual branches ``F_0, ..., F_{depth-1}``."""
    return [sp.Function(f"F_{t}") for t in range(depth)]


def unrolled_states(start: sp.Expr, fs: Sequence[Callable[[Any], Any]]) -> list[sp.Expr]:
    """``[H^0, H^1, ..., H^L]`` from the recursion ``H^{i+1} = H^i + F_i(H^i)``."""
    states = [start]
    for f in fs:
        states.append(states[-1] + f(states[-1]))
    return states


def unrolled_sum(start: Any, increments: Sequence[Any]) -> Any:
    """``H^L = H^l + sum_{i=l}^{L-1} F_i(H^i)`` from the branch outputs ``F_i(H^i)``."""
    return functools.reduce(operator.add, increments, start)


def gradient_with_identity(top: Any, branches: Any, identity: Any) -> Any:
    """``dE/dH^l = dE/dH^L (I + d/dH^l sum_i F_i(H^i))`` (He et al. 2016, eq. 5).

    ``top`` is ``dE/dH^L`` (a row), ``branches`` the Jacobian of the summed branch outputs.
    """
    return top * (identity + branches)


def telescoped(lower: sp.Expr = ell, upper: sp.Expr = L) -> sp.Expr:
    """``sum_{i=l}^{L-1} (H^{i+1} - H^i)`` evaluated by SymPy: ``H^L - H^l`` for symbolic l, L."""
    return sp.Sum(H[i + 1] - H[i], (i, lower, upper - 1)).doit()


def jacobian_product(jacobians: Sequence[Any], identity: Any) -> Any:
    """``(I + J_{L-1}) ... (I + J_l)``: the last layer's factor on the left (chain rule order)."""
    product = identity
    for jac in jacobians:
        product = (identity + jac) * product
    return product


def path_products(jacobians: Sequence[sp.Symbol]) -> set[sp.Expr]:
    """The ``2^k`` path terms: for each subset of layers, their ``J_i`` multiplied, last leftmost.

    The empty subset is the identity path ``1``.
    """
    terms = set()
    for size in range(len(jacobians) + 1):
        for subset in itertools.combinations(range(len(jacobians)), size):
            terms.add(sp.Mul(*[jacobians[t] for t in reversed(subset)]))
    return terms


def noncommutative_jacobians(depth: int) -> list[sp.Symbol]:
    """Non-commuting symbols ``J_0, ..., J_{depth-1}`` standing for the branch Jacobians."""
    return list(sp.symbols(f"J_0:{depth}", commutative=False))


def noncommutative_norm_jacobians(depth: int) -> list[sp.Symbol]:
    """Non-commuting symbols ``N_0, ..., N_{depth-1}`` standing for the LayerNorm Jacobians."""
    return list(sp.symbols(f"N_0:{depth}", commutative=False))


def pre_ln_sublayer_jacobian(branch: Any, norm: Any, identity: Any) -> Any:
    """Jacobian of ``x + F(LN(x))``: ``I + J_F N_LN`` (``J_F`` at ``LN(x)``, ``N_LN`` at ``x``)."""
    return identity + branch * norm


def post_ln_sublayer_jacobian(branch: Any, norm: Any, identity: Any) -> Any:
    """Jacobian of ``LN(x + F(x))``: ``N_LN (I + J_F)`` (``J_F`` at ``x``, ``N_LN`` at
    ``x + F(x)``)."""
    return norm * (identity + branch)


def stack_jacobian(
    sublayer: Callable[[Any, Any, Any], Any],
    branches: Sequence[Any],
    norms: Sequence[Any],
    identity: Any,
) -> Any:
    """Product of ``sublayer(J_i, N_i, I)`` over the sub-layers, the last one leftmost."""
    if len(branches) != len(norms):
        raise ValueError(f"norms: expected {len(branches)} Jacobians, got {len(norms)}")
    product = identity
    for branch, norm in zip(branches, norms, strict=True):
        product = sublayer(branch, norm, identity) * product
    return product


def stack_path_terms(
    sublayer: Callable[[Any, Any, Any], Any], depth: int
) -> tuple[tuple[sp.Expr, ...], list[sp.Symbol]]:
    """The terms of the expanded product of ``depth`` sub-layer Jacobians ``sublayer(J_l, N_l,
    1)`` (non-commuting ``J_l``, ``N_l``), and the ``N_l``: one term per path through the stack."""
    js, ns = noncommutative_jacobians(depth), noncommutative_norm_jacobians(depth)
    product = stack_jacobian(sublayer, js, ns, sp.Integer(1))
    return sp.Add.make_args(sp.expand(product)), ns


# --- sub-layer orders ----------------------------------------------------------------------------


def residual_block(x: Any, f: Callable) -> Any:
    """One residual block ``y = x + F(x)`` (He et al. 2016)."""
    return x + f(x)


def block_jacobian(identity: Any, branch: Any) -> Any:
    """Jacobian of ``x + F(x)``: ``I + dF/dx``."""
    return identity + branch


def post_ln_sublayer(x: Any, f: Callable, ln: Callable) -> Any:
    """One Post-LN sub-layer: ``LN(x + F(x))`` (Vaswani et al. 2017, section 5.4 / 3.1)."""
    return ln(x + f(x))


def pre_ln_sublayer(x: Any, f: Callable, ln: Callable) -> Any:
    """One Pre-LN sub-layer: ``x + F(LN(x))``."""
    return x + f(ln(x))


def post_ln(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    """Post-LN encoder layer: ``y = LN1(x + SA(x))``, output ``LN2(y + FFN(y))``."""
    y = ln1(x + sa(x))
    return ln2(y + ffn(y))


def pre_ln(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    """Pre-LN encoder layer: ``y = x + SA(LN1(x))``, output ``y + FFN(LN2(y))``."""
    y = x + sa(ln1(x))
    return y + ffn(ln2(y))


def deep_norm(x: Any, g: Callable, scale: Any, ln: Callable) -> Any:
    """DeepNorm sub-layer: ``LN(alpha x + G(x))``; ``alpha = 1`` is the Post-LN sub-layer."""
    return ln(scale * x + g(x))


def deep_norm_rescaled(x: Any, g: Callable, scale: Any, ln: Callable) -> Any:
    """The same sub-layer with the weight moved to the branch: ``LN(x + G(x) / alpha)`` (equal to
    :func:`deep_norm` when LN has no epsilon: LN is scale invariant)."""
    return ln(x + g(x) / scale)


def hadamard(weights: Any, values: Any) -> Any:
    """``weights (.) values``: entrywise for two SymPy matrices, ``*`` otherwise (scalars,
    tensors)."""
    if isinstance(weights, sp.MatrixBase) and isinstance(values, sp.MatrixBase):
        return weights.multiply_elementwise(values)
    return weights * values


def admin(x: Any, f: Callable, omega: Any, ln: Callable) -> Any:
    """Admin sub-layer (Liu et al. 2020): ``LN(omega (.) x + f(x))``; ``omega = 1`` is Post-LN."""
    return ln(hadamard(omega, x) + f(x))


def rezero(x: Any, f: Callable, scale: Any) -> Any:
    """ReZero layer (Bachlechner et al. 2021): ``x + alpha F(x)``, ``alpha = 0`` at init."""
    return x + scale * f(x)


def residual_scale(count: Any) -> Any:
    """GPT-2's factor on each of ``N`` residual branches at initialization: ``1/sqrt(N)``."""
    return 1 / sp.sqrt(count)


def sum_variance(scale: sp.Expr, count: sp.Expr = N) -> sp.Expr:
    """``Var(sum_{i=1}^N s B_i) = sum_i sum_j s^2 Cov(B_i, B_j)`` with ``Cov(B_i, B_j) = delta_ij``
    (independent branches of unit variance), the double sum done by SymPy: ``N s^2``."""
    j = sp.Symbol("j", integer=True, positive=True)
    covariance = sp.KroneckerDelta(i, j)
    inner = expand_sums(sp.Sum(scale**2 * covariance, (j, 1, count)))  # over j: s^2
    return expand_sums(sp.Sum(inner, (i, 1, count)))


def article_concat(h: sp.MatrixBase, f: sp.MatrixBase) -> sp.MatrixBase:
    """The seed article's second equation ``H^l = F(H^{l-1}) (+) H^{l-1}`` read as concatenation."""
    return sp.BlockMatrix([[f, h]])


def residual_add(h: Any, f: Any) -> Any:
    """``H^l = H^{l-1} + F(H^{l-1})``."""
    return h + f
