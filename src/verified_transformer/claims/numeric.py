"""Float64 helpers for the numeric checks: both implementations, seeded tensors, comparisons,
seeded modules (``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``) loaded with torch's own
weights, and the six transformations of Ba et al.'s Table 1 applied to seeded data.

Every numeric check runs twice: once against our ``verified_transformer.nn`` with the explicit
formulas switched on (``fused_kernels(False)``, so no torch namesake is called) and once against
``torch.nn`` / ``torch.nn.functional`` themselves.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import sympy as sp
import torch

from verified_transformer.claims.fixtures import D_FF, D_MODEL, HEADS
from verified_transformer.derive import attention as at

DTYPE = torch.float64
ATOL = 1e-10
RTOL = 1e-9

Check = Callable[[ModuleType, ModuleType], bool]  # (functional module, nn module) -> holds


class Mismatch(AssertionError):
    """A numeric check failed; the message names the implementation."""


def for_each_implementation(check: Check) -> bool:
    """``check(F, nn)`` for our explicit formulas and for PyTorch's own kernels: True when both
    hold; else :class:`Mismatch` naming the ones that do not."""
    import torch.nn.functional

    import verified_transformer.nn as ours

    with ours.fused_kernels(False):
        ours_holds = bool(check(ours.functional, ours))
    failed = [name for name, ok in (("verified_transformer.nn (explicit formulas)", ours_holds),
                                    ("torch.nn", check(torch.nn.functional, torch.nn))) if not ok]
    if failed:
        raise Mismatch(f"the candidate formula disagrees with {' and '.join(failed)}")
    return True


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    """Standard normal float64 tensor from a private generator (the global RNG is untouched)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Cast ``module`` to float64, fill every parameter with seeded normals / 2, set eval mode."""
    module = module.to(DTYPE)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=DTYPE) / 2)
    return module.eval()


def twin(ours: torch.nn.Module, theirs: torch.nn.Module) -> torch.nn.Module:
    """Load ``ours``'s state_dict into ``theirs`` (float64, eval mode) and return it."""
    theirs = theirs.to(DTYPE)
    theirs.load_state_dict(ours.state_dict())
    return theirs.eval()


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    """Same shape and equal to float64 rounding."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=RTOL, atol=atol)


def to_sympy(t: torch.Tensor) -> sp.ImmutableMatrix:
    """A 1-D or 2-D tensor as a SymPy matrix of Floats (a column for 1-D)."""
    rows = t.tolist() if t.dim() == 2 else [[v] for v in t.tolist()]
    return sp.ImmutableMatrix([[sp.Float(v, 20) for v in row] for row in rows])


def to_tensor(values: sp.MatrixBase | Sequence) -> torch.Tensor:
    """A SymPy matrix (or nested list) of numbers as a float64 tensor."""
    if isinstance(values, sp.MatrixBase):
        values = values.tolist()
    return torch.tensor([[float(v) for v in row] for row in values], dtype=DTYPE)


_SUM_LAST, _DELTA, _ENTRY = (sp.Function(f) for f in ("sum_last", "delta_", "entry_"))


def _tensor(value: object) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=DTYPE)


def entry_function(
    expr: sp.Expr, index: sp.Symbol, size: sp.Symbol, bases: Sequence[sp.IndexedBase],
    scalars: Sequence[sp.Symbol] = (),
) -> Callable[..., torch.Tensor]:
    """``expr``, the entry ``index`` of a formula over a symbolic width ``size`` (sums over
    ``k = 1..size`` of ``base[k]``), as a function ``f(*tensors, *scalars)`` applied along the
    last dimension: ``base[index]`` and ``base[k]`` become the tensor, each sum a sum over that
    dimension (kept for broadcasting), ``size`` the dimension's length."""
    vectors = [sp.Symbol(f"_{b.label}") for b in bases]
    width = sp.Symbol("_width")

    def vectorize(e: sp.Expr, dummy: sp.Symbol) -> sp.Expr:
        e = e.xreplace({b[dummy]: v for b, v in zip(bases, vectors, strict=True)})
        return e.replace(  # a fixed entry (x_1): that column, kept for broadcasting
            lambda a: isinstance(a, sp.Indexed) and a.base in bases and a.indices[0].is_Integer,
            lambda a: _ENTRY(vectors[bases.index(a.base)], a.indices[0]))

    def lower(s: sp.Sum) -> sp.Expr:
        (dummy, low, high), = s.limits
        if low != 1 or high != size:
            raise ValueError(f"expr: sums must run over 1..{size}, got {s.limits}")
        return _SUM_LAST(vectorize(s.function, dummy))

    flat = vectorize(expr.replace(lambda e: isinstance(e, sp.Sum), lower), index)
    position = sp.Symbol("_position")  # the index where it is not a subscript (delta_{i1})
    flat = flat.xreplace({size: width, index: position}).replace(sp.KroneckerDelta, _DELTA)
    compiled = sp.lambdify(
        [*vectors, *scalars, width, position], flat,
        modules=[{"sum_last": lambda t: t.sum(-1, keepdim=True),
                  "sqrt": lambda v: torch.sqrt(_tensor(v)),
                  **{f: lambda v, f=f: getattr(torch, f)(_tensor(v)) for f in ("tanh", "exp")},
                  "delta_": lambda a, b: _tensor(a == b).to(DTYPE),
                  "entry_": lambda t, k: t[..., int(k) - 1 : int(k)]}, "math"],
    )

    def function(*args: object) -> torch.Tensor:
        tensors = args[: len(bases)]
        width_ = tensors[0].shape[-1]
        result = compiled(*args, width_, torch.arange(1, width_ + 1, dtype=DTYPE))
        return torch.broadcast_to(torch.as_tensor(result, dtype=tensors[0].dtype),
                                  tensors[0].shape)

    return function


# --- the generic comparison of a claim's chains with each implementation ------------------------

Operators = dict  # operator class (derive.operators.EntryOf) -> f(vector tensor, *params) -> tensor


@dataclass(frozen=True)
class Reference:
    """Where a claim's chains are evaluated: the tensors of the inputs (``{x: rows}``, entries
    along the last dimension; ``{X: matrix}`` for a ``MatrixSymbol``), the scalars, the free
    ``index`` (a tuple: several, e.g. ``(i, j)`` of a Jacobian) and ``size`` of entry formulas, and
    ``operators(F, nn)``, each operator's implementation in one of the two implementations (a
    function of the operator's arguments, matrices as tensors; ``Derivative(Op(x)_i, x_j)`` is
    autograd's Jacobian of it). ``chains`` picks the chains compared (the others are proved
    only); ``defines`` gives abbreviations by the implementation (``xhat_i = LN(x)_i``), and the
    claim's own where pair for each is compared as one more chain, as is each condition (a sum).
    ``realize``: each side is realized by :func:`verified_transformer.derive.residual.realize`
    with the inputs and ``operators(F, nn)`` as its values (maps, ``Jac`` by autograd), which
    give every abbreviation (the where pairs are not substituted)."""

    inputs: dict
    scalars: dict
    operators: Callable[[ModuleType, ModuleType], Operators]
    index: sp.Symbol | tuple | None = None
    size: sp.Symbol | None = None
    chains: tuple = (0, None)  # the chains compared: chains[start:stop]
    defines: tuple = ()
    realize: bool = False


def realized(e: sp.Basic, values: dict) -> torch.Tensor:
    """``e`` realized (:func:`verified_transformer.derive.residual.realize`) in float64 on
    tensors, integer values (``L: 2``) substituted first, ``Jac`` by autograd."""
    from torch.autograd.functional import jacobian

    from verified_transformer.derive import residual as rs

    backend = rs.Backend(jacobian=lambda f, at: jacobian(f, at).reshape(-1, at.numel()),
                         mul=lambda a, b: a @ b if torch.is_tensor(a) and torch.is_tensor(b)
                         else a * b, variance=lambda t: t.var(unbiased=False), number=float)
    fixed = {s: sp.Integer(v) for s, v in values.items() if isinstance(v, int)}
    return torch.as_tensor(rs.realize(sp.sympify(e).xreplace(fixed), values, backend), dtype=DTYPE)


def _matrix(e: sp.Basic, ref: Reference, operators: Operators) -> object:
    """A matrix expression as a tensor: inputs from ``ref``, operators by ``operators``, sums,
    products, transposes and Hadamard products by torch, scalars by ``ref.scalars``."""
    part = lambda a: _matrix(a, ref, operators)  # noqa: E731
    if type(e) in operators:
        return operators[type(e)](*(part(a) for a in e.args))
    if e in ref.inputs:
        return ref.inputs[e]
    if isinstance(e, sp.BlockMatrix):  # one row of blocks
        return torch.cat([part(b) for b in e.blocks], -1)
    if isinstance(e, sp.MatrixBase):
        return torch.tensor([[float(part(v)) for v in row] for row in e.tolist()], dtype=DTYPE)
    if isinstance(e, (sp.MatAdd, sp.Add)):
        return sum(part(a) for a in e.args)
    if isinstance(e, sp.MatMul):
        out = part(e.args[0])
        for a in e.args[1:]:
            b = part(a)
            both = isinstance(out, torch.Tensor) and out.ndim and isinstance(b, torch.Tensor)
            out = out @ b if both and b.ndim else out * b
        return out
    if isinstance(e, sp.Transpose):
        return part(e.arg).mT
    if isinstance(e, sp.HadamardProduct):
        return torch.prod(torch.stack([part(a) for a in e.args]), 0)
    if isinstance(e, sp.Mul):  # commutative factors (a stream x, its norm): entrywise
        return math.prod(part(a) for a in e.args)
    if isinstance(e, sp.Pow):
        return part(e.base) ** part(e.exp)
    if isinstance(e, sp.Expr) and not isinstance(e, sp.MatrixExpr):
        return float(e.xreplace(ref.scalars))
    return e  # an argument passed as it is (a mask's name, a flag)


def _lowered(expr: sp.Expr, ref: Reference, operators: Operators) -> tuple[sp.Expr, dict]:
    """``expr`` with each ``Derivative(Op(x)_a, x_b)`` and each operator entry ``Op(v)_a``
    replaced by an entry of a new input, its tensor computed by ``operators`` (the derivative by
    autograd, row by row) and added to the inputs."""
    from torch.autograd.functional import jacobian

    from verified_transformer.derive.operators import EntryOf

    inputs = dict(ref.inputs)

    def computed(node: EntryOf) -> tuple[sp.Expr, Callable, torch.Tensor]:
        v, at, *params = node.args
        values = [float(p.xreplace(ref.scalars)) for p in params]
        return at, lambda t: operators[type(node)](t, *values), _side(
            v.expr, v.variables[0], ref, operators)

    for number, node in enumerate(expr.atoms(sp.Derivative)):
        (wrt, _), = node.variable_count
        at, f, argument = computed(node.expr)
        if not argument.equal(inputs[wrt.base]):
            raise ValueError(f"expr: {node} must differentiate an operator of {wrt.base} itself")
        flat = argument.reshape(-1, argument.shape[-1])
        inputs[base := sp.IndexedBase(f"_d{number}")] = torch.stack(
            [jacobian(f, row) for row in flat]).reshape(*argument.shape, argument.shape[-1])
        expr = expr.xreplace({node: base[at, wrt.indices[0]]})
    for number, node in enumerate(expr.atoms(EntryOf)):
        at, f, argument = computed(node)
        inputs[base := sp.IndexedBase(f"_op{number}")] = f(argument)
        expr = expr.xreplace({node: base[at]})
    unknown = {a.base for a in expr.atoms(sp.Indexed)} - set(inputs)
    if unknown:  # e.g. a per-feature alpha_i where the implementation has one scalar
        raise Mismatch(f"the formula uses {', '.join(map(str, unknown))}, which no "
                       "implementation has")
    return expr, inputs


def _entries(expr: sp.Expr, ref: Reference, operators: Operators) -> torch.Tensor:
    """An entry formula in several free indices: every entry, each index in 1..n, for every
    batch row (the inputs' leading dimensions, broadcast), written out by lambdify (sums as
    loops)."""
    from verified_transformer.derive.layernorm import MatrixOf

    expr = expr.replace(lambda a: isinstance(a, MatrixOf), lambda a: a.args[0]).replace(
        lambda a: isinstance(a, sp.Subs),
        lambda a: a.expr.xreplace(dict(zip(a.variables, a.point, strict=True))))
    expr, inputs = _lowered(expr, ref, operators)
    ranks = {b: max([len(a.indices) for a in expr.atoms(sp.Indexed) if a.base == b], default=1)
             for b in inputs}
    batch = torch.broadcast_shapes(*(t.shape[: t.dim() - ranks[b]] for b, t in inputs.items()))
    width = next(iter(ref.inputs.values())).shape[-1]
    f = sp.lambdify([*inputs, *ref.index, ref.size, *ref.scalars], expr, "math")
    out = torch.empty(*batch, *[width] * len(ref.index), dtype=DTYPE)
    for row in itertools.product(*map(range, batch)):
        arrays = [np.pad(t.expand(*batch, *t.shape[t.dim() - ranks[b]:])[row].detach().numpy(),
                         [(1, 0)] * ranks[b]) for b, t in inputs.items()]
        for point in itertools.product(range(1, width + 1), repeat=len(ref.index)):
            out[(*row, *(p - 1 for p in point))] = float(
                f(*arrays, *point, width, *map(float, ref.scalars.values())))
    return out


def _side(expr: sp.Expr, index: sp.Symbol, ref: Reference, operators: Operators) -> torch.Tensor:
    """One side of a chain as a tensor: a matrix expression, or any side of a Reference without an
    ``index`` (whole tensors, e.g. a stream ``x``), by :func:`_matrix`; an entry formula with
    several free indices by :func:`_entries`; one with operator entries computed by ``operators``,
    the rest by :func:`entry_function`."""
    if ref.realize:
        return realized(expr, ref.inputs | operators)
    if isinstance(expr, (sp.MatrixExpr, sp.MatrixBase)) or ref.index is None:
        return _matrix(expr, ref, operators)
    if isinstance(index, tuple):
        return _entries(expr, ref, operators)
    expr, inputs = _lowered(expr, ref, operators)
    scalars = [s for s in ref.scalars if expr.has(s)]
    f = entry_function(expr, index, ref.size, list(inputs), scalars)
    return f(*inputs.values(), *(ref.scalars[s] for s in scalars))


def chains_agree(chains: tuple, where: tuple, ref: Reference | Sequence[Reference]) -> bool:
    """Every two neighbours of every chain agree in float64 (``where`` substituted until nothing
    changes), with the operators of our ``verified_transformer.nn`` and of torch
    (:func:`for_each_implementation`), at each reference."""
    from verified_transformer.claims.ledger import substitute

    if not isinstance(ref, Reference):
        return all(chains_agree(chains, where, r) for r in ref)
    where = () if ref.realize else where
    defined = {lhs for lhs, _ in ref.defines}
    kept = tuple(p for p in where if p[0] in defined or isinstance(p[0], sp.Sum))  # conditions
    pairs = ref.defines + tuple(p for p in where if p not in kept)

    def written(e: sp.Basic) -> sp.Basic:
        for _ in pairs:  # a pass per pair: abbreviations within abbreviations, in any order
            written_out = substitute(pairs, e)
            if written_out == e:
                break
            e = written_out
        return e

    compared = (*chains[slice(*ref.chains)], *kept)
    sides = [[written(sp.sympify(e)) for e in chain] for chain in compared]

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        operators = ref.operators(F, nn)
        return all(close(_side(a, ref.index, ref, operators), _side(b, ref.index, ref, operators))
                   for chain in sides for a, b in zip(chain, chain[1:], strict=False))

    return for_each_implementation(holds)


# --- seeded modules and data shared by several topics ------------------------------------------


def mha(nn: ModuleType, embed_dim: int, num_heads: int, seed: int = 0) -> torch.nn.Module:
    """``nn.MultiheadAttention`` (batch_first, no biases) with torch's seeded weights loaded."""
    reference = randomize(
        torch.nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True), seed
    )
    module = nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True)
    return twin(reference, module)


def weights(module: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """``W^Q, W^K, W^V, W^O`` of an attention module as right-multiplied matrices
    (``Q = X W^Q``)."""
    w_q, w_k, w_v = module.in_proj_weight.detach().chunk(3)
    return w_q.T, w_k.T, w_v.T, module.out_proj.weight.detach().T


def encoder_layer(
    nn: ModuleType, norm_first: bool, seed: int, bias: bool = True
) -> torch.nn.Module:
    """``nn.TransformerEncoderLayer`` (batch_first, eval mode) with torch's seeded weights."""
    kwargs = {"dim_feedforward": D_FF, "batch_first": True, "norm_first": norm_first, "bias": bias}
    reference = randomize(torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs), seed)
    return twin(reference, nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs))


def sublayers(layer: torch.nn.Module) -> tuple[Callable, Callable]:
    """``SA(t) = self_attn(t, t, t)`` and ``FFN(t) = linear2(activation(linear1(t)))`` (eval)."""

    def sa(t: torch.Tensor) -> torch.Tensor:
        return layer.self_attn(t, t, t, need_weights=False)[0]

    def ffn(t: torch.Tensor) -> torch.Tensor:
        return layer.linear2(layer.activation(layer.linear1(t)))

    return sa, ffn


def projections_match_attention(definitions: at.Definitions) -> bool:
    """Q, K, V from the definitions, then softmax(QK^T/sqrt(d_k))V W^O, equal one-head MHA."""
    x = randn(1, 4, 3, seed=10)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = mha(nn, 3, 1, seed=11)
        w_q, w_k, w_v, w_o = weights(module)
        values = {
            at.X: to_sympy(x[0]),
            at.W_Q: to_sympy(w_q),
            at.W_K: to_sympy(w_k),
            at.W_V: to_sympy(w_v),
        }
        try:
            resolved = at.resolve(definitions)
        except ValueError:
            return False
        q, k, v = (
            sp.Matrix(resolved[name].xreplace(values).doit()) for name in ("Q", "K", "V")
        )
        if q.shape != (4, 3) or k.shape != (4, 3) or v.shape != (4, 3):
            return False
        expected = to_tensor(at.attention(q, k, v) * to_sympy(w_o))
        out, _ = module(x, x, x, need_weights=False)
        return close(out[0], expected)

    return for_each_implementation(holds)


def invariances(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> tuple[bool, ...]:
    """Whether ``f(a, w)`` of the summed inputs ``a = xs w^T`` (6 cases, 4 inputs, 5 units, float64)
    is unchanged by each of the six transformations of Ba et al.'s Table 1, in
    ``derive.layernorm.TRANSFORMATIONS`` order."""
    from verified_transformer.derive.layernorm import TRANSFORMATIONS

    xs, w = randn(6, 4, seed=48) + 0.5, randn(5, 4, seed=49)
    delta, shift = 2.5, randn(4, seed=50)
    first = lambda m: torch.cat([delta * m[:1], m[1:]])  # noqa: E731
    moves = {"weight matrix re-scaling": (xs, delta * w), "dataset re-scaling": (delta * xs, w),
             "weight matrix re-centering": (xs, w + shift), "dataset re-centering": (xs + shift, w),
             "weight vector re-scaling": (xs, first(w)),
             "single training case re-scaling": (first(xs), w)}
    with torch.no_grad():
        return tuple(close(f(x2 @ w2.T, w2), f(xs @ w.T, w), atol=1e-9)
                     for x2, w2 in map(moves.get, TRANSFORMATIONS))
