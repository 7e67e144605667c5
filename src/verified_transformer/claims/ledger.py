"""The claim record and the code that checks one.

A claim carries the formula under test (``formula``) and checks that are *functions of that
formula*: ``symbolic(formula)`` decides it exactly with SymPy, ``numeric(formula)`` compares it in
float64 with our ``verified_transformer.nn`` code and with PyTorch's kernels. ``wrong`` holds
deliberately wrong variants of the formula; a claim passes only if its symbolic check accepts the
formula and rejects every wrong variant, so no check can pass vacuously.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Claim:
    """One formula the book states, with its source and its checks."""

    id: str
    statement: str  # LaTeX, without surrounding dollars
    source: str  # a key of references.bib
    scope: str  # e.g. "symbolic n" or "n = 1..8"
    formula: Any
    symbolic: Callable[[Any], bool]
    wrong: Mapping[str, Any]
    numeric: Callable[[Any], bool] | None = None
    note: str = ""  # one sentence for the ledger page: what the check does

    def __post_init__(self) -> None:
        if not self.wrong:
            raise ValueError(f"wrong: claim {self.id!r} needs at least one wrong variant")


@dataclass(frozen=True)
class Result:
    """Outcome of checking one claim."""

    claim: Claim
    symbolic: bool
    numeric: bool | None
    rejected: Mapping[str, bool] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Symbolic check holds, numeric check holds (or does not apply), every variant rejected."""
        return (
            self.error is None
            and self.symbolic
            and self.numeric is not False
            and all(self.rejected.values())
        )

    def as_json(self) -> dict[str, Any]:
        """The object printed by ``python -m verified_transformer.claims --json``."""
        c = self.claim
        return {
            "id": c.id,
            "statement": c.statement,
            "source": c.source,
            "scope": c.scope,
            "symbolic": self.symbolic,
            "numeric": self.numeric,
            "passed": self.passed,
            "wrong_variants_rejected": dict(self.rejected),
            "error": self.error,
        }


def check(claim: Claim) -> Result:
    """Run the symbolic check on the formula and on every wrong variant, then the numeric check."""
    start = time.perf_counter()
    symbolic, numeric, rejected, errors = False, None, {}, []
    try:
        symbolic = bool(claim.symbolic(claim.formula))
        rejected = {name: not claim.symbolic(variant) for name, variant in claim.wrong.items()}
    except Exception as exc:  # a crashing check is a failing claim, reported with its reason
        errors.append(f"symbolic: {type(exc).__name__}: {exc}")
    if claim.numeric is not None:
        try:
            numeric = bool(claim.numeric(claim.formula))
        except Exception as exc:
            numeric = False
            errors.append(f"numeric: {type(exc).__name__}: {exc}")
    error = "; ".join(errors) or None
    return Result(claim, symbolic, numeric, rejected, error, time.perf_counter() - start)
