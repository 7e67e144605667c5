r"""Checkers for the predict-then-run exercises: run the experiment, then judge the prediction.

No answer is stored: each checker runs its experiment (seeded, small, float64 where it matters;
once per session, cached), decides from the measured numbers which option is what happens, and
compares the reader's letter (or numbers) with that. The verdict prints the measured numbers.

Every verdict is an :class:`~verified_transformer.i18n.Message`: English as a ``str``, in the
reader's language through its ``text``. A verdict is one whole sentence template; an option's
text, a mistake's reasoning and the sentence with the measured numbers are Messages among its
values.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from verified_transformer.exercises._engine import Choice, short
from verified_transformer.experiments import position_similarity_at_init
from verified_transformer.experiments.gradients import gradient_norms_at_init
from verified_transformer.i18n import Message, tr
from verified_transformer.nn import functional as vtf


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _size(difference: float) -> str:
    """A difference for a verdict: rounding-level ones (which vary between CPUs) as a bound."""
    return tr("below 1e-12") if difference < 1e-12 else f"{difference:.1e}"


def choose(candidate: Any, choices: Sequence[Choice], measured: Any, explain: Message) -> Message:
    """Compare a predicted option letter with what running the experiment shows.

    ``measured`` is what the experiment returned; exactly one option must hold for it (else the
    experiment itself is ambiguous, a RuntimeError). ``explain`` is a sentence with the numbers,
    given with a correct answer only. A wrong letter gets its option's ``why_not`` (the mistake
    in that prediction) and an invitation to try again, never the right letter or the numbers.
    """
    letters = [c.letter for c in choices]
    if not isinstance(candidate, str) or candidate.strip().lower() not in letters:
        return tr("Cannot check: answer with one of the letters {letters}, got {got}.",
                  letters=", ".join(repr(x) for x in letters), got=short(candidate))
    holding = [c for c in choices if c.holds(measured)]
    if len(holding) != 1:
        raise RuntimeError(
            f"the experiment is ambiguous: options {[c.letter for c in holding]} all hold"
        )
    truth = holding[0]
    chosen = next(c for c in choices if c.letter == candidate.strip().lower())
    if chosen is truth:
        return tr("Correct: ({letter}) {option}. {explain}", letter=truth.letter,
                  option=truth.text, explain=explain)
    return tr("Not what happens: ({letter}) {why_not}. Try another letter.",
              letter=chosen.letter, why_not=chosen.why_not)


def predicted(candidate: Any, truth: tuple[Any, Any],
              mistakes: Mapping[Message, Callable[[Any], bool]], what: Message, explain: Message,
              entries: tuple[Message, Message]) -> Message:
    """Compare a predicted pair of numbers with the computed ``truth``.

    ``what`` describes the expected pair (for "Cannot check"); ``entries`` names each number
    ("the count for 8 heads"); ``mistakes`` maps the sentence naming each known wrong reasoning
    to a test recognizing the numbers it leads to. A wrong prediction is told which of its
    numbers is right and gets every sentence that applies (or a hint to recount), never the
    right numbers; ``explain`` (the computation) comes with a correct answer only.
    """
    ok = (isinstance(candidate, tuple) and len(candidate) == len(truth)
          and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in candidate))
    if not ok:
        return tr("Cannot check: answer with {what}, got {got}.", what=what,
                  got=short(candidate))
    right = [math.isclose(c, t, rel_tol=1e-2, abs_tol=0.0) if isinstance(t, float) else c == t
             for c, t in zip(candidate, truth, strict=True)]
    if all(right):
        return tr("Correct. {explain}", explain=explain)
    if not any(right):
        status = tr("neither number is right")
    else:
        good, wrong = entries if right[0] else entries[::-1]
        status = tr("{good} is right, {wrong} is not", good=good, wrong=wrong)
    named = [sentence for sentence, makes in mistakes.items() if makes(candidate)]
    if named:
        reasons = named[0]
        for sentence in named[1:]:
            reasons = tr("{reasons}; also, {reason}", reasons=reasons, reason=sentence)
        return tr("Not what happens: {status}; {reasons}. Try again.", status=status,
                  reasons=reasons)
    if any(right):
        return tr("Not what happens: {status}; recount it. Try again.", status=status)
    return tr("Not what happens: {status}; recount each part the exercise names. Try again.",
              status=status)


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
    Choice("a", tr("all three equal LN(x) to 1e-12"), lambda m: _equal(m) == (True, True, True),
           tr("LayerNorm would be exactly scale invariant only without epsilon: ask what epsilon "
              "does next to a variance that is multiplied by 100, or divided by a million")),
    Choice("b", tr("only LN(x + 3) equals LN(x): eps breaks the scale invariance, a little "
                   "for 10 x and a lot for x / 1000"), lambda m: _equal(m) == (True, False, False),
           tr("the shift is removed exactly with the mean; weigh again how much epsilon matters "
              "against a variance of about 100")),
    Choice("c", tr("LN(x + 3) and LN(10 x) equal LN(x), LN(x / 1000) does not"),
           lambda m: _equal(m) == (True, True, False),
           tr("a tolerance of 1e-12 is strict: compute how much the effective epsilon changes "
              "the output when the variance grows a hundredfold")),
    Choice("d", tr("none of them equals LN(x)"), lambda m: _equal(m) == (False, False, False),
           tr("subtracting the mean removes any constant added to every feature, exactly")),
)


def check_layernorm_invariance(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`layernorm_invariance`."""
    m = layernorm_invariance()
    explain = tr("Largest differences from LN(x): x + 3: {shift}, 10 x: {scale}, "
                 "x / 1000: {shrink}.", shift=_size(m["x + 3"]), scale=_size(m["10 x"]),
                 shrink=_size(m["x / 1000"]))
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
    Choice("a", tr("neither moves the other tokens"), lambda m: _moved(m) == (False, False),
           tr("ask for each normalization over which entries its mean and variance are taken")),
    Choice("b", tr("only LayerNorm moves the other tokens"), lambda m: _moved(m) == (True, False),
           tr("LayerNorm's mean and variance are taken over one token's own features")),
    Choice("c", tr("only BatchNorm moves the other tokens: its mean and variance are taken over "
              "the batch, LayerNorm's over each token's own features"),
           lambda m: _moved(m) == (False, True),
           tr("ask for each normalization over which entries its mean and variance are taken")),
    Choice("d", tr("both move the other tokens"), lambda m: _moved(m) == (True, True),
           tr("LayerNorm's mean and variance are taken over one token's own features")),
)


def check_token_dependence(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`token_dependence`."""
    m = token_dependence()
    explain = tr("Largest change of another token's output: LayerNorm {ln}, BatchNorm {bn}.",
                 ln=_size(m["LayerNorm"]), bn=_size(m["BatchNorm"]))
    return choose(candidate, TOKEN_DEPENDENCE_CHOICES, m, explain)


# Chapter 3 -------------------------------------------------------------------------------------


@functools.cache  # a pure function of fixed seeds: measured once per session
def mha_parameter_counts() -> tuple[int, int]:
    """Parameters of ``nn.MultiheadAttention(512, 8)`` and ``nn.MultiheadAttention(512, 16)``."""
    with torch.random.fork_rng(devices=[]):
        return tuple(  # type: ignore[return-value]
            sum(p.numel() for p in nn.MultiheadAttention(512, h).parameters()) for h in (8, 16)
        )


def check_mha_parameters(candidate: Any) -> Message:
    """Verdict on the predicted pair of parameter counts (8 heads, 16 heads)."""
    counts = mha_parameter_counts()
    explain = tr("Counted: {eight:,} and {sixteen:,}: W^Q, W^K, W^V and W^O are 512 x 512 "
                 "each, plus 4 x 512 biases, whatever the number of heads.",
                 eight=counts[0], sixteen=counts[1])
    mistakes = {
        tr("the count should not depend on the number of heads: the heads cut the same 512 "
           "projected features into pieces, they do not add weights"): lambda c: c[0] != c[1],
        tr("a head does not have its own 512 x 512 matrices: all heads together project 512 "
           "features to 512"): lambda c: c[0] == 8 * 3 * 512 * 512 + 512 * 512 or c[0] > 4 * 10**6,
        tr("the biases count too (one vector of 512 per projection)"):
            lambda c: c[0] == 4 * 512 * 512,
        tr("there are four projections: queries, keys, values and the output"):
            lambda c: c[0] in (3 * 512 * 512, 3 * 512 * 512 + 3 * 512),
    }
    return predicted(candidate, counts, mistakes, tr("a tuple of two ints (8 heads, 16 heads)"),
                     explain, (tr("the count for 8 heads"), tr("the count for 16 heads")))


@functools.cache  # a pure function of fixed seeds: counted once per session
def layer_parameter_counts() -> tuple[int, int]:
    """Parameters of ``nn.TransformerEncoderLayer(512, 8)`` and
    ``nn.TransformerDecoderLayer(512, 8)`` (``dim_feedforward=2048``, the base model's sizes)."""
    with torch.random.fork_rng(devices=[]):
        return tuple(  # type: ignore[return-value]
            sum(p.numel() for p in kind(512, 8, dim_feedforward=2048).parameters())
            for kind in (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer))


def check_decoder_parameters(candidate: Any) -> Message:
    """Verdict on the predicted pair of parameter counts (encoder layer, decoder layer)."""
    encoder, decoder = layer_parameter_counts()
    attention = 4 * 512 * 512 + 4 * 512
    explain = tr("Counted: encoder layer {encoder:,}, decoder layer {decoder:,}. The decoder "
                 "adds a cross-attention block ({attention:,}, the same size as self-attention) "
                 "and a third LayerNorm (1,024).", encoder=encoder, decoder=decoder,
                 attention=attention)
    mistakes = {
        tr("the decoder layer has a sub-layer the encoder layer lacks: cross-attention to the "
           "encoder's output, with its own projections"): lambda c: c[1] == c[0],
        tr("each sub-layer has its own LayerNorm, with a gain and a bias of 512 each"):
            lambda c: c[1] - c[0] == attention or c[0] == encoder - 2048,
        tr("the biases count too: every linear map has one"):
            lambda c: c[0] in (4 * 512 * 512 + 2 * 512 * 2048,
                               4 * 512 * 512 + 2 * 512 * 2048 + 2048),
        tr("the feed-forward network has two weight matrices, 512 x 2048 and 2048 x 512"):
            lambda c: c[0] in (encoder - 2048 * 512 - 512, encoder - 2048 * 512 - 2048),
        tr("the number of heads adds no parameters (the heads share the 512 x 512 "
           "projections)"): lambda c: c[0] > 2 * encoder,
    }
    return predicted(candidate, (encoder, decoder), mistakes,
                     tr("a tuple of two ints (encoder layer, decoder layer)"), explain,
                     (tr("the encoder layer's count"), tr("the decoder layer's count")))


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


def check_residual_paths(candidate: Any) -> Message:
    """Verdict on the predicted pair (number of terms, number of terms with two J's)."""
    total, two = residual_path_counts()
    explain = tr("SymPy's expansion of the product of 6 factors (I + J_i) has {total} terms, "
                 "{two} of them products of exactly two J's (one term per subset of the "
                 "layers).", total=total, two=two)
    mistakes = {
        tr("each factor (I + J_i) doubles the number of terms: the paths are not one per layer "
           "(that is the plain stack's count, or a sum instead of a product)"):
            lambda c: c[0] in (6, 7, 12, 13),
        tr("a product of two J's picks an unordered pair of layers (the order is fixed by the "
           "stack), so count pairs, not ordered pairs"): lambda c: c[1] == 30,
        tr("the total counts every subset of the 6 layers, the empty one (the identity path) "
           "included"): lambda c: c[0] == 63,
    }
    return predicted(candidate, (total, two), mistakes,
                     tr("a tuple of two ints (all terms, terms with two J's)"), explain,
                     (tr("the number of all terms"), tr("the number of terms with two J's")))


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
    Choice("a", tr("the future keys get weight 0: the mask blocks them"),
           lambda m: not m["error"] and m["min_future"] == 0.0,
           tr("a float mask is added to the scores, and e to the power (score + 1) is not 0")),
    Choice("b", tr("nothing is blocked: 1 is added to every future score, so a future key's weight "
              "grows by a factor e relative to a past key's, before renormalization"),
           lambda m: not m["error"] and m["min_future"] > 0
           and math.isclose(m["factor"], math.e, rel_tol=1e-9),
           tr("ask what adding a float mask to the scores does to e to the power of a score")),
    Choice("c", tr("the past keys get weight 0"), lambda m: not m["error"] and m["min_past"] == 0.0,
           tr("the past keys have mask entry 0, and adding 0 to a score changes nothing")),
    Choice("d", tr("it raises an error"), lambda m: bool(m["error"]),
           tr("a float mask of the right shape and dtype is valid input: any float values are "
              "accepted and added to the scores")),
)


def check_float_mask(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`float_mask_effect`."""
    m = float_mask_effect()
    explain = (tr("The call raised an error.") if m["error"] else
               tr("Smallest weight on a future key: {smallest:.3f}; a future key's weight "
                  "relative to a past key's grew by a factor {factor:.4f} (e = {e:.4f}).",
                  smallest=m["min_future"], factor=m["factor"], e=math.e))
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
    Choice("a", tr("both compute causal attention"), lambda m: _causal(m) == (True, True),
           tr("the two functions do not read True the same way: look up what True means for each")),
    Choice("b", tr("only nn.MultiheadAttention does (True = may NOT attend); for "
              "F.scaled_dot_product_attention True means may attend, so it attends to the future"),
           lambda m: _causal(m) == (True, False),
           tr("look up again what True means for each of the two functions")),
    Choice("c", tr("only F.scaled_dot_product_attention does"),
           lambda m: _causal(m) == (False, True),
           tr("for F.scaled_dot_product_attention True means may attend: this mask keeps the "
              "future there")),
    Choice("d", tr("neither does"), lambda m: _causal(m) == (False, False),
           tr("for nn.MultiheadAttention True means may NOT attend: this mask blocks the future "
              "there")),
)


def check_bool_mask(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`bool_mask_conventions`."""
    m = bool_mask_conventions()
    equal, different = tr("equal"), tr("different")
    explain = tr("Compared with the causal result: nn.MultiheadAttention {mha}, "
                 "F.scaled_dot_product_attention {sdpa}.",
                 mha=equal if m["MultiheadAttention"] else different,
                 sdpa=equal if m["scaled_dot_product_attention"] else different)
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
    Choice("a", tr("it still shrinks, roughly like 1/sqrt(L)"),
           lambda m: 0.25 < _depth_ratio(m) <= 0.75,
           tr("the 1/sqrt(L) law comes from a stream whose variance grows with every branch added "
              "at full size: work out the stream's variance with these scaled branches first")),
    Choice("b", tr("it stays about the same: the 2L scaled branches together add a fixed "
              "variance to the stream at any depth, so the final LayerNorm divides by about the "
              "same amount"),
           lambda m: 0.75 < _depth_ratio(m) < 4 / 3,
           tr("compare the stream's variance at the top of a deep and of a shallow stack")),
    Choice("c", tr("it grows with depth, because the last layer's weight is scaled down more"),
           lambda m: _depth_ratio(m) >= 4 / 3,
           tr("a weight's gradient is the gradient arriving at the layer's output times the "
              "layer's input; scaling the weight multiplies neither")),
    Choice("d", tr("it shrinks faster than 1/sqrt(L): the stream's growth and the last branch's "
              "own factor 1/sqrt(2L) both reduce it"), lambda m: _depth_ratio(m) <= 0.25,
           tr("the factor multiplies the weight, not its gradient: that gradient is the gradient "
              "arriving at the layer's output times the layer's input")),
)


def check_gradient_depth(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`last_layer_gradient_by_depth`."""
    m = last_layer_gradient_by_depth()
    explain = tr("Measured with the scaled branches for L = {depths}: {values} (16 layers / "
                 "2 layers: {ratio:.2f}).", depths=", ".join(map(str, DEPTHS)),
                 values=", ".join(f"{v:.2f}" for v in m), ratio=_depth_ratio(m))
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
    Choice("a", tr("it approaches 1, as without any scale"),
           lambda m: _saturation_kind(m) == "saturates",
           tr("without any scale the scores' spread grows with d_k; work out the spread of "
              "q . k / d_k before assuming it does the same")),
    Choice("b", tr("it stays about the same, as with the 1/sqrt(d_k) scale"),
           lambda m: _saturation_kind(m) == "steady",
           tr("the 1/sqrt(d_k) scale is the one that holds the scores' variance fixed; a "
              "different divisor changes it as d_k grows")),
    Choice("c", tr("it falls towards 1/16: the scores shrink towards 0, the weights become "
              "uniform and attention averages all keys alike"),
           lambda m: _saturation_kind(m) == "uniform",
           tr("work out the variance of q . k / d_k as d_k grows")),
    Choice("d", tr("something else"), lambda m: _saturation_kind(m) == "other",
           tr("the scores' variance, 1 / d_k, moves steadily in one direction as d_k grows")),
)


def check_saturation(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`saturation_by_dk`."""
    m = saturation_by_dk()
    explain = tr("Mean largest weight with the 1/d_k scale for d_k = {dks}: {values} "
                 "(uniform: 1/16 = 0.0625).", dks=", ".join(map(str, SATURATION_DKS)),
                 values=", ".join(f"{v:.3f}" for v in m))
    return choose(candidate, SATURATION_CHOICES, m, explain)


@functools.cache  # a pure function of fixed seeds: measured once per session
def positions_at_init(num_layers: int = 32) -> float:
    """Mean cosine similarity between the representations of different positions after
    ``num_layers`` untrained Post-LN layers WITH residual connections
    (:func:`position_similarity_at_init`, seed 0)."""
    return position_similarity_at_init(num_layers, residual=True, seed=0)


POSITION_CHOICES = (
    Choice("a", tr("it stays about where it is at 8 layers (between 0.2 and 0.6)"),
           lambda m: 0.2 <= m <= 0.6,
           tr("the residual adds a position's input once, but a Post-LN layer normalizes the sum "
              "after every layer: ask what share of the sum that input keeps over many layers")),
    Choice("b", tr("it rises near 1 (above 0.9): the residual only slows the collapse. Post-LN "
              "normalizes every sum, so each layer dilutes what a position's own input "
              "contributes, and the averaging of attention accumulates"), lambda m: m > 0.9,
           tr("ask what the residual connection keeps of each position's own input")),
    Choice("c", tr("it falls near 0 (below 0.2): the positions grow apart"), lambda m: m < 0.2,
           tr("attention at initialization averages the positions: it brings them closer, never "
              "apart")),
    Choice("d", tr("something in between (0.6 to 0.9)"), lambda m: 0.6 < m <= 0.9,
           tr("a value between 0.6 and 0.9 needs something in a Post-LN layer that holds the "
              "similarity at that level: name it before choosing this")),
)


def check_positions_at_init(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`positions_at_init`."""
    m = positions_at_init()
    explain = tr("Mean cosine similarity between positions after 32 residual layers: "
                 "{similarity:.2f}.", similarity=m)
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
    Choice("a", tr("it equals softmax(s / sqrt(d_k)): where the scale sits does not matter"),
           lambda m: _matches(m) == (False, True),
           tr("a factor outside the exponential multiplies every weight of a row by the same "
              "number: ask what the normalization does with it")),
    Choice("b", tr("it equals softmax(s), the unscaled softmax: a constant factor outside the "
              "exponential cancels in the normalization, so the scale does nothing"),
           lambda m: _matches(m) == (True, False),
           tr("ask where a constant factor must sit to change the weights")),
    Choice("c", tr("it equals neither"), lambda m: _matches(m) == (False, False),
           tr("normalize the article's weights over the keys and see what is left of the "
              "factor 1/sqrt(d_k)")),
    Choice("d", tr("it equals both"), lambda m: _matches(m) == (True, True),
           tr("softmax(s) and softmax(s / sqrt(d_k)) differ for these scores (s is far from "
              "constant), so the article's weights cannot equal both")),
)


def check_scale_outside_exp(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`scale_outside_exp`."""
    m = scale_outside_exp()
    explain = tr("Largest difference from softmax(s): {unscaled}; from softmax(s / sqrt(d_k)): "
                 "{scaled}.", unscaled=_size(m["unscaled"]), scaled=_size(m["scaled"]))
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
    Choice("a", tr("a digit of the year 2026"), lambda m: _part(m[1]) == "year",
           tr("the row writes a digit of the month; a '2' in the year is the same character but "
              "not the same information")),
    Choice("b", tr("a letter of the month's name, December"), lambda m: _part(m[1]) == "month",
           tr("ask where in this source the month is written")),
    Choice("c", tr("the day, 1"), lambda m: _part(m[1]) == "day",
           tr("the day is read by the rows that write the day, at the end of the output")),
    Choice("d", tr("the weekday or the punctuation"), lambda m: _part(m[1]) == "other",
           tr("the weekday does not determine the month; ask which characters do")),
)


def check_cross_attention_row(candidate: Any) -> Message:
    """Verdict on the predicted letter for :func:`cross_attention_row`."""
    char, position = cross_attention_row()
    explain = tr("The stored map's row {row} puts its largest weight on position {position}, "
                 "{char}.", row=CROSS_ROW, position=position, char=repr(char))
    return choose(candidate, CROSS_CHOICES, (char, position), explain)


#: The wider translator of :func:`check_warmup_lr` and the steps it asks about (one in the
#: warm-up, one after it).
WARMUP_SETTING = {"d_model": 128, "warmup_steps": 500}
WARMUP_STEPS_ASKED = (150, 1500)


def check_warmup_lr(candidate: Any) -> Message:
    """Verdict on the predicted learning rates at :data:`WARMUP_STEPS_ASKED` of the schedule
    ``tr.noam_learning_rate`` with :data:`WARMUP_SETTING` (a translator twice as wide as chapter
    6b's, warmed up for longer), to 1 percent."""
    from verified_transformer.experiments import translation

    d_model, warmup = WARMUP_SETTING["d_model"], WARMUP_SETTING["warmup_steps"]
    truth = tuple(translation.noam_learning_rate(s, d_model, warmup) for s in WARMUP_STEPS_ASKED)
    early, late = WARMUP_STEPS_ASKED

    def near(value: float, target: float) -> bool:
        return math.isclose(value, target, rel_tol=1e-2)

    mistakes = {
        tr("at step {step} the schedule is still warming up: the rising branch is the smaller "
           "of the two", step=early): lambda c: near(c[0], d_model**-0.5 * early**-0.5),
        tr("at step {step} the warm-up is over: the decaying branch is the smaller of the two",
           step=late): lambda c: near(c[1], d_model**-0.5 * late * warmup**-1.5),
        tr("after the warm-up the rate decays like 1/sqrt(step); it does not stay at its peak"):
            lambda c: near(c[1], (d_model * warmup) ** -0.5),
        tr("the factor d_model^(-1/2) multiplies both branches"):
            lambda c: near(c[0], truth[0] * d_model**0.5) or near(c[1], truth[1] * d_model**0.5),
        tr("the warm-up rises like step * warmup^(-3/2), not step / warmup"):
            lambda c: near(c[0], d_model**-0.5 * early / warmup),
    }
    explain = tr("tr.noam_learning_rate with d_model = {d_model}, warmup_steps = {warmup}: "
                 "step {early}: {early_rate:.3e}, step {late}: {late_rate:.3e}.",
                 d_model=d_model, warmup=warmup, early=early, early_rate=truth[0], late=late,
                 late_rate=truth[1])
    return predicted(candidate, truth, mistakes,
                     tr("a tuple of two floats (learning rate at step {early}, at step {late})",
                        early=early, late=late),
                     explain, (tr("the rate at step {step}", step=early),
                               tr("the rate at step {step}", step=late)))
