r"""``check_formula(claim_id, candidate)``: check a reader's own formula against a claim.

A claim that takes a reader's formula names the part of its equation a candidate stands for
(:class:`Blank`: chain 0's right side unless it says otherwise). The candidate (a SymPy expression
or LaTeX, in the symbols and operators the claim's own part uses; an entry formula also takes a
Python function) is compared exactly with that part, then with the same part of each wrong
variant; a counterexample is the first of the claim's points where they differ, else one found by
:func:`~verified_transformer.derive.exact.counterexample`. The answer is one sentence:

* ``Equal to layernorm.definition ...`` (the candidate is the claim, perhaps written another way),
* ``This is the unbiased-variance LayerNorm ...`` (it equals one of the claim's wrong variants),
* ``Different from layernorm.definition ...: at n = 3, x = (1, 2, 4), ...`` (a counterexample).

A candidate that cannot be read (unparsable LaTeX, an unknown symbol, a wrong shape, a function
that raises) gets a one-line ``Cannot check ...`` message; SymPy's and lark's tracebacks never
reach the reader. A part that is a map of named operands (a residual block, a layer) is read as a
program (:class:`Program`); the matrix form of attention brings its own :class:`Reader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from verified_transformer.derive.exact import Undecided, counterexample, equal, unroll_sums
from verified_transformer.i18n import Message, tr


class CandidateError(ValueError):
    """The candidate cannot be read; the message is one line for the reader (a
    :class:`~verified_transformer.i18n.Message` where it is ours)."""

    def problem(self) -> Message:
        """The message, as a Message (a plain one is its own, untranslated, msgid)."""
        message = self.args[0] if self.args else ""
        if isinstance(message, Message):
            return message
        return Message(str(self)) if str(self) else Message("{text}", {"text": ""})


@dataclass(frozen=True)
class Reader:
    """A claim's own reader: ``convert(candidate)`` gives an object of the claim's formula type
    (raises :class:`CandidateError`); ``same(a, b)`` is True or False where it can decide (None,
    or :class:`~verified_transformer.derive.exact.Undecided`, where it cannot); ``witness(a, b)``
    describes an input where they differ (None: none found); ``names`` gives a wrong variant's
    name as a noun phrase ("the unbiased-variance LayerNorm")."""

    takes: str
    convert: Callable[[Any], Any]
    same: Callable[[Any, Any], bool | None]
    witness: Callable[[Any, Any], str | None]
    names: Mapping[str, str] = field(default_factory=dict)

    def bind(self, formula: Any) -> Reader:
        return self


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _decide(reader: Reader, a: Any, b: Any) -> bool | None:
    """True / False, or None when neither an exact answer nor a differing input was found."""
    try:
        decided = reader.same(a, b)
    except Undecided:
        decided = None
    if decided is None:
        return True if reader.witness(a, b) is None else False
    return decided


def check_formula(claim_id: str, candidate: Any) -> Message:
    """Check ``candidate`` against the claim ``claim_id``; answer in one sentence.

    ``KeyError`` for an unknown claim id; every problem with the candidate itself is answered
    with a ``Cannot check ...`` sentence instead of an exception. The sentence is a
    :class:`~verified_transformer.i18n.Message`: its English text, translated where shown.
    """
    from verified_transformer.claims import get

    claim = get(claim_id)
    if claim.reader is None:
        return tr("Cannot check a formula against {claim}: this {kind} takes no formula of its "
                  "own; see its displays and its checks in the ledger.", claim=claim_id,
                  kind=Message(claim.kind))
    reader = claim.reader.bind(claim.formula)
    try:
        formula = reader.convert(candidate)
        if _decide(reader, formula, claim.formula):
            return tr("Equal to {claim}: the candidate is the claim's formula ({scope}).",
                      claim=claim_id, scope=Message(claim.scope))
        for name, variant in claim.variants.items():
            if _decide(reader, formula, variant):
                phrase = (Message(reader.names[name]) if name in reader.names
                          else tr("the wrong variant '{name}'", name=Message(name)))
                where = reader.witness(formula, claim.formula)
                if where:
                    return tr("This is {variant}, a named wrong variant of {claim}; it differs "
                              "from the claim {where}.", variant=phrase, claim=claim_id,
                              where=_message(where))
                return tr("This is {variant}, a named wrong variant of {claim}.", variant=phrase,
                          claim=claim_id)
        where = reader.witness(formula, claim.formula)
    except CandidateError as exc:
        return tr("Cannot check this candidate against {claim}: {problem}", claim=claim_id,
                  problem=exc.problem())
    except Exception as exc:  # a reader's function that raises, SymPy refusing an input, ...
        return tr("Cannot check this candidate against {claim}: {error}.", claim=claim_id,
                  error=_one_line(exc))
    if where is None:
        return tr("Different from {claim}, and from each of its named wrong variants.",
                  claim=claim_id)
    return tr("Different from {claim}, and from each of its named wrong variants: {where}.",
              claim=claim_id, where=_message(where))


def _message(text: str) -> Message:
    """A reader's sentence as a Message (a plain str is its own, untranslated, msgid)."""
    return text if isinstance(text, Message) else Message(text)


# --- reading LaTeX into SymPy -------------------------------------------------------------------

_LATEX_REWRITES = (
    (r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", ""),
    (r"\\(?:,|;|!|quad|qquad)", " "),
    (r"\\(?:epsilon|varepsilon)(?![a-zA-Z])", r"\\varepsilon"),
    (r"\\(?:tfrac|dfrac)", r"\\frac"),
    (r"\\(?:sigma|varsigma)(?![a-zA-Z])", r"\\upsilon"),  # the lark grammar has no sigma
    # "x_i (a + b)" is a product, not a function x_i applied to (a + b)
    (r"(_\{[^{}]*\}|_[A-Za-z0-9])\s*\(", r"\1 \\cdot ("),
)


def _top_level_rhs(text: str) -> str:
    """The part after the last ``=`` outside braces (``y_i = ...`` -> ``...``)."""
    depth, cut = 0, -1
    for pos, ch in enumerate(text):
        depth += (ch == "{") - (ch == "}")
        if ch == "=" and depth == 0:
            cut = pos
    return text[cut + 1 :]


def _alternatives(tree: Any) -> list[Any]:
    """The readings of an ambiguous lark parse (``_ambig`` trees), flattened."""
    data = getattr(tree, "data", None)
    if data is None:
        return [tree]
    if str(data) == "_ambig":
        return [alt for child in tree.children for alt in _alternatives(child)]
    raise CandidateError(tr("the LaTeX parser returned an incomplete reading; add parentheses"))


def parse_scalar_latex(text: str) -> sp.Expr:
    """A LaTeX formula as a SymPy expression (SymPy's parser, lark backend), symbols unresolved.

    A leading ``lhs =`` is dropped; ``\\epsilon`` is read as ``\\varepsilon``; where the parser
    finds several readings (the extent of a ``\\sum``), the one with the shortest summands is
    taken, as a reader means ``\\sum_k x_k^2 - \\mu^2``.
    """
    if not isinstance(text, str) or not text.strip():
        raise CandidateError(tr("the LaTeX string is empty"))
    from sympy.parsing.latex import parse_latex

    if re.search(r"\\upsilon(?![a-zA-Z])", text):
        raise CandidateError(tr("{symbol} is not a symbol of this formula", symbol="\\upsilon"))
    source = _top_level_rhs(text.strip().strip("$"))
    for pattern, replacement in _LATEX_REWRITES:
        source = re.sub(pattern, replacement, source)
    try:
        parsed = parse_latex(source, backend="lark")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(tr("unparsable LaTeX {text} ({error})", text=repr(text),
                                 error=first)) from None
    readings = [r.xreplace({s: sp.Symbol(s.name.replace("upsilon", "sigma"))
                            for s in r.atoms(sp.Symbol) if "upsilon" in s.name})
                for r in _alternatives(parsed) if isinstance(r, sp.Basic)]
    if not readings:
        raise CandidateError(tr("unparsable LaTeX {text}", text=repr(text)))
    return min(readings, key=lambda r: sum(sp.count_ops(s.function) for s in r.atoms(sp.Sum)))


# --- the vocabulary: read off the claim's own part ----------------------------------------------

_SYNONYMS = {"varepsilon": "epsilon", "eps": "epsilon"}


def _name(symbol: sp.Basic) -> str:
    name = re.sub(r"[{}\\ ]", "", str(getattr(symbol, "name", symbol)))
    return _SYNONYMS.get(name, name)


class Vocabulary:
    """The names a candidate may use, read off ``expressions`` (the claim's part): each symbol by
    its name (``sigma^2``, and ``sigma`` for its root), each ``IndexedBase`` as a family (``x_i``,
    ``x_k``, ``x_2``, subscripts the claim's indices, a sum's own index or a number),
    ``delta_ij`` where the part has a Kronecker delta, ``e``, and ``aliases``."""

    def __init__(self, expressions: Sequence[sp.Expr], aliases: Mapping[str, sp.Expr]) -> None:
        atoms = set().union(*(e.atoms(sp.Symbol, sp.Indexed) for e in expressions))
        bases = {a.base for a in atoms if isinstance(a, sp.Indexed)}
        symbols = {s for s in atoms if isinstance(s, sp.Symbol)} - {b.label for b in bases}
        indices = {t for a in atoms if isinstance(a, sp.Indexed) for t in a.indices} | {
            v for e in expressions for s in e.atoms(sp.Sum) for v in s.variables}
        names = {_name(s): s for s in symbols}
        names |= {n[:-2]: sp.sqrt(s) for n, s in names.items() if n.endswith("^2")}
        self.names = {"e": sp.E} | names | dict(aliases)
        self.families = {str(b.label): b for b in sorted(bases, key=str)}
        self.indices = {_name(s) for s in indices if s in symbols}
        self.own, self.delta = atoms, any(e.has(sp.KroneckerDelta) for e in expressions)

    def describe(self) -> str:
        shown = sorted(n for n in self.names if n not in self.indices | {"e"})
        return ", ".join(shown + [f"{b}_i" for b in self.families])

    def resolve(self, expr: Any) -> sp.Expr:
        """The candidate in the claim's own symbols (``CandidateError`` on unknowns)."""
        try:
            expr = sp.sympify(expr)
        except (sp.SympifyError, TypeError) as exc:
            raise CandidateError(tr("not a formula: {error}", error=_one_line(exc))) from None
        if not isinstance(expr, sp.Expr):
            raise CandidateError(tr("expected a scalar expression, got {type}",
                                     type=type(expr).__name__))
        if isinstance(expr, sp.MatrixExpr) or expr.has(sp.MatrixSymbol):
            raise CandidateError(tr("expected a scalar formula for one entry, got a matrix"))
        bound = {_name(v) for s in expr.atoms(sp.Sum) for v in s.variables}
        juxtaposed = {}  # the parser reads "gamma_i (x_i - mu)" as gamma_i applied to (x_i - mu)
        for f in sorted(expr.atoms(sp.core.function.AppliedUndef), key=str):
            try:
                juxtaposed[f] = self._meaning(sp.Symbol(str(f.func)), bound) * sp.Mul(*f.args)
            except CandidateError:
                pass
        expr = expr.xreplace(juxtaposed)
        undefined = sorted({str(f.func) for f in expr.atoms(sp.core.function.AppliedUndef)})
        if undefined:
            raise CandidateError(tr("unknown function {name}; use only {names}, exp, sqrt, sums",
                                    name=repr(undefined[0]), names=self.describe()))
        for a in sorted(expr.atoms(sp.Indexed), key=str):
            if a.base not in self.families.values():
                raise CandidateError(tr("unknown symbol {name}; use {names}", name=repr(str(a)),
                                         names=self.describe()))
        return expr.xreplace({s: self._meaning(s, bound) for s in sorted(
            expr.atoms(sp.Symbol), key=str) if s not in self.own})

    def _meaning(self, symbol: sp.Symbol, bound: set[str]) -> sp.Expr:
        name, indices = _name(symbol), self.indices | bound
        if name in self.names:
            return self.names[name]
        if name in indices:
            return sp.Symbol(name, integer=True, positive=True)
        family = re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)
        if family and family.group(1) in self.families:
            sub = family.group(2)
            if sub.isdigit() or sub in indices:
                return self.families[family.group(1)][self._meaning(sp.Symbol(sub), bound)
                                                       if not sub.isdigit() else int(sub)]
        delta = re.fullmatch(r"delta_([a-z])([a-z])", name)
        if self.delta and delta and set(delta.groups()) <= indices:
            return sp.KroneckerDelta(*(sp.Symbol(t, integer=True, positive=True)
                                       for t in delta.groups()))
        raise CandidateError(tr("unknown symbol {name}; use {names}", name=repr(name),
                                 names=self.describe()))


def format_number(value: Any) -> str:
    """A number for a counterexample sentence: exact rationals as such, floats to 4 digits."""
    value = sp.nsimplify(value) if isinstance(value, int) else sp.sympify(value)
    if value.is_Rational:
        return str(value)
    return f"{float(value):.4g}"


# --- the reader derived from the equation ---------------------------------------------------------


@dataclass(frozen=True)
class Numeric:
    """A reader's Python function, compared by its values at the claim's points."""

    function: Callable[..., Any]


def _point_text(point: Mapping[sp.Basic, Any]) -> str:
    show = lambda v: (format_number(sp.nsimplify(v)) if not isinstance(v, list)  # noqa: E731
                      else "(" + ", ".join(str(sp.nsimplify(u)) for u in v) + ")")
    return ", ".join(re.sub(r"\[(\w+)\]", r"_\1", f"{_name(s)} = {show(v)}")
                     for s, v in point.items())


@dataclass(frozen=True)
class Blank:
    """A claim's reader derived from its equation: a candidate stands for ``part(chains)`` (chain
    0's right side by default), written out by ``write`` (the claim's abbreviations) before it is
    compared, in the vocabulary of the claim's own part (plus ``aliases``). ``points`` (symbol ->
    value, an ``IndexedBase`` -> its entries) are where a counterexample is looked for first (then
    :func:`~verified_transformer.derive.exact.counterexample` finds one) and where a Python
    function is run (on the entries as float64 tensors, then the other values);
    an entry formula's free index runs over 1..n there. ``output`` names the value in sentences,
    ``names`` each wrong variant as a noun phrase."""

    takes: str
    output: str
    names: Mapping[str, str]
    part: Callable[[tuple], sp.Expr] = lambda chains: chains[0][-1]
    write: Callable[[sp.Expr], sp.Expr] = lambda e: e
    points: Sequence[Mapping[sp.Basic, Any]] = ()
    aliases: Mapping[str, sp.Expr] = field(default_factory=dict)
    simplify: Callable[[sp.Expr], sp.Expr] = sp.simplify

    def bind(self, formula: tuple) -> Reader:
        claim = self.write(self.part(formula))
        vocabulary = Vocabulary((self.part(formula), claim), self.aliases)
        takes_functions = any(isinstance(v, list) for p in self.points for v in p.values())

        def value(f: Any) -> Any:
            return self.write(self.part(f) if isinstance(f, tuple) else f)

        def convert(candidate: Any) -> Any:
            if callable(candidate) and not isinstance(candidate, sp.Basic):
                if takes_functions:
                    return Numeric(candidate)
                raise CandidateError(tr("expected a SymPy expression or a LaTeX string, got a "
                                        "function"))
            if isinstance(candidate, str):
                candidate = parse_scalar_latex(candidate)
            return vocabulary.resolve(candidate)

        def values(f: Any, point: Mapping, index: list) -> list:
            entries = {b[t]: sp.nsimplify(u) for b, v in point.items() if isinstance(v, list)
                       for t, u in enumerate(v, 1)}
            scalars = {s: sp.nsimplify(v) for s, v in point.items() if not isinstance(v, list)}
            size = next((v for s, v in scalars.items() if s.is_integer), 1) if index else 1
            if isinstance(f, Numeric):
                return _run(f, point, size)
            out = []
            for t in range(1, size + 1):
                e = unroll_sums(value(f).xreplace({s: t for s in index} | scalars))
                v = e.xreplace(entries | scalars).evalf(30)
                if not v.is_number:
                    missing = ", ".join(sorted(map(str, v.free_symbols)))
                    raise CandidateError(tr("the formula still contains {symbols}",
                                            symbols=missing))
                out.append(complex(v).real if v.is_finite else float("nan"))
            return out

        def witness(a: Any, b: Any) -> str | None:
            def points() -> Iterator[Mapping]:
                yield from self.points
                found = None if isinstance(a, Numeric) else counterexample(value(a) - value(b))
                yield from [found] if found else []

            for point in points():
                index = [s for s in claim.free_symbols if s.is_integer and s not in point]
                got, want = (values(f, point, index) for f in (a, b))
                for t, (u, v) in enumerate(zip(got, want, strict=True), 1):
                    if not abs(u - v) <= 1e-9 + 1e-9 * abs(v):
                        label = f"{self.output}_{t}" if index else self.output
                        return tr("at {point}, the candidate gives {label} = {got} but the "
                                  "claim gives {want}", point=_point_text(point), label=label,
                                  got=format_number(u), want=format_number(v))
            return None

        def same(a: Any, b: Any) -> bool | None:
            if isinstance(a, Numeric):
                return witness(a, b) is None
            return equal(value(a), value(b), self.simplify, sums=True)

        return Reader(self.takes, convert, same, witness, self.names)


def _run(f: Numeric, point: Mapping, size: int) -> list[float]:
    """A Python function's values at a point (torch imported only here)."""
    import torch

    arguments = [torch.tensor([float(u) for u in v], dtype=torch.float64)
                 for v in point.values() if isinstance(v, list)]
    arguments += [float(v) for s, v in point.items()
                  if not isinstance(v, list) and not s.is_integer]
    try:
        out = f.function(*arguments)
    except Exception as exc:
        raise CandidateError(tr("the function raised {error}", error=_one_line(exc))) from None
    try:
        flat = torch.as_tensor(out, dtype=torch.float64).reshape(-1).tolist()
    except Exception as exc:
        raise CandidateError(tr("the function returned no tensor ({error})",
                                 error=_one_line(exc))) from None
    if len(flat) != size:
        raise CandidateError(tr("the function returned {count} values for an input of size {size}",
                                count=len(flat), size=size))
    return flat


@dataclass(frozen=True)
class Program:
    """A reader for a part that is a map of named ``operands`` (the claim's own undefined symbols
    and maps, in the order a Python function takes them): a LaTeX program
    (:func:`~verified_transformer.claims.notation.read_program`) or a Python function of them,
    compared with the claim's (chain 0's right side, or the claim's own composition) as the
    expression tree it builds from them; ``evidence(a, b)`` adds a measurement to a witness."""

    takes: str
    operands: Mapping[str, Any]
    names: Mapping[str, str]
    evidence: Callable[[Callable, Callable], str] = lambda a, b: ""

    def bind(self, formula: Any) -> Reader:
        from verified_transformer.claims.latex import latex
        from verified_transformer.claims.notation import read_program

        def tree(f: Any) -> Any:
            if isinstance(f, tuple):
                return f[0][-1]
            try:
                return f(*self.operands.values())
            except CandidateError:
                raise
            except Exception as exc:
                raise CandidateError(tr("the function raised {error}",
                                        error=_one_line(exc))) from None

        def convert(candidate: Any) -> Callable:
            def program(*values: Any) -> Any:
                return read_program(candidate, dict(zip(self.operands, values, strict=True)))

            if not isinstance(candidate, str) and not callable(candidate):
                raise CandidateError(tr("expected a LaTeX string or a Python function of "
                                        "{operands}, got {type}", operands=", ".join(self.operands),
                                        type=type(candidate).__name__))
            function = program if isinstance(candidate, str) else candidate
            tree(function)  # read once now, so that errors surface here
            return function

        def witness(a: Any, b: Any) -> str | None:
            if tree(a) == tree(b):
                return None
            maps = ", ".join(k for k, v in self.operands.items() if isinstance(v, type))
            evidence = self.evidence(a, b)
            if evidence:
                return tr("for arbitrary {maps} the candidate is {candidate}, the claim {claim}; "
                          "{evidence}", maps=maps, candidate=latex(tree(a)),
                          claim=latex(tree(b)), evidence=_message(evidence))
            return tr("for arbitrary {maps} the candidate is {candidate}, the claim {claim}",
                      maps=maps, candidate=latex(tree(a)), claim=latex(tree(b)))

        return Reader(self.takes, convert, lambda a, b: tree(a) == tree(b), witness, self.names)
