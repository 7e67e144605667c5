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


def formula_checker(claim_id: str) -> Callable[[Any], str]:
    """A checker that hands the candidate to ``check_formula(claim_id, candidate)``."""

    def check(candidate: Any) -> str:
        import sympy as sp

        from verified_transformer.claims import check_formula

        if isinstance(candidate, numbers.Number) and not isinstance(candidate, sp.Basic):
            return (f"Cannot check: the answer is a formula (a LaTeX string or a SymPy "
                    f"expression), got the {type(candidate).__name__} {candidate!r}.")
        return in_our_words(check_formula(claim_id, candidate))

    check.__doc__ = f"Verdict of ``check_formula({claim_id!r}, candidate)``."
    return check


def formula_or_function(claim_id: str, run: Callable[[Any], str]) -> Callable[[Any], str]:
    """A checker that takes either a formula (a SymPy expression or a LaTeX string, decided by
    ``check_formula(claim_id, ...)``) or a Python function (run by ``run``, our own checker
    that compares it with an independent computation)."""
    by_formula = formula_checker(claim_id)

    def check(candidate: Any) -> str:
        import sympy as sp

        if callable(candidate) and not isinstance(candidate, sp.Basic):
            return run(candidate)
        return by_formula(candidate)

    check.__doc__ = (f"A formula goes to ``check_formula({claim_id!r}, ...)``, a function to "
                     f"``{run.__module__}.{run.__name__}``.")
    return check


def in_our_words(verdict: str) -> str:
    """``check_formula``'s sentence, opening like every other checker's: "Correct: equal to
    ...", "Not correct: this is ..." or "Not correct: different from ..."; "Cannot check ..."
    stays as it is."""
    if verdict.startswith("Equal to "):
        return "Correct: e" + verdict[1:]
    if verdict.startswith(("This is ", "Different from ")):
        return "Not correct: " + verdict[0].lower() + verdict[1:]
    return verdict


def takes(claim_id: str) -> str | None:
    """What ``check_formula`` accepts for this claim (the claim's ``takes``)."""
    from verified_transformer.claims import get

    return get(claim_id).takes
