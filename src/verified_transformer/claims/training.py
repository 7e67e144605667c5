"""Claims about training the translation model: the label-smoothed target distribution and the
warm-up schedule's peak."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import training as tr
from verified_transformer.derive.exact import Undecided, is_zero

Target = Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]
Schedule = Callable[[sp.Expr], sp.Expr]
_numeric = numeric_check("numeric_training")


# --- label smoothing ---------------------------------------------------------------------------


def _smoothing_holds(candidate: Target) -> bool:
    """For K = 2..6 classes and every target y: the candidate sums to 1, and the cross-entropy
    against it equals (1 - eps) H(one-hot, p) + eps H(uniform, p) for symbolic eps and log p."""
    for classes in range(2, 7):
        logs = tr.log_probabilities(classes)
        for label in range(1, classes + 1):
            total = sp.Add(*(candidate(sp.Integer(c), sp.Integer(label), sp.Integer(classes))
                             for c in range(1, classes + 1)))
            if not is_zero(total - 1):
                return False
            loss = tr.smoothed_loss(candidate, label, logs)
            if not is_zero(loss - tr.mixture_loss(label, logs)):
                return False
    return True


def _correct_target(c: sp.Expr, label: sp.Expr, classes: sp.Expr) -> sp.Expr:
    return (1 - tr.epsilon) * sp.KroneckerDelta(c, label) + tr.epsilon / classes


def _smoothing_display(candidate: Target) -> list[str]:
    return [f"q'(k) = {latex(candidate(tr.k, tr.y, tr.K))}"]


# --- the warm-up schedule ----------------------------------------------------------------------


def _peaks_at_warmup(schedule: Schedule) -> bool:
    """The candidate rises on (0, w] and falls on [w, oo) for symbolic w, d > 0 (so it peaks at
    s = w): written at s = w e^{-v} and s = w e^{v} (v > 0), each side falls as v grows and tends
    to the value at w. When a side's Min cannot be resolved, a counterexample is sought
    (d = 64, w = 100, exact arithmetic: some s with a higher rate than at s = w)."""
    try:
        before, at, after = tr.schedule_sides(schedule)
    except ArithmeticError:
        at_values = {tr.d_model: 64, tr.w: 100}
        peak = schedule(tr.w).subs(at_values)
        for step in (sp.Rational(100 * j, 8) for j in range(1, 33)):
            if (schedule(step).subs(at_values) - peak).is_positive:
                return False
        raise Undecided("schedule: neither a proof nor a counterexample") from None
    for side in (before, after):
        slope = sp.simplify(sp.diff(side, tr.v))
        if not slope.is_negative:
            return False
        if not is_zero(sp.limit(side, tr.v, 0, "+") - at):
            return False
    return True


def _schedule_display(schedule: Schedule) -> list[str]:
    return [rf"\eta(s) = {latex(schedule(tr.s))}"]


def _half(e: sp.Expr) -> sp.Expr:
    return e ** sp.Rational(-1, 2)


CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="training.label_smoothing",
        kind="definition",
        render=_smoothing_display,
        source="szegedy2016rethinking",
        proof="checked",
        scope="K = 2..6 classes, every target, symbolic epsilon",
        formula=_correct_target,
        symbolic=_smoothing_holds,
        wrong={
            "epsilon / (K - 1) on every class": lambda c, t, n: (
                (1 - tr.epsilon) * sp.KroneckerDelta(c, t) + tr.epsilon / (n - 1)
            ),
            "uniform part dropped": lambda c, t, n: (1 - tr.epsilon) * sp.KroneckerDelta(c, t),
            "weights swapped": lambda c, t, n: (
                tr.epsilon * sp.KroneckerDelta(c, t) + (1 - tr.epsilon) / n
            ),
        },
        numeric=_numeric("smoothing"),
        compared=("torch.nn.functional.cross_entropy",),
        ours=False,
        note="The smoothed target mixes the one-hot target with the uniform distribution; its "
        "cross-entropy splits as Szegedy et al. state, and equals torch's label_smoothing loss.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="training.warmup_peak",
        kind="identity",
        render=_schedule_display,
        source="vaswani2017attention",
        origin="derived",
        scope="symbolic s, warmup_steps w and d_model",
        formula=tr.vaswani_schedule,
        symbolic=_peaks_at_warmup,
        wrong={
            "peak at 2w: min(s^-1/2, s (2w)^-3/2)": lambda step: (
                _half(tr.d_model) * sp.Min(_half(step), step * (2 * tr.w) ** sp.Rational(-3, 2))
            ),
            "peak at w/2: min(s^-1/2, s (w/2)^-3/2)": lambda step: (
                _half(tr.d_model) * sp.Min(_half(step), step * (tr.w / 2) ** sp.Rational(-3, 2))
            ),
            "max instead of min": lambda step: (
                _half(tr.d_model) * sp.Max(_half(step), step * tr.w ** sp.Rational(-3, 2))
            ),
        },
        numeric=_numeric("schedule"),
        note="The learning rate rises linearly to (d w)^-1/2 at step w and falls like s^-1/2 "
        "after it; numerically, it is what the translator's optimizer gets.",
    ),
)
