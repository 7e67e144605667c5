"""Checkers for the derive exercises: the reader's formula goes to the claims ledger.

A derive exercise names one claim of :mod:`verified_transformer.claims`; its checker is
``check_formula(claim_id, candidate)`` from there, which decides the formula exactly (SymPy) and
recognizes the claim's known wrong variants. What a candidate may be (a SymPy expression, a
string, ...) is the claim's ``takes``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from verified_transformer.i18n import Message, tr


def formula_checker(claim_id: str) -> Callable[[Any], Message]:
    """A checker that hands the candidate to ``check_formula(claim_id, candidate)``."""

    def check(candidate: Any) -> Message:
        import sympy as sp

        from verified_transformer.claims import check_formula

        if isinstance(candidate, numbers.Number) and not isinstance(candidate, sp.Basic):
            return tr("Cannot check: the answer is a formula (a LaTeX string or a SymPy "
                      "expression), got the {type} {value}.", type=type(candidate).__name__,
                      value=repr(candidate))
        return in_our_words(check_formula(claim_id, candidate))

    check.__doc__ = f"Verdict of ``check_formula({claim_id!r}, candidate)``."
    return check


def formula_or_function(claim_id: str, run: Callable[[Any], Message]
                        ) -> Callable[[Any], Message]:
    """A checker that takes either a formula (a SymPy expression or a LaTeX string, decided by
    ``check_formula(claim_id, ...)``) or a Python function (run by ``run``, our own checker
    that compares it with an independent computation)."""
    by_formula = formula_checker(claim_id)

    def check(candidate: Any) -> Message:
        import sympy as sp

        if callable(candidate) and not isinstance(candidate, sp.Basic):
            return run(candidate)
        return by_formula(candidate)

    check.__doc__ = (f"A formula goes to ``check_formula({claim_id!r}, ...)``, a function to "
                     f"``{run.__module__}.{run.__name__}``.")
    return check


# check_formula's sentence (its msgid) -> the same sentence opening like every other checker's
_IN_OUR_WORDS: dict[str, Callable[..., Message]] = {
    "Equal to {claim}: the candidate is the claim's formula ({scope}).": lambda **v: tr(
        "Correct: equal to {claim}: the candidate is the claim's formula ({scope}).", **v),
    "This is {variant}, a named wrong variant of {claim}; it differs from the claim {where}.":
        lambda **v: tr("Not correct: this is {variant}, a named wrong variant of {claim}; it "
                       "differs from the claim {where}.", **v),
    "This is {variant}, a named wrong variant of {claim}.": lambda **v: tr(
        "Not correct: this is {variant}, a named wrong variant of {claim}.", **v),
    "Different from {claim}, and from each of its named wrong variants.": lambda **v: tr(
        "Not correct: different from {claim}, and from each of its named wrong variants.", **v),
    "Different from {claim}, and from each of its named wrong variants: {where}.":
        lambda **v: tr("Not correct: different from {claim}, and from each of its named wrong "
                       "variants: {where}.", **v),
}


def in_our_words(verdict: Message) -> Message:
    """``check_formula``'s sentence, opening like every other checker's: "Correct: equal to
    ...", "Not correct: this is ..." or "Not correct: different from ..." (each its own
    template, with the verdict's values); "Cannot check ..." stays as it is."""
    reworded = _IN_OUR_WORDS.get(getattr(verdict, "msgid", None))
    return reworded(**verdict.values) if reworded is not None else verdict


def takes(claim_id: str) -> str | None:
    """What ``check_formula`` accepts for this claim (the claim's ``takes``)."""
    from verified_transformer.claims import get

    return get(claim_id).takes
