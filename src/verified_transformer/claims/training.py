"""Claims about training the translation model: the label-smoothed target distribution and the
warm-up schedule's peak."""

from __future__ import annotations

import sympy as sp

from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import training as tr

_numeric = numeric_check("numeric_training")
eps, K, k, y, s, w, d = tr.epsilon, tr.K, tr.k, tr.y, tr.s, tr.w, tr.d_model
delta, half = sp.KroneckerDelta(k, y), sp.Rational(-1, 2)


def _target(rhs: sp.Expr) -> tuple:  # q'(k) = rhs (class k, target y, K classes)
    return ((sp.Function("q'")(k), rhs),)


def _schedule(rhs: sp.Expr) -> tuple:  # eta(s) = rhs = (d w)^-1/2 min(s/w, sqrt(w/s))
    return tr.Eta(s), rhs, sp.Min(s / w, sp.sqrt(w / s)) / sp.sqrt(d * w)


CLAIMS = (
    Claim(
        id="training.label_smoothing", kind="definition", source="szegedy2016rethinking",
        proof="checked", scope="K = 2..6 classes, every target, symbolic epsilon",
        custom="a definition, checked by its characterization (a distribution; Szegedy et al.'s "
        "cross-entropy split)",
        formula=_target((1 - eps) * delta + eps / K),
        symbolic=lambda formula: tr.is_smoothed_target(formula[0][-1]),
        wrong={"epsilon / (K - 1) on every class": _target((1 - eps) * delta + eps / (K - 1)),
               "uniform part dropped": _target((1 - eps) * delta),
               "weights swapped": _target(eps * delta + (1 - eps) / K)},
        numeric=_numeric("smoothing"), compared=("torch.nn.functional.cross_entropy",),
        ours=False,
        note="The smoothed target mixes the one-hot target with the uniform distribution; its "
        "cross-entropy splits as Szegedy et al. state, and equals torch's label_smoothing loss.",
    ),
    Claim(
        id="training.warmup_peak", kind="identity", source="vaswani2017attention",
        origin="derived", scope="symbolic s, warmup_steps w and d_model",
        formula=(_schedule(tr.vaswani_schedule()),), simplify=tr.min_simplify,
        wrong={"peak at 2w: min(s^-1/2, s (2w)^-3/2)":
               _schedule(d**half * sp.Min(s**half, s * (2 * w) ** (3 * half))),
               "peak at w/2: min(s^-1/2, s (w/2)^-3/2)":
               _schedule(d**half * sp.Min(s**half, s * (w / 2) ** (3 * half))),
               "max instead of min": _schedule(d**half * sp.Max(s**half, s * w ** (3 * half)))},
        numeric=_numeric("schedule"),
        note="The learning rate rises linearly to (d w)^-1/2 at step w and falls like s^-1/2 "
        "after it; numerically, it is what the translator's optimizer gets.",
    ),
)
