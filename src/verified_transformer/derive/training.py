r"""Training formulas, derived: label smoothing and the warm-up schedule of the Transformer.

* Label smoothing (:cite:`szegedy2016rethinking`, section 7): with :math:`K` classes, target
  :math:`y` and weight :math:`\varepsilon`, the target distribution becomes
  :math:`q'(k) = (1 - \varepsilon)\,\delta_{k,y} + \varepsilon\,u(k)`, :math:`u(k) = 1/K`, so that
  the cross-entropy splits as :math:`H(q', p) = (1 - \varepsilon) H(q, p) + \varepsilon H(u, p)`
  (:func:`mixture_loss`).
* The schedule (:cite:`vaswani2017attention`, equation 3):
  :math:`\eta(s) = d^{-1/2} \min(s^{-1/2}, s\,w^{-3/2})`. Whether a candidate peaks at
  :math:`s = w` is decided by :func:`schedule_sides`: it writes :math:`s = w e^{\mp v}` with
  :math:`v > 0`, resolves every ``Min`` by comparing logarithms (exact), and returns the two
  sides as functions of :math:`v`.

Nothing here imports ``verified_transformer.nn``.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

epsilon = sp.Symbol("epsilon", positive=True)  # smoothing weight, 0 < epsilon < 1
K = sp.Symbol("K", integer=True, positive=True)  # number of classes
k, y = sp.symbols("k y", integer=True, positive=True)  # a class and the target class
s, w, d_model = sp.symbols("s w d_model", positive=True)  # step, warm-up steps, model width
v = sp.Symbol("v", positive=True)  # distance from the peak on a log scale

Target = Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]  # (class k, target y, K) -> q'(k)


def log_probabilities(classes: int) -> list[sp.Symbol]:
    r"""Symbols :math:`\ell_1, \dots, \ell_K` standing for :math:`\log p_k` (any reals)."""
    return list(sp.symbols(f"ell_1:{classes + 1}", real=True))


def cross_entropy(target: list[sp.Expr], logs: list[sp.Expr]) -> sp.Expr:
    r""":math:`H(q, p) = -\sum_k q_k \log p_k` for explicit lists."""
    return -sp.Add(*(a * b for a, b in zip(target, logs, strict=True)))


def mixture_loss(label: int, logs: list[sp.Expr], weight: sp.Expr = epsilon) -> sp.Expr:
    r"""Szegedy et al.'s split: :math:`(1 - \varepsilon) H(\delta_y, p) + \varepsilon H(u, p)`,
    from the one-hot target :math:`\delta_y` and the uniform distribution :math:`u = 1/K`."""
    classes = len(logs)
    one_hot = [sp.Integer(int(c == label)) for c in range(1, classes + 1)]
    uniform = [sp.Rational(1, classes)] * classes
    return (1 - weight) * cross_entropy(one_hot, logs) + weight * cross_entropy(uniform, logs)


def smoothed_loss(candidate: Target, label: int, logs: list[sp.Expr]) -> sp.Expr:
    r""":math:`H(q', p)` with the candidate :math:`q'(k)` at explicit :math:`K` and target."""
    classes = len(logs)
    target = [
        candidate(sp.Integer(c), sp.Integer(label), sp.Integer(classes))
        for c in range(1, classes + 1)
    ]
    return cross_entropy(target, logs)


def _resolve_min(expr: sp.Expr) -> sp.Expr:
    """Replace each ``Min(a, b)`` of positive ``a, b`` by the smaller one, decided exactly by the
    sign of ``log a - log b`` (expanded); raises ``ArithmeticError`` when the sign is unknown."""

    def pick(*args: sp.Expr) -> sp.Expr:
        smallest = args[0]
        for other in args[1:]:
            gap = sp.simplify(sp.expand_log(sp.log(smallest) - sp.log(other), force=True))
            if gap.is_positive:
                smallest = other
            elif not (gap.is_negative or gap.is_zero):
                raise ArithmeticError(f"cannot order {smallest} and {other}")
        return smallest

    return expr.replace(lambda e: isinstance(e, sp.Min), lambda e: pick(*e.args))


def schedule_sides(schedule: Callable[[sp.Expr], sp.Expr]) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r"""``(before, at, after)``: the candidate at :math:`s = w e^{-v}`, :math:`s = w` and
    :math:`s = w e^{v}` for :math:`v > 0`, with every ``Min`` resolved. The candidate peaks at
    :math:`w` iff ``before`` and ``after`` fall as :math:`v` grows and tend to ``at`` as
    :math:`v \to 0`."""
    before = _resolve_min(sp.simplify(schedule(w * sp.exp(-v))))
    after = _resolve_min(sp.simplify(schedule(w * sp.exp(v))))
    at = _resolve_min(sp.simplify(schedule(w)))
    return sp.simplify(before), sp.simplify(at), sp.simplify(after)


def vaswani_schedule(step: sp.Expr = s) -> sp.Expr:
    r"""The schedule as the paper prints it: :math:`d^{-1/2} \min(s^{-1/2}, s\,w^{-3/2})`."""
    return d_model ** sp.Rational(-1, 2) * sp.Min(
        step ** sp.Rational(-1, 2), step * w ** sp.Rational(-3, 2)
    )
