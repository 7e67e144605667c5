r"""Checkers for the predict-then-run exercises: run the experiment, then judge the prediction.

No answer is stored: each checker runs its experiment (seeded, small, float64 where it matters;
once per session, cached), decides from the measured numbers which option is what happens, and
compares the reader's letter (or numbers) with that. The verdict prints the measured numbers.
"""

from __future__ import annotations

import functools
import math
import statistics
from typing import Any

import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from verified_transformer.exercises._engine import Choice, choose, short
from verified_transformer.experiments import (
    gradient_norms_at_init,
    position_similarity_at_init,
    softmax_saturation,
)
from verified_transformer.nn import functional as vtf


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _size(difference: float) -> str:
    """A difference for a verdict: rounding-level ones (which vary between CPUs) as a bound."""
    return "below 1e-12" if difference < 1e-12 else f"{difference:.1e}"


# Chapter 2 -------------------------------------------------------------------------------------


@functools.cache  # a pure function of fixed seeds: measured once per session
def layernorm_invariance() -> dict[str, float]:
    """Largest difference from LN(x) of LN(x + 3), LN(10 x) and LN(x / 1000), for x of 16
    standard normal features in float64, eps = 1e-5, no gain or bias."""
    x = torch.randn(16, generator=_generator(7), dtype=torch.float64)

    def ln(v: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(v, (16,), eps=1e-5)

    return {name: float((ln(v) - ln(x)).abs().max())
            for name, v in (("x + 3", x + 3), ("10 x", 10 * x), ("x / 1000", x / 1000))}


def _equal(measured: dict[str, float]) -> tuple[bool, bool, bool]:
    return tuple(measured[k] < 1e-12 for k in ("x + 3", "10 x", "x / 1000"))  # type: ignore[return-value]


LAYERNORM_INVARIANCE_CHOICES = (
    Choice("a", "all three equal LN(x) to 1e-12", lambda m: _equal(m) == (True, True, True)),
    Choice("b", "only LN(x + 3) equals LN(x): eps breaks the scale invariance, a little for 10 x "
           "and a lot for x / 1000", lambda m: _equal(m) == (True, False, False)),
    Choice("c", "LN(x + 3) and LN(10 x) equal LN(x), LN(x / 1000) does not",
           lambda m: _equal(m) == (True, True, False)),
    Choice("d", "none of them equals LN(x)", lambda m: _equal(m) == (False, False, False)),
)


def check_layernorm_invariance(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`layernorm_invariance`."""
    m = layernorm_invariance()
    explain = "Largest differences from LN(x): " + ", ".join(
        f"{k}: {_size(v)}" for k, v in m.items()) + "."
    return choose(candidate, LAYERNORM_INVARIANCE_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def token_dependence() -> dict[str, float]:
    """Change token 0 of a batch of 8 tokens (16 features each); how much do the *other*
    tokens' outputs move under LayerNorm, and under BatchNorm in training mode?"""
    g = _generator(8)
    x = torch.randn(8, 16, generator=g, dtype=torch.float64)
    y = x.clone()
    y[0] = 5 * torch.randn(16, generator=g, dtype=torch.float64) + 3
    ln = nn.LayerNorm(16, dtype=torch.float64)
    bn = nn.BatchNorm1d(16, dtype=torch.float64).train()
    with torch.no_grad():
        moved_ln = float((ln(y)[1:] - ln(x)[1:]).abs().max())
        moved_bn = float((bn(y)[1:] - bn(x)[1:]).abs().max())
    return {"LayerNorm": moved_ln, "BatchNorm": moved_bn}


def _moved(m: dict[str, float]) -> tuple[bool, bool]:
    return m["LayerNorm"] > 1e-12, m["BatchNorm"] > 1e-12


TOKEN_DEPENDENCE_CHOICES = (
    Choice("a", "neither moves the other tokens", lambda m: _moved(m) == (False, False)),
    Choice("b", "only LayerNorm moves the other tokens", lambda m: _moved(m) == (True, False)),
    Choice("c", "only BatchNorm moves the other tokens: its mean and variance are taken over "
           "the batch, LayerNorm's over each token's own features",
           lambda m: _moved(m) == (False, True)),
    Choice("d", "both move the other tokens", lambda m: _moved(m) == (True, True)),
)


def check_token_dependence(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`token_dependence`."""
    m = token_dependence()
    explain = (f"Largest change of another token's output: LayerNorm {_size(m['LayerNorm'])}, "
               f"BatchNorm {_size(m['BatchNorm'])}.")
    return choose(candidate, TOKEN_DEPENDENCE_CHOICES, m, explain)


# Chapter 3 -------------------------------------------------------------------------------------


@functools.cache  # a pure function of fixed seeds: measured once per session
def mha_parameter_counts() -> tuple[int, int]:
    """Parameters of ``nn.MultiheadAttention(512, 8)`` and ``nn.MultiheadAttention(512, 16)``."""
    with torch.random.fork_rng(devices=[]):
        return tuple(  # type: ignore[return-value]
            sum(p.numel() for p in nn.MultiheadAttention(512, h).parameters()) for h in (8, 16)
        )


def check_mha_parameters(candidate: Any) -> str:
    """Verdict on the predicted pair of parameter counts (8 heads, 16 heads)."""
    counts = mha_parameter_counts()
    if (not isinstance(candidate, tuple) or len(candidate) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in candidate)):
        return ("Cannot check: answer with a tuple of two ints (8 heads, 16 heads), "
                f"got {short(candidate)}.")
    explain = (f"Counted: {counts[0]:,} and {counts[1]:,}: W^Q, W^K, W^V and W^O are 512 x 512 "
               "each, plus 4 x 512 biases, whatever the number of heads.")
    if tuple(candidate) == counts:
        return "Correct. " + explain
    return f"Not what happens: you predicted {candidate[0]:,} and {candidate[1]:,}. " + explain


# Chapter 4 -------------------------------------------------------------------------------------


@functools.cache  # a pure function of fixed seeds: measured once per session
def residual_path_counts(layers: int = 6) -> tuple[int, int]:
    r"""Expand :math:`\prod_{i}(I + J_i)` over ``layers`` factors (non-commuting symbols) and count
    the terms, and the terms that are a product of exactly two :math:`J`'s."""
    js = sp.symbols(f"J0:{layers}", commutative=False)
    product = sp.expand(sp.Mul(*[1 + j for j in reversed(js)]))  # I is the number 1: I J = J
    terms = sp.Add.make_args(product)
    two = [t for t in terms if sum(1 for f in sp.Mul.make_args(t) if f in js) == 2]
    return len(terms), len(two)


def check_residual_paths(candidate: Any) -> str:
    """Verdict on the predicted pair (number of terms, number of terms with two J's)."""
    total, two = residual_path_counts()
    if (not isinstance(candidate, tuple) or len(candidate) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in candidate)):
        return ("Cannot check: answer with a tuple of two ints (all terms, terms with two J's), "
                f"got {short(candidate)}.")
    explain = (f"SymPy's expansion of the product of 6 factors (I + J_i) has {total} terms, "
               f"{two} of them products of exactly two J's (one term per subset of the layers).")
    if tuple(candidate) == (total, two):
        return "Correct. " + explain
    return f"Not what happens: you predicted {candidate[0]} and {candidate[1]}. " + explain


# Chapter 5 -------------------------------------------------------------------------------------


@functools.cache  # a pure function of fixed seeds: measured once per session
def float_mask_effect() -> dict[str, float]:
    """Add the 0/1 float mask ``ones(L, L).triu(1)`` to the scores of attention, as an
    ``attn_mask``: the smallest weight on a future key, and by how much the ratio of a future
    weight to a past weight changes (a factor e would mean: +1 added to the future scores)."""
    g = _generator(9)
    q, k, v = (torch.randn(1, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.ones(5, 5, dtype=torch.float64).triu(1)
    try:
        _ = vtf.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    except Exception:  # noqa: BLE001 (any rejection counts as "an error")
        return {"error": 1.0}
    scores = q @ k.transpose(-2, -1) / 2.0
    plain, masked = torch.softmax(scores, -1)[0], torch.softmax(scores + mask, -1)[0]
    future = mask.bool()
    past = ~future
    ratio = (masked / plain)
    factor = float(ratio[0, 1:].mean() / ratio[0, 0])  # row 0: key 0 is past, keys 1.. future
    return {"error": 0.0, "min_future": float(masked[future].min()),
            "min_past": float(masked[past].min()), "factor": factor}


FLOAT_MASK_CHOICES = (
    Choice("a", "the future keys get weight 0: the mask blocks them",
           lambda m: not m["error"] and m["min_future"] == 0.0),
    Choice("b", "nothing is blocked: 1 is added to every future score, so a future key's weight "
           "grows by a factor e relative to a past key's, before renormalization",
           lambda m: not m["error"] and m["min_future"] > 0
           and math.isclose(m["factor"], math.e, rel_tol=1e-9)),
    Choice("c", "the past keys get weight 0", lambda m: not m["error"] and m["min_past"] == 0.0),
    Choice("d", "it raises an error", lambda m: bool(m["error"])),
)


def check_float_mask(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`float_mask_effect`."""
    m = float_mask_effect()
    explain = ("The call raised an error." if m["error"] else
               f"Smallest weight on a future key: {m['min_future']:.3f}; a future key's weight "
               f"relative to a past key's grew by a factor {m['factor']:.4f} (e = {math.e:.4f}).")
    return choose(candidate, FLOAT_MASK_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def bool_mask_conventions() -> dict[str, bool]:
    """Pass the same bool mask ``ones(L, L).triu(1)`` to ``nn.MultiheadAttention`` and to
    ``F.scaled_dot_product_attention``; which of the two then computes causal attention?"""
    g = _generator(10)
    length, d = 5, 8
    x = torch.randn(1, length, d, generator=g, dtype=torch.float64)
    mask = torch.ones(length, length, dtype=torch.bool).triu(1)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mha = nn.MultiheadAttention(d, 2, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():
        mha_bool = mha(x, x, x, attn_mask=mask, need_weights=False)[0]
        mha_causal = mha(x, x, x, attn_mask=causal, need_weights=False)[0]
    sdpa_bool = F.scaled_dot_product_attention(x, x, x, attn_mask=mask)
    sdpa_causal = F.scaled_dot_product_attention(x, x, x, is_causal=True)
    return {
        "MultiheadAttention": bool(torch.allclose(mha_bool, mha_causal, atol=1e-12)),
        "scaled_dot_product_attention": bool(torch.allclose(sdpa_bool, sdpa_causal, atol=1e-12,
                                                            equal_nan=True)),
    }


def _causal(m: dict[str, bool]) -> tuple[bool, bool]:
    return m["MultiheadAttention"], m["scaled_dot_product_attention"]


BOOL_MASK_CHOICES = (
    Choice("a", "both compute causal attention", lambda m: _causal(m) == (True, True)),
    Choice("b", "only nn.MultiheadAttention does (True = may NOT attend); for "
           "F.scaled_dot_product_attention True means may attend, so it attends to the future",
           lambda m: _causal(m) == (True, False)),
    Choice("c", "only F.scaled_dot_product_attention does", lambda m: _causal(m) == (False, True)),
    Choice("d", "neither does", lambda m: _causal(m) == (False, False)),
)


def check_bool_mask(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`bool_mask_conventions`."""
    m = bool_mask_conventions()
    explain = ("Compared with the causal result: nn.MultiheadAttention "
               f"{'equal' if m['MultiheadAttention'] else 'different'}, "
               "F.scaled_dot_product_attention "
               f"{'equal' if m['scaled_dot_product_attention'] else 'different'}.")
    return choose(candidate, BOOL_MASK_CHOICES, m, explain)


# Chapter 6 -------------------------------------------------------------------------------------

DEPTHS = (2, 4, 8, 16)


@functools.cache  # a pure function of fixed seeds: measured once per session
def last_layer_gradient_by_depth() -> dict[str, list[float]]:
    r"""Mean over seeds 0-2 of :math:`\lVert \partial\mathcal L / \partial W^{2,L} \rVert_F`
    (the last layer's second feed-forward weight) at initialization, for stacks of
    :data:`DEPTHS` layers, Post-LN and Pre-LN (:func:`gradient_norms_at_init`)."""
    return {
        arm: [statistics.fmean(gradient_norms_at_init(norm_first, depth, seed=s)[-1]
                               for s in range(3)) for depth in DEPTHS]
        for arm, norm_first in (("Post-LN", False), ("Pre-LN", True))
    }


def _trend(values: list[float]) -> str:
    ratio = values[-1] / values[0]
    return "grows" if ratio > 1.5 else "shrinks" if ratio < 1 / 1.5 else "constant"


def _trends(m: dict[str, list[float]]) -> tuple[str, str]:
    return _trend(m["Post-LN"]), _trend(m["Pre-LN"])


GRADIENT_DEPTH_CHOICES = (
    Choice("a", "under both it shrinks with depth",
           lambda m: _trends(m) == ("shrinks", "shrinks")),
    Choice("b", "under Post-LN it grows with depth; under Pre-LN it stays about the same",
           lambda m: _trends(m) == ("grows", "constant")),
    Choice("c", "under Post-LN it stays about the same; under Pre-LN it shrinks with depth "
           "(Xiong et al.'s bound: O(d sqrt(ln d)) against O(d sqrt(ln d / L)))",
           lambda m: _trends(m) == ("constant", "shrinks")),
    Choice("d", "something else",
           lambda m: _trends(m) not in {("constant", "shrinks"), ("shrinks", "shrinks"),
                                        ("grows", "constant")}),
)


def check_gradient_depth(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`last_layer_gradient_by_depth`."""
    m = last_layer_gradient_by_depth()
    explain = "Measured for " + ", ".join(f"L = {d}" for d in DEPTHS) + ": " + "; ".join(
        f"{arm} " + ", ".join(f"{v:.2f}" for v in values) for arm, values in m.items()) + "."
    return choose(candidate, GRADIENT_DEPTH_CHOICES, m, explain)


SATURATION_DKS = (4, 64, 1024)


@functools.cache  # a pure function of fixed seeds: measured once per session
def saturation_by_dk() -> dict[str, list[float]]:
    """Mean largest softmax weight over 16 keys as :math:`d_k` grows, with and without the
    :math:`1/\\sqrt{d_k}` scale (:func:`softmax_saturation`, seed 0)."""
    return {
        arm: softmax_saturation(SATURATION_DKS, scaled=scaled, seed=0)["max_weight"]
        for arm, scaled in (("unscaled", False), ("scaled", True))
    }


def _saturates(values: list[float]) -> str:
    if values[-1] > 0.9:
        return "saturates"
    return "steady" if abs(values[-1] - values[0]) < 0.1 else "other"


SATURATION_CHOICES = (
    Choice("a", "both saturate", lambda m: (_saturates(m["unscaled"]), _saturates(m["scaled"]))
           == ("saturates", "saturates")),
    Choice("b", "without the scale the largest weight approaches 1 (softmax saturates, one key "
           "takes everything); with it the weights look the same for every d_k",
           lambda m: (_saturates(m["unscaled"]), _saturates(m["scaled"]))
           == ("saturates", "steady")),
    Choice("c", "neither changes with d_k",
           lambda m: (_saturates(m["unscaled"]), _saturates(m["scaled"])) == ("steady", "steady")),
    Choice("d", "something else",
           lambda m: (_saturates(m["unscaled"]), _saturates(m["scaled"])) not in {
               ("saturates", "steady"), ("saturates", "saturates"), ("steady", "steady")}),
)


def check_saturation(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`saturation_by_dk`."""
    m = saturation_by_dk()
    explain = "Mean largest weight for d_k = " + ", ".join(map(str, SATURATION_DKS)) + ": " + \
        "; ".join(f"{arm} " + ", ".join(f"{v:.2f}" for v in values)
                  for arm, values in m.items()) + " (uniform would be 0.06)."
    return choose(candidate, SATURATION_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def positions_at_init(num_layers: int = 8) -> dict[str, float]:
    """Mean cosine similarity between the representations of different positions after
    ``num_layers`` untrained Post-LN layers, without and with residual connections
    (:func:`position_similarity_at_init`, seed 0)."""
    return {arm: position_similarity_at_init(num_layers, residual=residual, seed=0)
            for arm, residual in (("plain", False), ("residual", True))}


def _alike(value: float) -> bool:
    return value > 0.99


POSITION_CHOICES = (
    Choice("a", "both keep the positions distinguishable",
           lambda m: not _alike(m["plain"]) and not _alike(m["residual"])),
    Choice("b", "both collapse the positions to nearly the same vector",
           lambda m: _alike(m["plain"]) and _alike(m["residual"])),
    Choice("c", "only the residual stack collapses them",
           lambda m: not _alike(m["plain"]) and _alike(m["residual"])),
    Choice("d", "without residuals every position ends up with nearly the same vector "
           "(similarity near 1); with them the positions stay distinguishable",
           lambda m: _alike(m["plain"]) and not _alike(m["residual"])),
)


def check_positions_at_init(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`positions_at_init`."""
    m = positions_at_init()
    explain = (f"Mean cosine similarity between positions after 8 layers: plain "
               f"{m['plain']:.3f}, residual {m['residual']:.2f}.")
    return choose(candidate, POSITION_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def scale_outside_exp() -> dict[str, float]:
    """The article's :math:`A = \\exp(q^\\top k)/\\sqrt{d_k}`, normalized over the keys, against
    :math:`\\mathrm{softmax}(s)` and :math:`\\mathrm{softmax}(s / \\sqrt{d_k})` of the same
    scores :math:`s` (64 queries, 16 keys, :math:`d_k = 64`, float64): largest differences."""
    g = _generator(11)
    d_k = 64
    q = torch.randn(64, d_k, generator=g, dtype=torch.float64)
    k = torch.randn(16, d_k, generator=g, dtype=torch.float64)
    s = q @ k.T
    a = torch.exp(s - s.amax(-1, keepdim=True)) / math.sqrt(d_k)  # the shift cancels too
    article = a / a.sum(-1, keepdim=True)
    return {
        "unscaled": float((article - torch.softmax(s, -1)).abs().max()),
        "scaled": float((article - torch.softmax(s / math.sqrt(d_k), -1)).abs().max()),
    }


def _matches(m: dict[str, float]) -> tuple[bool, bool]:
    return m["unscaled"] < 1e-12, m["scaled"] < 1e-12


SCALE_OUTSIDE_CHOICES = (
    Choice("a", "it equals softmax(s / sqrt(d_k)): where the scale sits does not matter",
           lambda m: _matches(m) == (False, True)),
    Choice("b", "it equals softmax(s), the unscaled softmax: a constant factor outside the "
           "exponential cancels in the normalization, so the scale does nothing",
           lambda m: _matches(m) == (True, False)),
    Choice("c", "it equals neither", lambda m: _matches(m) == (False, False)),
    Choice("d", "it equals both", lambda m: _matches(m) == (True, True)),
)


def check_scale_outside_exp(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`scale_outside_exp`."""
    m = scale_outside_exp()
    explain = (f"Largest difference from softmax(s): {_size(m['unscaled'])}; from "
               f"softmax(s / sqrt(d_k)): {_size(m['scaled'])}.")
    return choose(candidate, SCALE_OUTSIDE_CHOICES, m, explain)
