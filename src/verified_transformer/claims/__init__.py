"""The claims ledger: every result the book states, with its kind, display, source and checks.

``CLAIMS`` lists them in book order (:data:`~verified_transformer.claims.order.BOOK_ORDER`);
:func:`verify` runs one claim's checks (a reader's answer to an exercise is
``exercises.check``), :func:`verify_all` all of them; :func:`check_formula` checks a reader's own
formula against a claim; :mod:`.verdicts` says in sentences what a claim's checks establish.
``python -m verified_transformer.claims`` prints the ledger (``--json``).

Registering claims: a topic module (``claims/<topic>.py``) exports ``CLAIMS``, a tuple of
:class:`Claim`, each an equation (chains over the operators of ``verified_transformer.derive``, see
:mod:`.ledger`) unless its ``custom`` reason says why not; list the module in ``MODULES`` below
(one line per module) and add each id to ``BOOK_ORDER`` in ``claims/order.py`` where the book
states it. Topic modules do not import each other, and import no torch: their numeric checks live
in ``claims/numeric_<topic>.py``, named by ``numeric_check`` and imported when they run, so the
displays, the symbolic checks and ``check_formula`` on a formula run where torch does not
(tests/test_claims.py blocks it). Shared symbolic fixtures are in ``claims/fixtures.py``, torch
ones in ``claims/numeric.py``, derivations in ``verified_transformer.derive``.
"""

from __future__ import annotations

import importlib

from verified_transformer.claims.formula import check_formula
from verified_transformer.claims.ledger import (
    KINDS,
    Claim,
    Result,
    verify,
)
from verified_transformer.claims.order import BOOK_ORDER
from verified_transformer.claims.report import label

MODULES: tuple[str, ...] = (
    "verified_transformer.claims.attention",
    "verified_transformer.claims.softmax",
    "verified_transformer.claims.residual",
    "verified_transformer.claims.layernorm",
    "verified_transformer.claims.seed",
    "verified_transformer.claims.positions",
    "verified_transformer.claims.training",
    "verified_transformer.claims.placements",
    "verified_transformer.claims.derivations",
)


def _registered() -> dict[str, Claim]:
    found: dict[str, Claim] = {}
    for name in MODULES:
        for claim in importlib.import_module(name).CLAIMS:
            if claim.id in found:
                raise RuntimeError(f"claims: duplicate claim id {claim.id!r} (in {name})")
            found[claim.id] = claim
    return found


REGISTERED: dict[str, Claim] = _registered()
# Differences between BOOK_ORDER and the registered claims (tests/test_claims.py requires none;
# an unordered claim is still listed, after the ordered ones, so nothing goes missing).
ORDER_PROBLEMS: tuple[str, ...] = tuple(
    [f"{i!r} is in BOOK_ORDER but no module registers it" for i in BOOK_ORDER
     if i not in REGISTERED]
    + [f"{i!r} is registered but not in BOOK_ORDER" for i in REGISTERED if i not in BOOK_ORDER]
    + [f"{i!r} appears twice in BOOK_ORDER" for i in set(BOOK_ORDER) if BOOK_ORDER.count(i) > 1]
)
CLAIMS: tuple[Claim, ...] = tuple(
    [REGISTERED[i] for i in dict.fromkeys(BOOK_ORDER) if i in REGISTERED]
    + [c for i, c in REGISTERED.items() if i not in BOOK_ORDER]
)
BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}


def get(claim_id: str) -> Claim:
    """The claim with this id (``KeyError`` naming the known ids otherwise)."""
    try:
        return BY_ID[claim_id]
    except KeyError:
        raise KeyError(f"claim_id: unknown claim {claim_id!r}; known: {sorted(BY_ID)}") from None


def verify_all() -> list[Result]:
    """Check every claim, in ledger order."""
    return [verify(c) for c in CLAIMS]


__all__ = [
    "BOOK_ORDER",
    "BY_ID",
    "CLAIMS",
    "KINDS",
    "MODULES",
    "ORDER_PROBLEMS",
    "Claim",
    "Result",
    "verify_all",
    "check_formula",
    "get",
    "label",
    "verify",
]
