"""What the Sphinx extension needs from the claims ledger, in one place.

Every field the ``{claim}`` directive renders comes through :func:`view`, so a change in the
ledger's interface is one edit here. The displayed LaTeX is the claim's own ``displays`` (generated
from the SymPy objects its checks consume); nothing on a page re-types it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


def _claims() -> ModuleType:
    """The ledger, imported when a page first needs it (it imports SymPy and torch)."""
    from verified_transformer import claims

    return claims


@dataclass(frozen=True)
class ClaimView:
    """A claim as a page shows it."""

    id: str
    kind: str  # one of claims.KINDS (definition, identity, bound, empirical, refutation)
    displays: tuple[str, ...]  # LaTeX without dollars, one per displayed equation
    verdict: str  # one plain-text line: the kind and what the declared checks check
    label: str  # the ledger page's target: "claim-" + id with dots as dashes


def known_ids() -> list[str]:
    """Every claim id of the ledger, sorted."""
    return sorted(_claims().BY_ID)


def unknown_id_message(claim_id: str) -> str:
    """The error for an id the ledger does not have, naming the id and the known ones."""
    return f"claim: unknown claim id {claim_id!r}; known ids: {', '.join(known_ids())}"


def view(claim_id: str) -> ClaimView:
    """The claim ``claim_id`` as the book shows it (``KeyError`` naming the known ids otherwise)."""
    claims = _claims()
    if claim_id not in claims.BY_ID:
        raise KeyError(unknown_id_message(claim_id))
    claim = claims.BY_ID[claim_id]
    return ClaimView(
        id=claim.id,
        kind=claim.kind,
        displays=tuple(claim.displays),
        verdict=claim.verdict,
        label=claims.label(claim.id),
    )


def set_translator(translate: Callable[[str], str]) -> None:
    """Route the ledger's verdict fragments through ``translate`` (``sphinx.locale``'s gettext)."""
    _claims().set_translator(translate)
