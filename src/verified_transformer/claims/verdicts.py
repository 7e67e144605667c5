"""What a claim's checks establish, in whole sentences made from its structured fields.

The book (``{claim}`` badges and the ledger page) and the command line say the same words. Every
sentence is one message: ``gettext`` and ``ngettext`` translate it whole (the Sphinx extension
passes its catalog's; the default is English), then the claim's values fill its fields. Nothing
is glued from translated fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def _english(message: str) -> str:
    return message


def _english_plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def join(items: list[str], _: Gettext = _english) -> str:
    """``a and b``, ``a, b, and c``: a list in the language's own patterns (as CLDR's)."""
    if len(items) < 2:
        return "".join(items)
    if len(items) == 2:
        return _("{a} and {b}").format(a=items[0], b=items[1])
    head = items[0]
    for item in items[1:-1]:
        head = _("{a}, {b}").format(a=head, b=item)
    return _("{a}, and {b}").format(a=head, b=items[-1])


def kind_name(kind: str, _: Gettext = _english) -> str:
    """The name of a claim's kind (``definition``, ``identity``, ...), as the badge shows it."""
    return {
        "definition": _("definition"),
        "identity": _("identity"),
        "bound": _("bound"),
        "empirical": _("empirical"),
        "refutation": _("refutation"),
    }[kind]


def kind_count(kind: str, n: int, ngettext: Ngettext = _english_plural) -> str:
    """``13 definitions``, ``1 bound``: how many claims of a kind the ledger holds."""
    phrase = {
        "definition": ngettext("{n} definition", "{n} definitions", n),
        "identity": ngettext("{n} identity", "{n} identities", n),
        "bound": ngettext("{n} bound", "{n} bounds", n),
        "empirical": ngettext("{n} empirical statement", "{n} empirical statements", n),
        "refutation": ngettext("{n} refutation", "{n} refutations", n),
    }[kind]
    return phrase.format(n=n)


def _how(claim: Any, _: Gettext) -> str:
    """How the statement holds over its scope (the first sentence of a verdict)."""
    if claim.kind == "refutation":
        return _("The article's formula is refuted for {scope}.")
    if claim.kind == "empirical" or claim.proof == "measured":
        return _("Measured: {scope}.")
    if claim.kind == "definition":
        return _("Compared, not proved; its properties checked for {scope}.")
    if claim.proof == "proved":
        return _("Proved for {scope}.")
    return _("Checked for {scope}.")


def _numeric(claim: Any, _: Gettext) -> str | None:
    """What the float64 comparison compares with, or None when the claim has no numeric check."""
    if claim.numeric is None:
        return None
    if not claim.compared:
        return _("Checked numerically in float64.")
    if claim.ours:
        return _("In float64, it agrees numerically with our implementation as well as with "
                 "{functions}.")
    return _("In float64, it agrees numerically with {functions}.")


def sentences(
    claim: Any,
    gettext: Gettext = _english,
    ngettext: Ngettext = _english_plural,
) -> list[str]:
    """The verdict of ``claim``: how it holds over its scope, what it is compared with
    numerically, how many wrong variants its checks reject."""
    out = [_how(claim, gettext).format(scope=gettext(claim.scope))]
    numeric = _numeric(claim, gettext)
    if numeric is not None:
        out.append(numeric.format(functions=join(list(claim.compared), gettext)))
    n = len(claim.wrong)
    out.append(ngettext("{n} wrong variant rejected.", "{n} wrong variants rejected.", n)
               .format(n=n))
    return out
