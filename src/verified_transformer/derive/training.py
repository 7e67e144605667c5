r"""Training formulas, derived: label smoothing and the warm-up schedule of the Transformer.

* Label smoothing (:cite:`szegedy2016rethinking`, section 7): with :math:`K` classes, target
  :math:`y` and weight :math:`\varepsilon`, the target distribution becomes
  :math:`q'(k) = (1 - \varepsilon)\,\delta_{k,y} + \varepsilon\,u(k)`, :math:`u(k) = 1/K`, so that
  the cross-entropy splits as :math:`H(q', p) = (1 - \varepsilon) H(q, p) + \varepsilon H(u, p)`
  (:func:`mixture_loss`).
* The schedule (:cite:`vaswani2017attention`, equation 3):
  :math:`\eta(s) = d^{-1/2} \min(s^{-1/2}, s\,w^{-3/2})` (:func:`vaswani_schedule`, the
  operator :class:`Eta`), which is :math:`(d w)^{-1/2} \min(s/w, \sqrt{w/s})`: it peaks at
  :math:`s = w`.

Nothing here imports ``verified_transformer.nn``.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.derive.exact import is_zero

epsilon = sp.Symbol("epsilon", positive=True)  # smoothing weight, 0 < epsilon < 1
K = sp.Symbol("K", integer=True, positive=True)  # number of classes
k, y = sp.symbols("k y", integer=True, positive=True)  # a class and the target class
s, w, d_model = sp.symbols("s w d_model", positive=True)  # step, warm-up steps, model width

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


def is_smoothed_target(target: sp.Expr, classes: range = range(2, 7)) -> bool:
    r"""The characterization of label smoothing, for ``target`` :math:`q'(k)` (an expression in
    ``k``, ``y``, ``K``), every number of ``classes`` and every target :math:`y`: it sums to 1,
    and :math:`H(q', p)` is :func:`mixture_loss` for symbolic :math:`\varepsilon` and
    :math:`\log p` (decided by :func:`~verified_transformer.derive.exact.is_zero`)."""

    def candidate(c: sp.Expr, label: sp.Expr, size: sp.Expr) -> sp.Expr:
        return target.xreplace({k: c, y: label, K: size})

    for size in classes:
        logs = log_probabilities(size)
        for label in range(1, size + 1):
            total = sum(candidate(sp.Integer(c), sp.Integer(label), sp.Integer(size))
                        for c in range(1, size + 1))
            split = smoothed_loss(candidate, label, logs) - mixture_loss(label, logs)
            if not (is_zero(total - 1) and is_zero(split)):
                return False
    return True


def vaswani_schedule(step: sp.Expr = s) -> sp.Expr:
    r"""The schedule as the paper prints it: :math:`d^{-1/2} \min(s^{-1/2}, s\,w^{-3/2})`."""
    return d_model ** sp.Rational(-1, 2) * sp.Min(
        step ** sp.Rational(-1, 2), step * w ** sp.Rational(-3, 2)
    )


class Eta(sp.Function):
    r""":math:`\eta(s)`, the learning rate at step ``s`` (free ``w``, ``d_model``); ``doit`` is
    :func:`vaswani_schedule`."""

    nargs = 1

    def doit(self, **hints: object) -> sp.Expr:
        return vaswani_schedule(self.args[0].doit(**hints))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"\eta\left({printer._print(self.args[0])}\right)"


def min_simplify(expr: sp.Expr) -> sp.Expr:
    """``sp.simplify`` with each ``Min(a, b)`` written as ``(a + b - |a - b|) / 2``: what proves two
    forms of the schedule equal (positive factors then leave the absolute value)."""
    return sp.simplify(expr.replace(
        lambda e: isinstance(e, sp.Min) and len(e.args) == 2,
        lambda e: (e.args[0] + e.args[1] - sp.Abs(e.args[0] - e.args[1])) / 2,
    ))
