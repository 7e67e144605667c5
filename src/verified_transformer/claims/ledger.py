"""The claim record, the one checker that proves an equation, and the verdict that says how.

A claim states equations: ``formula`` is a tuple of *chains* ``(e_1, e_2, ...)``, each displayed
as ``e_1 = e_2 = ...`` and proved by :func:`chains_hold`. Operators (LayerNorm, softmax,
attention) are SymPy ``Function`` classes in :mod:`verified_transformer.derive` whose ``doit``
writes them out; abbreviations and conditions (``mu``, ``xhat_i``, ``epsilon = 0``) are the
claim's ``where`` pairs, displayed after the chains and substituted by the checker, so what the
page shows is what SymPy proved. A wrong variant is the same claim with other chains (a bare
chain replaces chain 0, ``{k: chain}`` replaces chain k); every one must fail. ``numeric`` names
one reference per implementation (torch's, ours), imported only when it runs.

Where an equation cannot say it (a definition's characterization, Ba et al.'s Table 1, a layer
composition, a measurement), a claim brings its own ``symbolic`` check or ``render``, and
``custom`` says in one line why.

Each claim has a kind (:data:`KINDS`): a *definition* is compared (with PyTorch's kernel and our
code, and by rejecting its wrong variants), never proved; an *identity* or *bound* is proved for
a symbolic size (``proof="proved"``) or checked over a stated finite range (``"checked"``); an
*empirical* statement is measured; a *refutation* shows the article's formula wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sympy as sp

from verified_transformer.derive.exact import equal

if TYPE_CHECKING:
    from verified_transformer.claims.formula import Blank, Program, Reader

KINDS = ("definition", "identity", "bound", "empirical", "refutation")
ORIGINS = ("paper", "derived", "standard")
PROOFS = ("proved", "checked", "measured")

# Short citations of the bib keys the ledger uses (tests/test_claims.py checks each one against
# the first author and year in references.bib).
CITATIONS: dict[str, str] = {
    "vaswani2017attention": "Vaswani et al. (2017)",
    "ba2016layer": "Ba et al. (2016)",
    "he2016deep": "He et al. (2016, Deep Residual Learning)",
    "he2016identity": "He et al. (2016, Identity Mappings)",
    "xiong2020layer": "Xiong et al. (2020)",
    "zhang2019root": "Zhang and Sennrich (2019)",
    "veit2016residual": "Veit et al. (2016)",
    "liu2020understanding": "Liu et al. (2020)",
    "wang2022deepnet": "Wang et al. (2022)",
    "wang2019learning": "Wang et al. (2019)",
    "radford2019language": "Radford et al. (2019)",
    "bachlechner2021rezero": "Bachlechner et al. (2021)",
    "nguyen2019transformers": "Nguyen and Salazar (2019)",
    "su2021roformer": "Su et al. (2021)",
    "glorot2010understanding": "Glorot and Bengio (2010)",
    "kingma2015adam": "Kingma and Ba (2015)",
    "he2015delving": "He et al. (2015)",
    "ioffe2015batch": "Ioffe and Szegedy (2015)",
    "salimans2016weight": "Salimans and Kingma (2016)",
    "srivastava2014dropout": "Srivastava et al. (2014)",
    "szegedy2016rethinking": "Szegedy et al. (2016)",
    "kim2025peri": "Kim et al. (2025)",
    "olmo2024furious": "Team OLMo et al. (2024)",
    "henry2020query": "Henry et al. (2020)",
    "dehghani2023scaling": "Dehghani et al. (2023)",
    "wortsman2024small": "Wortsman et al. (2024)",
    "zhu2025transformers": "Zhu et al. (2025)",
    "loshchilov2025ngpt": "Loshchilov et al. (2025)",
    "li2025mixln": "Li et al. (2025)",
}


# --- a numeric check, imported when it runs -------------------------------------------------------


@dataclass(frozen=True)
class NumericCheck:
    """``numeric_module.name`` (called with ``args`` first when it makes the check), imported
    only when the check runs: the claims, their displays, symbolic checks and readers import no
    torch; ``numeric`` is ``verified_transformer.claims.numeric_<topic>``."""

    module: str
    name: str
    args: tuple = ()
    reference: bool = False  # name(*args) is a numeric.Reference for the generic comparison

    def __call__(self, formula: Any, where: Where = ()) -> bool:
        import importlib

        check = getattr(importlib.import_module(f"verified_transformer.claims.{self.module}"),
                        self.name)
        if self.reference:
            from verified_transformer.claims.numeric import chains_agree

            return chains_agree(formula, where, check(*self.args))
        return check(*self.args)(formula) if self.args else check(formula)


def numeric_check(module: str) -> Callable[..., NumericCheck]:
    """``numeric_check("numeric_softmax")("definition")``: a :class:`NumericCheck` maker."""
    return lambda name, *args: NumericCheck(module, name, args)


def numeric_reference(module: str) -> Callable[..., NumericCheck]:
    """``numeric_reference("numeric_layernorm")("norms")``: the claim's chains are evaluated in
    float64 by :func:`~verified_transformer.claims.numeric.chains_agree`, each operator by each
    implementation, at the point ``numeric_layernorm.norms(*args)`` returns."""
    return lambda name, *args: NumericCheck(module, name, args, reference=True)


# --- equations: chains of equal expressions, and the one checker ---------------------------------

Chain = tuple  # (e_1, e_2, ...): e_1 = e_2 = ...
Where = tuple  # ((abbreviation or condition, what it stands for), ...)


def substitute(where: Where, e: sp.Basic) -> sp.Basic:
    """Replace each ``where`` left side by its right side, in order: a symbol everywhere; an
    entry ``base[i]`` at every index (``base[t]`` becomes the right side with ``i -> t``)."""
    for lhs, rhs in where:
        if isinstance(lhs, sp.Indexed):
            e = e.replace(
                lambda a, lhs=lhs: isinstance(a, sp.Indexed) and a.base == lhs.base,
                lambda a, lhs=lhs, rhs=rhs: rhs.xreplace(
                    dict(zip(lhs.indices, a.indices, strict=True))))
        else:
            e = e.xreplace({lhs: rhs})
    return e


def chains_hold(chains: tuple[Chain, ...], where: Where = (), simplify: Callable = sp.cancel,
                meaning: Callable[[Chain], Callable] | None = None) -> bool:
    """Every two neighbours of every chain are equal (SymPy, for the symbolic sizes) once the
    ``where`` pairs are substituted and operators, derivatives and sums written out by ``doit``
    (``where`` again after, for conditions on what ``doit`` wrote). Products of noncommutative
    symbols (matrices) are compared expanded. ``meaning(chain)`` adds a substitution per chain
    (a derivation whose steps rest on earlier ones)."""
    for chain in chains:
        extra = meaning(chain) if meaning else (lambda e: e)
        values = [substitute(where, extra(substitute(where, sp.sympify(e))).doit())
                  for e in chain]
        for a, b in zip(values, values[1:], strict=False):
            if not (a - b).is_commutative:
                if sp.expand(a - b) != 0:
                    return False
            elif not equal(a, b, simplify, sums=True):
                return False
    return True


def printed(chains: tuple[Chain, ...], where: Where = ()) -> tuple[str, ...]:
    """Each chain ``e_1 = e_2 = ...``, then the ``where`` pairs, printed by the book's printer."""
    from verified_transformer.claims.latex import latex

    return tuple(" = ".join(latex(e) for e in chain) for chain in chains + tuple(where))


def variant(chains: tuple[Chain, ...], change: Any) -> tuple[Chain, ...]:
    """A wrong variant's chains: ``{k: chain}`` replaces chain k, a bare chain replaces chain 0."""
    change = change if isinstance(change, Mapping) else {0: change}
    return tuple(change.get(k, chain) for k, chain in enumerate(chains))


# --- the claim ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One result the book states, with its source, its kind, its display and its checks."""

    id: str
    kind: str  # one of KINDS
    source: str | None  # references.bib key of the paper that states it; None: standard
    scope: str  # e.g. "symbolic n" or "n = 1..8"
    formula: Any  # the chains (custom claims: what their check takes)
    wrong: Mapping[str, Any]  # name -> other chains (see variant), or a custom claim's formula
    where: Where = ()  # abbreviations and conditions: displayed, and substituted by the checker
    simplify: Callable[[sp.Expr], sp.Expr] = sp.cancel  # what proves a difference zero
    meaning: Callable[[Chain], Callable] | None = None  # a substitution per chain (derivations)
    symbolic: Callable[[Any], bool] | None = None  # a custom check (say why in ``custom``)
    render: Callable[[Any], Sequence[str]] | None = None  # a custom display (say why)
    custom: str = ""  # one line: why this claim is not (only) an equation
    numeric: Callable[[Any], bool] | None = None
    compared: tuple[str, ...] = ()  # the torch functions the numeric check compares with
    ours: bool = True  # the numeric check also runs our verified_transformer.nn code
    origin: str = "paper"  # one of ORIGINS
    builds_on: tuple[str, ...] = ()  # bib keys a result derived here builds on
    proof: str = "proved"  # one of PROOFS: how the symbolic part holds over ``scope``
    note: str = ""  # one plain-text sentence for the ledger page
    reader: Blank | Program | Reader | None = None  # what check_formula reads (None: nothing)

    def __post_init__(self) -> None:
        if (self.symbolic or self.render) and not self.custom:
            raise ValueError(f"custom: claim {self.id!r} has its own check or display; say why")
        if not self.wrong:
            raise ValueError(f"wrong: claim {self.id!r} needs at least one wrong variant")
        if self.kind not in KINDS:
            raise ValueError(f"kind: claim {self.id!r} has kind {self.kind!r}; expected {KINDS}")
        if self.origin not in ORIGINS:
            raise ValueError(f"origin: claim {self.id!r}: {self.origin!r} not in {ORIGINS}")
        if self.proof not in PROOFS:
            raise ValueError(f"proof: claim {self.id!r}: {self.proof!r} not in {PROOFS}")
        if self.kind == "definition" and self.proof == "proved":
            raise ValueError(f"proof: claim {self.id!r} is a definition; it cannot be proved")
        if self.origin == "standard" and self.source is not None:
            raise ValueError(f"source: claim {self.id!r} is standard mathematics, give None")
        if self.origin != "standard" and self.source is None:
            raise ValueError(f"source: claim {self.id!r} needs a references.bib key")

    @cached_property
    def displays(self) -> tuple[str, ...]:
        """LaTeX (no ``$$``) of each displayed equation, generated from ``formula``."""
        shown = tuple(self.show(self.formula))
        if not shown or not all(isinstance(s, str) and s.strip() for s in shown):
            raise ValueError(f"render: claim {self.id!r} produced no display")
        return shown

    def show(self, formula: Any) -> tuple[str, ...]:
        """LaTeX of ``formula`` (the claim's, or a wrong variant's) as the page would show it."""
        return tuple(self.render(formula)) if self.render else printed(formula, self.where)

    def holds(self, formula: Any) -> bool:
        """The symbolic check, on the claim's formula or a wrong variant's."""
        if self.symbolic:
            return bool(self.symbolic(formula))
        return chains_hold(formula, self.where, self.simplify, self.meaning)

    @property
    def variants(self) -> dict[str, Any]:
        """Each wrong variant's formula (its chains, for an equation)."""
        if self.symbolic:
            return dict(self.wrong)
        return {name: variant(self.formula, change) for name, change in self.wrong.items()}

    def numeric_holds(self, formula: Any) -> bool:
        """The numeric check, on the claim's formula or a wrong variant's."""
        return bool(self.numeric(formula, self.where) if isinstance(self.numeric, NumericCheck)
                    else self.numeric(formula))

    def display(self, index: int = 0) -> str:
        """One displayed equation (``IndexError`` naming the claim when out of range)."""
        if not 0 <= index < len(self.displays):
            raise IndexError(
                f"index: claim {self.id!r} has {len(self.displays)} displays, got {index}"
            )
        return self.displays[index]

    @property
    def takes(self) -> str | None:
        """What :func:`~verified_transformer.claims.check_formula` accepts for this claim."""
        return None if self.reader is None else self.reader.takes

    @property
    def source_keys(self) -> tuple[str, ...]:
        """The bib keys to cite: the source, then what a derived result builds on."""
        keys = ([self.source] if self.source else []) + list(self.builds_on)
        return tuple(dict.fromkeys(keys))

    @property
    def attribution(self) -> str:
        """Who said it, in plain text: a paper, "derived here, building on ...", "standard"."""
        if self.origin == "standard":
            return "standard mathematics"
        papers = " and "
        if self.origin == "derived":
            names = papers.join(CITATIONS.get(k, k) for k in self.source_keys)
            return f"derived here, building on {names}"
        return CITATIONS.get(self.source, self.source)

    @property
    def verdict(self) -> str:
        """What its checks establish, in English sentences (:mod:`.verdicts`)."""
        from verified_transformer.claims.verdicts import sentences

        return " ".join(sentences(self))


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

    @property
    def verdict(self) -> str:
        """The claim's verdict when it passed; ``FAILED: ...`` with the reasons otherwise."""
        if self.passed:
            return self.claim.verdict
        reasons = [self.error] if self.error else []
        if not self.symbolic and not self.error:
            reasons.append("the symbolic check does not hold")
        if self.numeric is False and not self.error:
            reasons.append("the numeric check does not hold")
        accepted = [name for name, ok in self.rejected.items() if not ok]
        if accepted:
            reasons.append("wrong variants accepted: " + ", ".join(accepted))
        return "FAILED: " + "; ".join(reasons)

    def as_json(self) -> dict[str, Any]:
        """The object printed by ``python -m verified_transformer.claims --json``."""
        c = self.claim
        return {
            "id": c.id,
            "kind": c.kind,
            "displays": list(c.displays),
            "source": c.source,
            "attribution": c.attribution,
            "scope": c.scope,
            "verdict": self.verdict,
            "symbolic": self.symbolic,
            "numeric": self.numeric,
            "passed": self.passed,
            "wrong_variants_rejected": dict(self.rejected),
            "error": self.error,
        }


def verify(claim: Claim) -> Result:
    """Run the symbolic check on the formula and on every wrong variant, then the numeric check."""
    start = time.perf_counter()
    symbolic, numeric, rejected, errors = False, None, {}, []
    try:
        claim.displays  # noqa: B018  (a claim whose display cannot be generated fails)
    except Exception as exc:
        errors.append(f"display: {type(exc).__name__}: {exc}")
    try:
        symbolic = claim.holds(claim.formula)
        rejected = {name: not claim.holds(v) for name, v in claim.variants.items()}
    except Exception as exc:  # a crashing check is a failing claim, reported with its reason
        errors.append(f"symbolic: {type(exc).__name__}: {exc}")
    if claim.numeric is not None:
        try:
            numeric = claim.numeric_holds(claim.formula)
        except Exception as exc:
            numeric = False
            errors.append(f"numeric: {type(exc).__name__}: {exc}")
    error = "; ".join(errors) or None
    return Result(claim, symbolic, numeric, rejected, error, time.perf_counter() - start)
