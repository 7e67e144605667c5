r"""``check_formula(claim_id, candidate)``: check a reader's own formula against a claim.

A claim that takes a reader's formula has a :class:`Reader`: it turns the candidate (a SymPy
expression, a LaTeX string, or a Python function, as ``claim.takes`` says) into an object of the
claim's formula type, decides whether two such objects are the same formula, and finds a concrete
input where they differ. The answer is one sentence:

* ``Equal to layernorm.definition ...`` (the candidate is the claim, perhaps written another way),
* ``This is the unbiased-variance LayerNorm ...`` (it equals one of the claim's wrong variants),
* ``Different from layernorm.definition ...: at n = 3, x = (1, 2, 4), ...`` (a counterexample).

A candidate that cannot be read (unparsable LaTeX, an unknown symbol, a wrong shape, a function
that raises) gets a one-line ``Cannot check ...`` message; SymPy's and lark's tracebacks never
reach the reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from verified_transformer.derive.exact import Undecided


class CandidateError(ValueError):
    """The candidate cannot be read; the message is one line for the reader."""


@dataclass(frozen=True)
class Reader:
    """How a claim reads, compares and refutes a candidate formula.

    ``convert(candidate)`` returns an object of the claim's formula type (raises
    :class:`CandidateError`); ``same(a, b)`` returns True or False, exactly where it can (raising
    :class:`~verified_transformer.derive.exact.Undecided` or returning None when it cannot
    decide); ``witness(a, b)`` returns a plain-text description of an input where ``a`` and
    ``b`` differ, or None when none was found. ``names`` gives a wrong variant's name as a noun
    phrase ("the unbiased-variance LayerNorm").
    """

    takes: str
    convert: Callable[[Any], Any]
    same: Callable[[Any, Any], bool | None]
    witness: Callable[[Any, Any], str | None]
    names: Mapping[str, str] = field(default_factory=dict)


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


def check_formula(claim_id: str, candidate: Any) -> str:
    """Check ``candidate`` against the claim ``claim_id``; answer in one sentence.

    ``KeyError`` for an unknown claim id; every problem with the candidate itself is answered
    with a ``Cannot check ...`` sentence instead of an exception.
    """
    from verified_transformer.claims import get

    claim = get(claim_id)
    reader = claim.reader
    if reader is None:
        return (
            f"Cannot check a formula against {claim_id}: this {claim.kind} takes no formula of "
            "its own; see its displays and its checks in the ledger."
        )
    try:
        formula = reader.convert(candidate)
    except CandidateError as exc:
        return f"Cannot check this candidate against {claim_id}: {exc}"
    except Exception as exc:  # a reader's function that raises, SymPy refusing an input, ...
        return f"Cannot check this candidate against {claim_id}: {_one_line(exc)}."
    try:
        if _decide(reader, formula, claim.formula):
            return f"Equal to {claim_id}: the candidate is the claim's formula ({claim.scope})."
        for name, variant in claim.variants.items():
            if _decide(reader, formula, variant):
                phrase = reader.names.get(name, f"the wrong variant '{name}'")
                where = reader.witness(formula, claim.formula)
                tail = f"; it differs from the claim {where}" if where else ""
                return f"This is {phrase}, a named wrong variant of {claim_id}{tail}."
        where = reader.witness(formula, claim.formula)
    except CandidateError as exc:
        return f"Cannot check this candidate against {claim_id}: {exc}"
    except Exception as exc:
        return f"Cannot check this candidate against {claim_id}: {_one_line(exc)}."
    if where is None:
        return f"Different from {claim_id}, and from each of its named wrong variants."
    return f"Different from {claim_id}, and from each of its named wrong variants: {where}."


# --- reading scalar formulas: SymPy expressions and LaTeX ---------------------------------------

_LATEX_REWRITES = (
    (r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", ""),
    (r"\\(?:,|;|!|quad|qquad)", " "),
    (r"\\(?:epsilon|varepsilon)(?![a-zA-Z])", r"\\varepsilon"),
    (r"\\(?:tfrac|dfrac)", r"\\frac"),
    (r"\\exp(?![a-zA-Z])", r"\\exp"),
    (r"\\(?:sigma|varsigma)(?![a-zA-Z])", r"\\upsilon"),  # the lark grammar has no sigma
    # "x_i (a + b)" is a product, not a function x_i applied to (a + b)
    (r"(_\{[^{}]*\}|_[A-Za-z0-9])\s*\(", r"\1 \\cdot ("),
)


def _top_level_rhs(text: str) -> str:
    """The part after the last ``=`` outside braces (``y_i = ...`` -> ``...``)."""
    depth, cut = 0, -1
    for pos, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "=" and depth == 0:
            cut = pos
    return text[cut + 1 :] if cut >= 0 else text


def _alternatives(tree: Any) -> list[Any]:
    """The readings of an ambiguous lark parse (``_ambig`` trees), flattened."""
    data = getattr(tree, "data", None)
    if data is None:
        return [tree]
    if str(data) == "_ambig":
        return [alt for child in tree.children for alt in _alternatives(child)]
    raise CandidateError("the LaTeX parser returned an incomplete reading; add parentheses")


def _sum_extent(expr: sp.Expr) -> int:
    return sum(sp.count_ops(s.function) for s in expr.atoms(sp.Sum))


def parse_scalar_latex(text: str) -> sp.Expr:
    """A LaTeX formula as a SymPy expression (SymPy's parser, lark backend), symbols unresolved.

    A leading ``lhs =`` is dropped; ``\\epsilon`` is read as ``\\varepsilon``; where the parser
    finds several readings (the extent of a ``\\sum``), the one with the shortest summands is
    taken, as a reader means ``\\sum_k x_k^2 - \\mu^2``.
    """
    if not isinstance(text, str) or not text.strip():
        raise CandidateError("the LaTeX string is empty")
    from sympy.parsing.latex import parse_latex

    if re.search(r"\\upsilon(?![a-zA-Z])", text):
        raise CandidateError("\\upsilon is not a symbol of this formula")
    source = _top_level_rhs(text.strip().strip("$"))
    for pattern, replacement in _LATEX_REWRITES:
        source = re.sub(pattern, replacement, source)
    try:
        parsed = parse_latex(source, backend="lark")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(f"unparsable LaTeX {text!r} ({first})") from None
    readings = [r for r in _alternatives(parsed) if isinstance(r, sp.Basic)]
    readings = [
        r.xreplace(
            {s: sp.Symbol(str(s.name).replace("upsilon", "sigma")) for s in r.free_symbols
             if isinstance(s, sp.Symbol) and "upsilon" in str(s.name)}
        )
        for r in readings
    ]
    if not readings:
        raise CandidateError(f"unparsable LaTeX {text!r}")
    return min(readings, key=_sum_extent)


def _name(symbol: sp.Symbol) -> str:
    return re.sub(r"[{}\\ ]", "", str(symbol.name))


@dataclass(frozen=True)
class Vocabulary:
    """The names a scalar candidate may use: ``names`` maps a symbol name (braces and backslashes
    removed: ``x_{i}`` -> ``x_i``) to its meaning; ``families`` maps a base name to an
    ``IndexedBase`` so that ``x_k`` and ``x_i`` become ``x[k]``, ``x[i]``; ``indices`` maps index
    names to the derivation's integer symbols."""

    names: Mapping[str, sp.Expr]
    families: Mapping[str, sp.IndexedBase]
    indices: Mapping[str, sp.Symbol]
    allowed: frozenset = frozenset()  # SymPy atoms accepted as they are (the derivation's own)

    def describe(self) -> str:
        fams = [f"{b}_i" for b in self.families]
        return ", ".join(sorted(set(self.names) - {"e", "pi"}) + fams)

    def resolve(self, expr: Any) -> sp.Expr:
        """Replace the reader's symbols by the derivation's (``CandidateError`` on unknowns)."""
        try:
            expr = sp.sympify(expr)
        except (sp.SympifyError, TypeError) as exc:
            raise CandidateError(f"not a formula: {_one_line(exc)}") from None
        if not isinstance(expr, sp.Expr):
            raise CandidateError(f"expected a scalar expression, got {type(expr).__name__}")
        if isinstance(expr, sp.MatrixExpr) or expr.has(sp.MatrixSymbol):
            raise CandidateError("expected a scalar formula for one entry, got a matrix")
        # the parser reads "gamma_i (x_i - mu)" as a function gamma_i applied to (x_i - mu)
        juxtaposed = {}
        for f in expr.atoms(sp.core.function.AppliedUndef):
            try:
                juxtaposed[f] = self._meaning(sp.Symbol(str(f.func))) * sp.Mul(*f.args)
            except CandidateError:
                pass
        expr = expr.xreplace(juxtaposed)
        undefined = sorted({str(f.func) for f in expr.atoms(sp.core.function.AppliedUndef)})
        if undefined:
            raise CandidateError(
                f"unknown function {undefined[0]!r}; use only {self.describe()}, exp, sqrt, sums"
            )
        own: set[sp.Basic] = set(self.indices.values())  # the derivation's own symbols
        for meaning in self.names.values():
            own |= sp.sympify(meaning).free_symbols
        own |= {b.label for b in self.families.values()}
        table: dict[sp.Basic, sp.Expr] = {}
        for symbol in expr.free_symbols | {
            v for s in expr.atoms(sp.Sum) for v in s.variables
        }:
            if symbol in self.allowed or symbol in own or not isinstance(symbol, sp.Symbol):
                continue
            if any(symbol == b.label for b in self.families.values()):
                continue
            table[symbol] = self._meaning(symbol)
        resolved = expr.xreplace(table)
        known_bases = set(self.families.values()) | {
            a.base for m in self.names.values() for a in sp.sympify(m).atoms(sp.Indexed)
        }
        for base in expr.atoms(sp.Indexed):
            if base.base not in known_bases:
                raise CandidateError(f"unknown symbol {str(base)!r}; use {self.describe()}")
        return resolved

    def _meaning(self, symbol: sp.Symbol) -> sp.Expr:
        name = _name(symbol)
        if name in self.names:
            return self.names[name]
        if name in self.indices:
            return self.indices[name]
        match = re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)
        if match and match.group(1) in self.families:
            sub = match.group(2)
            if sub.isdigit():
                return self.families[match.group(1)][int(sub)]
            if sub in self.indices:
                return self.families[match.group(1)][self.indices[sub]]
        raise CandidateError(f"unknown symbol {name!r}; use {self.describe()}")


def read_scalar(candidate: Any, vocabulary: Vocabulary) -> sp.Expr:
    """A SymPy expression or LaTeX string in ``vocabulary``, as the derivation's expression."""
    if isinstance(candidate, str):
        candidate = parse_scalar_latex(candidate)
    if callable(candidate) and not isinstance(candidate, sp.Basic):
        raise CandidateError("expected a SymPy expression or a LaTeX string, got a function")
    return vocabulary.resolve(candidate)


def format_number(value: Any) -> str:
    """A number for a counterexample sentence: exact rationals as such, floats to 4 digits."""
    value = sp.nsimplify(value) if isinstance(value, int) else sp.sympify(value)
    if value.is_Rational:
        return str(value)
    return f"{float(value):.4g}"


# --- readers for "entry" formulas: one output component as a function of its index ----------------


@dataclass(frozen=True)
class Point:
    """One concrete input: its description, the size ``n``, the values of the symbols (for a
    symbolic formula) and the arguments of a reader's Python function (a list of numbers is
    passed as a 1-D float64 tensor, made only when a function is checked)."""

    text: str
    size: int
    values: Mapping[sp.Basic, sp.Expr]
    arguments: tuple


@dataclass(frozen=True)
class Numeric:
    """A reader's Python function, compared by its values at the reader's points."""

    function: Callable[..., Any]


def _values(
    formula: Any, point: Point, expression: Callable[[Any, sp.Expr], sp.Expr], size: sp.Symbol
) -> list[float]:
    from verified_transformer.derive.exact import unroll_sums

    if isinstance(formula, Numeric):
        import torch

        arguments = [
            torch.tensor(a, dtype=torch.float64) if isinstance(a, list) else a
            for a in point.arguments
        ]
        try:
            out = formula.function(*arguments)
        except Exception as exc:
            raise CandidateError(f"the function raised {_one_line(exc)}") from None
        try:
            flat = torch.as_tensor(out, dtype=torch.float64).reshape(-1).tolist()
        except Exception as exc:
            raise CandidateError(f"the function returned no tensor ({_one_line(exc)})") from None
        if len(flat) != point.size:
            raise CandidateError(
                f"the function returned {len(flat)} values for an input of size {point.size}"
            )
        return flat
    out = []
    for t in range(1, point.size + 1):
        e = unroll_sums(expression(formula, sp.Integer(t)).xreplace({size: point.size}))
        value = e.xreplace(dict(point.values)).evalf(30)
        if not value.is_number:
            missing = sorted(map(str, value.free_symbols))
            raise CandidateError(f"the formula still contains {', '.join(missing)}")
        out.append(complex(value).real if value.is_finite else float("nan"))
    return out


def entry_reader(
    *,
    takes: str,
    vocabulary: Vocabulary,
    build: Callable[[sp.Expr], Any],
    expression: Callable[[Any, sp.Expr], sp.Expr],
    index: sp.Symbol,
    size: sp.Symbol,
    points: Sequence[Point],
    output: str,
    simplifier: Callable[[sp.Expr], sp.Expr] = sp.cancel,
    names: Mapping[str, str] | None = None,
) -> Reader:
    """A :class:`Reader` for claims whose formula is one entry as a function of its index.

    ``build(expr)`` turns the reader's expression (free index ``index``) into the claim's formula
    type; ``expression(formula, t)`` is the entry ``t`` of any formula of that type, written out
    in the derivation's symbols; ``points`` are the concrete inputs of counterexamples and of the
    comparison of Python functions; ``output`` names the entry in sentences (``y``).
    """
    from verified_transformer.derive.exact import equal

    def convert(candidate: Any) -> Any:
        if callable(candidate) and not isinstance(candidate, sp.Basic):
            return Numeric(candidate)
        expr = read_scalar(candidate, vocabulary)
        return build(expr)

    def same(a: Any, b: Any) -> bool | None:
        if isinstance(a, Numeric) or isinstance(b, Numeric):
            return witness(a, b) is None
        return equal(expression(a, index), expression(b, index), simplifier, sums=True)

    def witness(a: Any, b: Any) -> str | None:
        for point in points:
            got, want = (_values(f, point, expression, size) for f in (a, b))
            for t, (u, v) in enumerate(zip(got, want, strict=True), start=1):
                if not abs(u - v) <= 1e-9 + 1e-9 * abs(v):
                    return (
                        f"at {point.text}, the candidate gives {output}_{t} = {format_number(u)} "
                        f"but the claim gives {format_number(v)}"
                    )
        return None

    return Reader(takes=takes, convert=convert, same=same, witness=witness, names=names or {})


def scalar_reader(
    *,
    takes: str,
    vocabulary: Vocabulary,
    build: Callable[[sp.Expr], Any],
    expression: Callable[[Any], sp.Expr],
    points: Sequence[tuple[str, Mapping[sp.Basic, sp.Expr]]],
    output: str,
    simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify,
    names: Mapping[str, str] | None = None,
) -> Reader:
    """A :class:`Reader` for claims whose formula is one scalar expression (a variance, a scale,
    an eigenvalue, a Jacobian entry): ``build(expr)`` makes the claim's formula type from the
    reader's expression, ``expression(formula)`` gives it back in the derivation's symbols, and
    ``points`` are the ``(description, values)`` of counterexamples."""
    from verified_transformer.derive.exact import equal

    def convert(candidate: Any) -> Any:
        return build(read_scalar(candidate, vocabulary))

    def same(a: Any, b: Any) -> bool | None:
        return equal(expression(a), expression(b), simplifier)

    def witness(a: Any, b: Any) -> str | None:
        for text, values in points:
            got, want = (sp.N(expression(f).xreplace(dict(values)), 30) for f in (a, b))
            if not (got.is_number and want.is_number):
                left = sorted(map(str, (got.free_symbols | want.free_symbols)))
                raise CandidateError(f"the formula still contains {', '.join(left)}")
            if abs(complex(got) - complex(want)) > 1e-9 * (1 + abs(complex(want))):
                return (
                    f"at {text}, the candidate gives {output} = {format_number(got)} but the "
                    f"claim gives {format_number(want)}"
                )
        return None

    return Reader(takes=takes, convert=convert, same=same, witness=witness, names=names or {})
