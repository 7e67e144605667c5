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

from verified_transformer.exercises._engine import Choice, choose, predicted
from verified_transformer.experiments import position_similarity_at_init
from verified_transformer.experiments.gradients import gradient_norms_at_init
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
    Choice("a", "all three equal LN(x) to 1e-12", lambda m: _equal(m) == (True, True, True),
           "LayerNorm would be exactly scale invariant only without epsilon: ask what epsilon "
           "does next to a variance that is multiplied by 100, or divided by a million"),
    Choice("b", "only LN(x + 3) equals LN(x): eps breaks the scale invariance, a little for 10 x "
           "and a lot for x / 1000", lambda m: _equal(m) == (True, False, False),
           "the shift is removed exactly with the mean; weigh again how much epsilon matters "
           "against a variance of about 100"),
    Choice("c", "LN(x + 3) and LN(10 x) equal LN(x), LN(x / 1000) does not",
           lambda m: _equal(m) == (True, True, False),
           "a tolerance of 1e-12 is strict: compute how much the effective epsilon changes "
           "the output when the variance grows a hundredfold"),
    Choice("d", "none of them equals LN(x)", lambda m: _equal(m) == (False, False, False),
           "subtracting the mean removes any constant added to every feature, exactly"),
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
    Choice("a", "neither moves the other tokens", lambda m: _moved(m) == (False, False),
           "ask for each normalization over which entries its mean and variance are taken"),
    Choice("b", "only LayerNorm moves the other tokens", lambda m: _moved(m) == (True, False),
           "LayerNorm's mean and variance are taken over one token's own features"),
    Choice("c", "only BatchNorm moves the other tokens: its mean and variance are taken over "
           "the batch, LayerNorm's over each token's own features",
           lambda m: _moved(m) == (False, True),
           "ask for each normalization over which entries its mean and variance are taken"),
    Choice("d", "both move the other tokens", lambda m: _moved(m) == (True, True),
           "LayerNorm's mean and variance are taken over one token's own features"),
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
    explain = (f"Counted: {counts[0]:,} and {counts[1]:,}: W^Q, W^K, W^V and W^O are 512 x 512 "
               "each, plus 4 x 512 biases, whatever the number of heads.")
    mistakes = {
        "the count should not depend on the number of heads: the heads cut the same 512 "
        "projected features into pieces, they do not add weights": lambda c: c[0] != c[1],
        "a head does not have its own 512 x 512 matrices: all heads together project 512 "
        "features to 512": lambda c: c[0] == 8 * 3 * 512 * 512 + 512 * 512 or c[0] > 4 * 10**6,
        "the biases count too (one vector of 512 per projection)":
            lambda c: c[0] == 4 * 512 * 512,
        "there are four projections: queries, keys, values and the output":
            lambda c: c[0] in (3 * 512 * 512, 3 * 512 * 512 + 3 * 512),
    }
    return predicted(candidate, counts, mistakes, "a tuple of two ints (8 heads, 16 heads)",
                     explain, ("the count for 8 heads", "the count for 16 heads"))


@functools.cache  # a pure function of fixed seeds: counted once per session
def layer_parameter_counts() -> tuple[int, int]:
    """Parameters of ``nn.TransformerEncoderLayer(512, 8)`` and
    ``nn.TransformerDecoderLayer(512, 8)`` (``dim_feedforward=2048``, the base model's sizes)."""
    with torch.random.fork_rng(devices=[]):
        return tuple(  # type: ignore[return-value]
            sum(p.numel() for p in kind(512, 8, dim_feedforward=2048).parameters())
            for kind in (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer))


def check_decoder_parameters(candidate: Any) -> str:
    """Verdict on the predicted pair of parameter counts (encoder layer, decoder layer)."""
    encoder, decoder = layer_parameter_counts()
    attention = 4 * 512 * 512 + 4 * 512
    explain = (f"Counted: encoder layer {encoder:,}, decoder layer {decoder:,}. The decoder adds "
               f"a cross-attention block ({attention:,}, the same size as self-attention) and a "
               "third LayerNorm (1,024).")
    mistakes = {
        "the decoder layer has a sub-layer the encoder layer lacks: cross-attention to the "
        "encoder's output, with its own projections": lambda c: c[1] == c[0],
        "each sub-layer has its own LayerNorm, with a gain and a bias of 512 each":
            lambda c: c[1] - c[0] == attention or c[0] == encoder - 2048,
        "the biases count too: every linear map has one":
            lambda c: c[0] in (4 * 512 * 512 + 2 * 512 * 2048,
                               4 * 512 * 512 + 2 * 512 * 2048 + 2048),
        "the feed-forward network has two weight matrices, 512 x 2048 and 2048 x 512":
            lambda c: c[0] in (encoder - 2048 * 512 - 512, encoder - 2048 * 512 - 2048),
        "the number of heads adds no parameters (the heads share the 512 x 512 projections)":
            lambda c: c[0] > 2 * encoder,
    }
    return predicted(candidate, (encoder, decoder), mistakes,
                     "a tuple of two ints (encoder layer, decoder layer)", explain,
                     ("the encoder layer's count", "the decoder layer's count"))


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
    explain = (f"SymPy's expansion of the product of 6 factors (I + J_i) has {total} terms, "
               f"{two} of them products of exactly two J's (one term per subset of the layers).")
    mistakes = {
        "each factor (I + J_i) doubles the number of terms: the paths are not one per layer "
        "(that is the plain stack's count, or a sum instead of a product)":
            lambda c: c[0] in (6, 7, 12, 13),
        "a product of two J's picks an unordered pair of layers (the order is fixed by the "
        "stack), so count pairs, not ordered pairs": lambda c: c[1] == 30,
        "the total counts every subset of the 6 layers, the empty one (the identity path) "
        "included": lambda c: c[0] == 63,
    }
    return predicted(candidate, (total, two), mistakes,
                     "a tuple of two ints (all terms, terms with two J's)", explain,
                     ("the number of all terms", "the number of terms with two J's"))


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
           lambda m: not m["error"] and m["min_future"] == 0.0,
           "a float mask is added to the scores, and e to the power (score + 1) is not 0"),
    Choice("b", "nothing is blocked: 1 is added to every future score, so a future key's weight "
           "grows by a factor e relative to a past key's, before renormalization",
           lambda m: not m["error"] and m["min_future"] > 0
           and math.isclose(m["factor"], math.e, rel_tol=1e-9),
           "ask what adding a float mask to the scores does to e to the power of a score"),
    Choice("c", "the past keys get weight 0", lambda m: not m["error"] and m["min_past"] == 0.0,
           "the past keys have mask entry 0, and adding 0 to a score changes nothing"),
    Choice("d", "it raises an error", lambda m: bool(m["error"]),
           "a float mask of the right shape and dtype is valid input: any float values are "
           "accepted and added to the scores"),
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
    Choice("a", "both compute causal attention", lambda m: _causal(m) == (True, True),
           "the two functions do not read True the same way: look up what True means for each"),
    Choice("b", "only nn.MultiheadAttention does (True = may NOT attend); for "
           "F.scaled_dot_product_attention True means may attend, so it attends to the future",
           lambda m: _causal(m) == (True, False),
           "look up again what True means for each of the two functions"),
    Choice("c", "only F.scaled_dot_product_attention does", lambda m: _causal(m) == (False, True),
           "for F.scaled_dot_product_attention True means may attend: this mask keeps the "
           "future there"),
    Choice("d", "neither does", lambda m: _causal(m) == (False, False),
           "for nn.MultiheadAttention True means may NOT attend: this mask blocks the future "
           "there"),
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


def scaled_pre_ln_gradients(num_layers: int, seed: int) -> list[float]:
    r""":func:`gradient_norms_at_init` of a Pre-LN stack (its defaults: 64 features, 1,024
    classes, Theorem 1's initialization), with the two weights of each layer that write into the
    residual stream multiplied by :math:`1/\sqrt{2L}`, GPT-2's scaled initialization for
    :math:`2L` branches."""
    return gradient_norms_at_init(True, num_layers, seed=seed,
                                  branch_scale=(2 * num_layers) ** -0.5)


@functools.cache  # a pure function of fixed seeds: measured once per session
def last_layer_gradient_by_depth() -> list[float]:
    r"""Mean over seeds 0-2 of the last layer's :math:`\lVert \partial\mathcal L / \partial
    W^{2,L} \rVert_F` in :func:`scaled_pre_ln_gradients`, for stacks of :data:`DEPTHS`
    layers."""
    return [statistics.fmean(scaled_pre_ln_gradients(depth, s)[-1] for s in range(3))
            for depth in DEPTHS]


def _depth_ratio(values: list[float]) -> float:
    return values[-1] / values[0]


GRADIENT_DEPTH_CHOICES = (
    Choice("a", "it still shrinks, roughly like 1/sqrt(L)",
           lambda m: 0.25 < _depth_ratio(m) <= 0.75,
           "the 1/sqrt(L) law comes from a stream whose variance grows with every branch added "
           "at full size: work out the stream's variance with these scaled branches first"),
    Choice("b", "it stays about the same: the 2L scaled branches together add a fixed "
           "variance to the stream at any depth, so the final LayerNorm divides by about the "
           "same amount",
           lambda m: 0.75 < _depth_ratio(m) < 4 / 3,
           "compare the stream's variance at the top of a deep and of a shallow stack"),
    Choice("c", "it grows with depth, because the last layer's weight is scaled down more",
           lambda m: _depth_ratio(m) >= 4 / 3,
           "a weight's gradient is the gradient arriving at the layer's output times the "
           "layer's input; scaling the weight multiplies neither"),
    Choice("d", "it shrinks faster than 1/sqrt(L): the stream's growth and the last branch's "
           "own factor 1/sqrt(2L) both reduce it", lambda m: _depth_ratio(m) <= 0.25,
           "the factor multiplies the weight, not its gradient: that gradient is the gradient "
           "arriving at the layer's output times the layer's input"),
)


def check_gradient_depth(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`last_layer_gradient_by_depth`."""
    m = last_layer_gradient_by_depth()
    explain = ("Measured with the scaled branches for L = " + ", ".join(map(str, DEPTHS)) + ": "
               + ", ".join(f"{v:.2f}" for v in m) + f" (16 layers / 2 layers: "
               f"{_depth_ratio(m):.2f}).")
    return choose(candidate, GRADIENT_DEPTH_CHOICES, m, explain)


SATURATION_DKS = (4, 64, 1024)


@functools.cache  # a pure function of fixed seeds: measured once per session
def saturation_by_dk() -> list[float]:
    r"""Mean largest softmax weight over 16 keys when the scores are divided by :math:`d_k`
    instead of :math:`\sqrt{d_k}`, for :data:`SATURATION_DKS` (256 queries, standard normal
    entries, float64, seed 12)."""
    g = _generator(12)
    largest = []
    for d_k in SATURATION_DKS:
        q = torch.randn(256, d_k, generator=g, dtype=torch.float64)
        k = torch.randn(16, d_k, generator=g, dtype=torch.float64)
        largest.append(float(torch.softmax(q @ k.T / d_k, -1).amax(-1).mean()))
    return largest


def _saturation_kind(values: list[float]) -> str:
    if values[-1] > 0.9:
        return "saturates"
    if values[-1] < 1.2 / 16 and values[-1] < values[0]:
        return "uniform"
    return "steady" if 0.8 < values[-1] / values[0] < 1.25 else "other"


SATURATION_CHOICES = (
    Choice("a", "it approaches 1, as without any scale",
           lambda m: _saturation_kind(m) == "saturates",
           "without any scale the scores' spread grows with d_k; work out the spread of "
           "q . k / d_k before assuming it does the same"),
    Choice("b", "it stays about the same, as with the 1/sqrt(d_k) scale",
           lambda m: _saturation_kind(m) == "steady",
           "the 1/sqrt(d_k) scale is the one that holds the scores' variance fixed; a "
           "different divisor changes it as d_k grows"),
    Choice("c", "it falls towards 1/16: the scores shrink towards 0, the weights become "
           "uniform and attention averages all keys alike",
           lambda m: _saturation_kind(m) == "uniform",
           "work out the variance of q . k / d_k as d_k grows"),
    Choice("d", "something else", lambda m: _saturation_kind(m) == "other",
           "the scores' variance, 1 / d_k, moves steadily in one direction as d_k grows"),
)


def check_saturation(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`saturation_by_dk`."""
    m = saturation_by_dk()
    explain = ("Mean largest weight with the 1/d_k scale for d_k = "
               + ", ".join(map(str, SATURATION_DKS)) + ": " + ", ".join(f"{v:.3f}" for v in m)
               + " (uniform: 1/16 = 0.0625).")
    return choose(candidate, SATURATION_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def positions_at_init(num_layers: int = 32) -> float:
    """Mean cosine similarity between the representations of different positions after
    ``num_layers`` untrained Post-LN layers WITH residual connections
    (:func:`position_similarity_at_init`, seed 0)."""
    return position_similarity_at_init(num_layers, residual=True, seed=0)


POSITION_CHOICES = (
    Choice("a", "it stays about where it is at 8 layers (between 0.2 and 0.6)",
           lambda m: 0.2 <= m <= 0.6,
           "the residual adds a position's input once, but a Post-LN layer normalizes the sum "
           "after every layer: ask what share of the sum that input keeps over many layers"),
    Choice("b", "it rises near 1 (above 0.9): the residual only slows the collapse. Post-LN "
           "normalizes every sum, so each layer dilutes what a position's own input "
           "contributes, and the averaging of attention accumulates", lambda m: m > 0.9,
           "ask what the residual connection keeps of each position's own input"),
    Choice("c", "it falls near 0 (below 0.2): the positions grow apart", lambda m: m < 0.2,
           "attention at initialization averages the positions: it brings them closer, never "
           "apart"),
    Choice("d", "something in between (0.6 to 0.9)", lambda m: 0.6 < m <= 0.9,
           "a value between 0.6 and 0.9 needs something in a Post-LN layer that holds the "
           "similarity at that level: name it before choosing this"),
)


def check_positions_at_init(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`positions_at_init`."""
    m = positions_at_init()
    explain = f"Mean cosine similarity between positions after 32 residual layers: {m:.2f}."
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
           lambda m: _matches(m) == (False, True),
           "a factor outside the exponential multiplies every weight of a row by the same "
           "number: ask what the normalization does with it"),
    Choice("b", "it equals softmax(s), the unscaled softmax: a constant factor outside the "
           "exponential cancels in the normalization, so the scale does nothing",
           lambda m: _matches(m) == (True, False),
           "ask where a constant factor must sit to change the weights"),
    Choice("c", "it equals neither", lambda m: _matches(m) == (False, False),
           "normalize the article's weights over the keys and see what is left of the "
           "factor 1/sqrt(d_k)"),
    Choice("d", "it equals both", lambda m: _matches(m) == (True, True),
           "softmax(s) and softmax(s / sqrt(d_k)) differ for these scores (s is far from "
           "constant), so the article's weights cannot equal both"),
)


def check_scale_outside_exp(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`scale_outside_exp`."""
    m = scale_outside_exp()
    explain = (f"Largest difference from softmax(s): {_size(m['unscaled'])}; from "
               f"softmax(s / sqrt(d_k)): {_size(m['scaled'])}.")
    return choose(candidate, SCALE_OUTSIDE_CHOICES, m, explain)


# Chapter 6b ------------------------------------------------------------------------------------

#: The showcase source and output row of :func:`cross_attention_row` (the row that writes the
#: second digit of the month, "2" of "12").
CROSS_SOURCE, CROSS_ROW = "Tuesday, December 1, 2026", 6


def cross_attention_row() -> tuple[str, int]:
    """The stored cross-attention map of the date translator (artifact ``date_translator``):
    the source character that output row :data:`CROSS_ROW` of :data:`CROSS_SOURCE` reads most,
    and its position."""
    from verified_transformer.experiments.artifacts import load

    showcase = load("date_translator")["result"]["showcase"]
    weights = showcase["maps"][showcase["sources"].index(CROSS_SOURCE)][CROSS_ROW]
    position = max(range(len(weights)), key=weights.__getitem__)
    return CROSS_SOURCE[position], position


def _part(position: int) -> str:
    text = CROSS_SOURCE
    if text.index("2026") <= position < len(text):
        return "year"
    if text.index("December") <= position < text.index("December") + len("December"):
        return "month"
    if position == text.index(" 1,") + 1:
        return "day"
    return "other"


CROSS_CHOICES = (
    Choice("a", "a digit of the year 2026", lambda m: _part(m[1]) == "year",
           "the row writes a digit of the month; a '2' in the year is the same character but "
           "not the same information"),
    Choice("b", "a letter of the month's name, December", lambda m: _part(m[1]) == "month",
           "ask where in this source the month is written"),
    Choice("c", "the day, 1", lambda m: _part(m[1]) == "day",
           "the day is read by the rows that write the day, at the end of the output"),
    Choice("d", "the weekday or the punctuation", lambda m: _part(m[1]) == "other",
           "the weekday does not determine the month; ask which characters do"),
)


def check_cross_attention_row(candidate: Any) -> str:
    """Verdict on the predicted letter for :func:`cross_attention_row`."""
    char, position = cross_attention_row()
    explain = (f"The stored map's row {CROSS_ROW} puts its largest weight on position "
               f"{position}, {char!r}.")
    return choose(candidate, CROSS_CHOICES, (char, position), explain)


#: The wider translator of :func:`check_warmup_lr` and the steps it asks about (one in the
#: warm-up, one after it).
WARMUP_SETTING = {"d_model": 128, "warmup_steps": 500}
WARMUP_STEPS_ASKED = (150, 1500)


def check_warmup_lr(candidate: Any) -> str:
    """Verdict on the predicted learning rates at :data:`WARMUP_STEPS_ASKED` of the schedule
    ``tr.noam_learning_rate`` with :data:`WARMUP_SETTING` (a translator twice as wide as chapter
    6b's, warmed up for longer), to 1 percent."""
    from verified_transformer.experiments import translation as tr

    d_model, warmup = WARMUP_SETTING["d_model"], WARMUP_SETTING["warmup_steps"]
    truth = tuple(tr.noam_learning_rate(s, d_model, warmup) for s in WARMUP_STEPS_ASKED)
    early, late = WARMUP_STEPS_ASKED

    def near(value: float, target: float) -> bool:
        return math.isclose(value, target, rel_tol=1e-2)

    mistakes = {
        f"at step {early} the schedule is still warming up: the rising branch is the smaller of "
        "the two": lambda c: near(c[0], d_model**-0.5 * early**-0.5),
        f"at step {late} the warm-up is over: the decaying branch is the smaller of the two":
            lambda c: near(c[1], d_model**-0.5 * late * warmup**-1.5),
        "after the warm-up the rate decays like 1/sqrt(step); it does not stay at its peak":
            lambda c: near(c[1], (d_model * warmup) ** -0.5),
        "the factor d_model^(-1/2) multiplies both branches":
            lambda c: near(c[0], truth[0] * d_model**0.5) or near(c[1], truth[1] * d_model**0.5),
        "the warm-up rises like step * warmup^(-3/2), not step / warmup":
            lambda c: near(c[0], d_model**-0.5 * early / warmup),
    }
    explain = (f"tr.noam_learning_rate with d_model = {d_model}, warmup_steps = {warmup}: "
               + ", ".join(f"step {s}: {v:.3e}" for s, v in zip(WARMUP_STEPS_ASKED, truth,
                                                                 strict=True)) + ".")
    return predicted(candidate, truth, mistakes,
                     f"a tuple of two floats (learning rate at step {early}, at step {late})",
                     explain, (f"the rate at step {early}", f"the rate at step {late}"))
