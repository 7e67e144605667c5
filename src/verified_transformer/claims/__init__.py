"""The claims ledger: every formula the book states, with its source and its checks.

``CLAIMS`` lists them in book order; :func:`check` runs one, :func:`check_all` all of them.
``python -m verified_transformer.claims`` prints the ledger (``--json``, ``--markdown PATH``).
"""

from __future__ import annotations

from verified_transformer.claims import attention, layernorm, residual, seed, softmax
from verified_transformer.claims.ledger import Claim, Result, check

CLAIMS: tuple[Claim, ...] = (
    *attention.CLAIMS[:3],
    *softmax.CLAIMS,
    *attention.CLAIMS[3:],
    *residual.CLAIMS[:3],
    *layernorm.CLAIMS,
    *residual.CLAIMS[3:],
    *seed.CLAIMS,
)
BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}
if len(BY_ID) != len(CLAIMS):
    raise RuntimeError("claims: duplicate claim ids in the ledger")


def get(claim_id: str) -> Claim:
    """The claim with this id (``KeyError`` naming the known ids otherwise)."""
    try:
        return BY_ID[claim_id]
    except KeyError:
        raise KeyError(f"claim_id: unknown claim {claim_id!r}; known: {sorted(BY_ID)}") from None


def check_all() -> list[Result]:
    """Check every claim, in ledger order."""
    return [check(c) for c in CLAIMS]


__all__ = ["BY_ID", "CLAIMS", "Claim", "Result", "check", "check_all", "get"]
