r"""A reader for the book's operator notation in LaTeX:
``\operatorname{softmax}(QK^\top/\sqrt{d_k})V``,
``y = \mathrm{LN}_1(x + \mathrm{SA}(x)),\ \mathrm{out} = \mathrm{LN}_2(y + \mathrm{FFN}(y))``.

SymPy's LaTeX parser knows no named operators (``\mathrm{LN}``) and no transposes, so
:func:`read_program` parses this small language itself and evaluates it in an environment of
names (matrices, scalars, Python functions):

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

import re
from collections.abc import Mapping
from typing import Any

import sympy as sp

from verified_transformer.claims.formula import CandidateError

_TOKEN = re.compile(r"\s*(\\[A-Za-z]+|\\\\|[A-Za-z]|\d+(?:\.\d+)?|[{}()\[\]+\-*/^_=,;|])")
_SKIP = {r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\,", r"\;", r"\!"}
_NAMED = {r"\mathrm", r"\operatorname", r"\text", r"\mathit", r"\textrm"}
_TRANSPOSE = {"T", r"\top", r"\intercal", r"\mathsf"}


def _tokens(text: str) -> list[str]:
    text = re.sub(r"\\(?:quad|qquad)(?![A-Za-z])", ",", text)
    text = re.sub(r"\\[,;! ]", " ", text)
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise CandidateError(f"unreadable LaTeX at {text[pos:pos + 12]!r}")
        pos = match.end()
        if match.group(1) not in _SKIP:
            tokens.append(match.group(1))
    return tokens


class _Parser:
    def __init__(self, text: str, env: Mapping[str, Any]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.env = dict(env)
        self.text = text

    # --- token helpers
    def peek(self, offset: int = 0) -> str | None:
        at = self.pos + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise CandidateError(f"the LaTeX {self.text!r} ends too early")
        if expected is not None and token != expected:
            raise CandidateError(f"expected {expected!r} but found {token!r} in {self.text!r}")
        self.pos += 1
        return token

    def group_text(self) -> str:
        """The raw tokens of a ``{...}`` group, joined (for names)."""
        self.take("{")
        depth, parts = 1, []
        while True:
            token = self.take()
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                if depth == 0:
                    return "".join(parts)
            parts.append(token.lstrip("\\"))

    # --- grammar
    def program(self) -> Any:
        value = None
        while self.peek() is not None:
            self._skip_function_lhs()
            if self.peek(1) == "=" or (self.peek() in _NAMED and self._name_then_equals()):
                name = self.name()
                self.take("=")
                value = self.expr()
                self.env[name] = value
            else:
                value = self.expr()
            if self.peek() in {",", ";", "\\\\"}:
                while self.peek() in {",", ";", "\\\\"}:
                    self.take()
            elif self.peek() is not None:
                raise CandidateError(f"unexpected {self.peek()!r} in {self.text!r}")
        if value is None:
            raise CandidateError("the LaTeX string is empty")
        return value

    def _skip_function_lhs(self) -> None:
        r"""Drop a left-hand side that is not a plain name (``\operatorname{Attention}(Q) =``)."""
        depth = 0
        for at in range(self.pos, len(self.tokens)):
            token = self.tokens[at]
            if token in {"(", "{", "["}:
                depth += 1
            elif token in {")", "}", "]"}:
                depth -= 1
            elif depth == 0 and token in {",", ";", "\\\\"}:
                return
            elif depth == 0 and token == "=":
                saved = self.pos
                try:
                    self.name()
                    plain = self.pos == at
                except CandidateError:
                    plain = False
                self.pos = saved
                if not plain:
                    self.pos = at + 1
                return

    def _name_then_equals(self) -> bool:
        saved = self.pos
        try:
            self.name()
            return self.peek() == "="
        except CandidateError:
            return False
        finally:
            self.pos = saved

    def name(self) -> str:
        token = self.take()
        if token in _NAMED:
            base = self.group_text()
        elif re.fullmatch(r"[A-Za-z]", token):
            base = token
        else:
            raise CandidateError(f"expected a name, found {token!r} in {self.text!r}")
        if self.peek() == "_":
            self.take()
            sub = self.group_text() if self.peek() == "{" else self.take().lstrip("\\")
            base = f"{base}_{sub}"
        return base

    def expr(self) -> Any:
        value = self.term()
        while self.peek() in {"+", "-"}:
            op = self.take()
            right = self.term()
            value = _combine(value, right, op)
        return value

    def term(self) -> Any:
        value = self.unary()
        while True:
            token = self.peek()
            if token in {"*", r"\cdot", r"\times"}:
                self.take()
                value = _combine(value, self.unary(), "*")
            elif token == "/":
                self.take()
                value = _combine(value, self.unary(), "/")
            elif token is not None and (
                token in {"(", r"\frac", r"\sqrt"}
                or token in _NAMED
                or re.fullmatch(r"[A-Za-z]|\d+(?:\.\d+)?", token)
            ):
                value = _combine(value, self.unary(), "*")
            else:
                return value

    def unary(self) -> Any:
        if self.peek() == "-":
            self.take()
            return _combine(sp.Integer(-1), self.unary(), "*")
        if self.peek() == "+":
            self.take()
        return self.postfix()

    def postfix(self) -> Any:
        value = self.atom()
        while self.peek() == "^":
            self.take()
            if self.peek() == "{":
                saved = self.pos
                inner = self.group_text()
                if inner in {"T", "top", "intercal"}:
                    value = _transpose(value)
                    continue
                self.pos = saved
                self.take("{")
                power = self.expr()
                self.take("}")
            else:
                token = self.take()
                if token in _TRANSPOSE:
                    value = _transpose(value)
                    continue
                power = _number(token)
            value = _combine(value, power, "^")
        return value

    def atom(self) -> Any:
        token = self.peek()
        if token is None:
            raise CandidateError(f"the LaTeX {self.text!r} ends too early")
        if token in {"(", "["}:
            self.take()
            value = self.expr()
            self.take(")" if token == "(" else "]")
            return value
        if token == "{":
            self.take()
            value = self.expr()
            self.take("}")
            return value
        if token == r"\frac":
            self.take()
            self.take("{")
            top = self.expr()
            self.take("}")
            self.take("{")
            bottom = self.expr()
            self.take("}")
            return _combine(top, bottom, "/")
        if token == r"\sqrt":
            self.take()
            self.take("{")
            inside = self.expr()
            self.take("}")
            return _apply(sp.sqrt, [inside], "sqrt")
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return _number(self.take())
        name = self.name()
        if self.peek() == "(" and callable(self.env.get(name)) and not hasattr(
            self.env.get(name), "shape"
        ):
            self.take()
            args = [self.expr()]
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
            self.take(")")
            function = self._lookup(name)
            if not callable(function):
                raise CandidateError(f"{name} is not a function here")
            return _apply(function, args, name)
        return self._lookup(name)

    def _lookup(self, name: str) -> Any:
        if name in self.env:
            return self.env[name]
        known = ", ".join(sorted(self.env))
        raise CandidateError(f"unknown name {name!r}; this formula may use {known}")


def _number(token: str) -> sp.Expr:
    try:
        return sp.Rational(token)
    except (TypeError, ValueError):
        raise CandidateError(f"expected a number, found {token!r}") from None


def _transpose(value: Any) -> Any:
    if not hasattr(value, "T"):
        raise CandidateError("a transpose needs a matrix")
    return value.T


def _apply(function: Any, args: list[Any], name: str) -> Any:
    try:
        return function(*args)
    except CandidateError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(f"{name}(...) cannot be applied here: {first}") from None


def _combine(left: Any, right: Any, op: str) -> Any:
    try:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            if isinstance(right, sp.MatrixBase):
                raise CandidateError("cannot divide by a matrix")
            return left / right
        return left**right
    except CandidateError:
        raise
    except Exception as exc:  # ShapeError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(f"shapes do not fit ({op}): {first}") from None


def read_program(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate the LaTeX ``text`` in ``env`` (names -> values and functions)."""
    if not isinstance(text, str) or not text.strip():
        raise CandidateError("the LaTeX string is empty")
    return _Parser(text.strip().strip("$"), env).program()
