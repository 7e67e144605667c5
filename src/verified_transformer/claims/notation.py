r"""A reader for the book's operator notation in LaTeX:
``\operatorname{softmax}(QK^\top/\sqrt{d_k})V``,
``y = \mathrm{LN}_1(x + \mathrm{SA}(x)),\ \mathrm{out} = \mathrm{LN}_2(y + \mathrm{FFN}(y))``.

SymPy's LaTeX parser knows no named operators (``\mathrm{LN}``) and no transposes, so
:func:`read_program` translates this small language to a Python expression and evaluates its
syntax tree in an environment of names (matrices, scalars, Python functions):

* operands: single letters with a subscript (``x``, ``x_l``, ``d_k``), ``\mathrm{NAME}``,
  ``\operatorname{NAME}``, ``\text{NAME}`` (optionally subscripted: ``\mathrm{LN}_1``), numbers;
* ``NAME(args)`` applies a function of the environment; juxtaposition, ``\cdot`` and ``*``
  multiply, ``/`` divides, ``+`` and ``-`` add; ``\frac{a}{b}``, ``\sqrt{a}``; ``A^\top``,
  ``A^T`` transpose, ``a^2`` is a power;
* a program is one expression, or equations ``name = expr`` separated by ``,``, ``;``, ``\\``
  or ``\quad``; later ones may use earlier names; the value is the last one's.

Errors (unknown names, unbalanced braces, wrong shapes) raise
:class:`~verified_transformer.claims.formula.CandidateError` with one line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

import sympy as sp

from verified_transformer.claims.formula import CandidateError
from verified_transformer.i18n import tr

_NAMED = r"\\(?:mathrm|operatorname|text|mathit|textrm)\s*\{[^{}]*\}"
_TOKEN = re.compile(rf"\s*(?:(?P<name>(?:{_NAMED}|[A-Za-z])(?:_(?:\{{[^{{}}]*\}}|\\?[A-Za-z0-9]))?)"
                    r"|(?P<num>\d+(?:\.\d+)?)|(?P<op>\\[A-Za-z]+|\\\\|[{}()\[\]+\-*/^=,;|]))")
_SKIP = {r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg"}
_OPS = {"{": "(", "}": ")", "[": "(", "]": ")", r"\cdot": "*", r"\times": "*", "^": "**"}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}


def _tokens(text: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\[,;! ]", " ", re.sub(r"\\(?:quad|qquad)(?![A-Za-z])", ",", text))
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if not match:
            raise CandidateError(tr("unreadable LaTeX at {text}", text=repr(text[pos:pos + 12])))
        pos, (kind, token) = match.end(), next((k, v) for k, v in match.groupdict().items() if v)
        if kind == "name":
            token = re.sub(r"\\(?:mathrm|operatorname|text|mathit|textrm)|[{}\\\s]", "", token)
        if token not in _SKIP:
            tokens.append((kind, token))
    return tokens


def _close(tokens: list, at: int) -> int:
    """The index of the brace closing the group that opens at ``at``."""
    if at >= len(tokens) or tokens[at][1] != "{":
        raise CandidateError(tr("expected a {group} group after {frac} or {sqrt}", group="{...}",
                                frac="\\frac", sqrt="\\sqrt"))
    depth = 0
    for pos in range(at, len(tokens)):
        depth += (tokens[pos][1] == "{") - (tokens[pos][1] == "}")
        if depth == 0:
            return pos
    raise CandidateError(tr("unbalanced braces"))


def _python(tokens: list, env: Mapping[str, Any], names: list[str]) -> str:
    """The tokens as a Python expression (names as ``_0``, ``_1``, ... indexing ``names``)."""
    out, pos, ends, called = [], 0, False, False  # ends: the last piece ends an operand
    # (an operand next to it multiplies), called: it names a function (a "(" next to it applies)
    while pos < len(tokens):
        kind, token = tokens[pos]
        if token == "^" and pos + 1 < len(tokens) and (
                tokens[pos + 1][1] in {"T", r"\top", r"\intercal"} or [t for _, t in tokens[
                    pos + 1:pos + 4]] in (["{", "T", "}"], ["{", r"\top", "}"])):
            pos += 2 if tokens[pos + 1][1] != "{" else 4
            out.append(".T")
            called = False
            continue
        if token in {r"\frac", r"\sqrt"}:
            top = _close(tokens, pos + 1)
            inner = _python(tokens[pos + 2:top], env, names)
            if token == r"\frac":
                bottom = _close(tokens, top + 1)
                piece = f"(({inner})/({_python(tokens[top + 2:bottom], env, names)}))"
                pos = bottom + 1
            else:
                names.append("sqrt")
                piece, pos = f"_{len(names) - 1}({inner})", top + 1
            out += ["*"] * ends + [piece]
            ends, called = True, False
            continue
        starts = kind in {"name", "num"} or token in {"(", "{", "["}
        if starts and ends and not (token == "(" and called):
            out.append("*")
        called = kind == "name" and _callable(env.get(token))
        if kind == "name":
            names.append(token)
            token = f"_{len(names) - 1}"
        elif kind == "op" and token not in "()+-*/,":
            if token not in _OPS:
                raise CandidateError(tr("unexpected {token}", token=repr(token)))
            token = _OPS[token]
        out.append(token)
        ends = kind in {"name", "num"} or token == ")"
        pos += 1
    return " ".join(out)


def _callable(value: Any) -> bool:
    return callable(value) and not hasattr(value, "shape")


def _evaluate(node: ast.AST, env: Mapping[str, Any], names: list[str]) -> Any:
    value = lambda n: _evaluate(n, env, names)  # noqa: E731
    if isinstance(node, ast.Constant):
        return sp.Rational(str(node.value))
    if isinstance(node, ast.Name):
        name = names[int(node.id[1:])]
        if name == "sqrt":
            return sp.sqrt
        if name not in env:
            known = ", ".join(sorted(env))
            raise CandidateError(tr("unknown name {name}; this formula may use {known}",
                                    name=repr(name), known=known))
        return env[name]
    if isinstance(node, ast.Attribute):
        inner = value(node.value)
        if not hasattr(inner, "T"):
            raise CandidateError(tr("a transpose needs a matrix"))
        return inner.T
    if isinstance(node, ast.UnaryOp):
        inner = value(node.operand)
        return _combine(sp.Integer(-1), inner, "*") if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _combine(value(node.left), value(node.right), _BINARY[type(node.op)])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function, name = value(node.func), names[int(node.func.id[1:])]
        if not callable(function):
            raise CandidateError(tr("{name} is not a function here", name=name))
        try:
            return function(*map(value, node.args))
        except CandidateError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CandidateError(tr("{name}(...) cannot be applied here: {error}", name=name,
                                    error=first)) from None
    raise CandidateError(tr("unreadable LaTeX"))


def _combine(left: Any, right: Any, op: str) -> Any:
    if op == "/" and isinstance(right, sp.MatrixBase):
        raise CandidateError(tr("cannot divide by a matrix"))
    try:
        return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
                "/": lambda: left / right, "^": lambda: left**right}[op]()
    except Exception as exc:  # ShapeError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(tr("shapes do not fit ({op}): {error}", op=op, error=first)) from None


def _statements(tokens: list) -> list[list]:
    """The equations of a program: split at ``,``, ``;``, ``\\\\`` outside brackets."""
    parts, depth = [[]], 0
    for token in tokens:
        depth += (token[1] in "({[") - (token[1] in ")}]")
        if depth == 0 and token[1] in {",", ";", "\\\\"}:
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def read_program(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate the LaTeX ``text`` in ``env`` (names -> values and functions)."""
    if not isinstance(text, str) or not text.strip():
        raise CandidateError(tr("the LaTeX string is empty"))
    env, value = dict(env), None
    for statement in _statements(_tokens(text.strip().strip("$"))):
        cuts = [pos for pos, t in enumerate(statement) if t[1] == "="]
        lhs, rhs = (statement[:cuts[0]], statement[cuts[-1] + 1:]) if cuts else ([], statement)
        names: list[str] = []
        source = _python(rhs, env, names)
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError:
            raise CandidateError(tr("unreadable LaTeX {text}", text=repr(text))) from None
        value = _evaluate(tree.body, env, names)
        if len(lhs) == 1 and lhs[0][0] == "name":
            env[lhs[0][1]] = value
    if value is None:
        raise CandidateError(tr("the LaTeX string is empty"))
    return value
