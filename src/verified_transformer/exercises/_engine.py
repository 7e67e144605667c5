r"""The machinery behind every checker: run a reader's answer, compare, name the mistake.

An implementation exercise is a list of :class:`Case` inputs, a reference (what the answer must
return, computed by our code and by torch, which are first checked to agree) and a table of
known mistakes, each a *running* implementation of that mistake. :func:`compare` calls the
candidate on every case and answers in one or two sentences:

* "Correct: ..." when every output matches the reference within the case's tolerance;
* the name of the mistake whose implementation returns what the candidate returns on every case;
* otherwise the first case where it differs, with both outputs, shortened.

A candidate that raises gets its exception in one line (type and message), never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from verified_transformer.i18n import Message, tr


@dataclass(frozen=True)
class Case:
    """One input of an implementation exercise: ``candidate(*args, **kwargs)``."""

    label: str  # e.g. tr("x of {x}, eps={eps:g}", ...): "x of shape (2, 8), float64, eps=1e-05"
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    atol: float = 1e-12
    rtol: float = 1e-10


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    """``atol``/``rtol`` by dtype: near 1e-12 in float64, near 1e-6 in float32 (GUIDE section 3)."""
    if dtype == torch.float64:
        return {"atol": 1e-12, "rtol": 1e-10}
    return {"atol": 1e-5, "rtol": 1e-5}


def describe(tensor: Tensor) -> Message:
    """``shape (2, 8), float64``: how a case names one tensor."""
    return tr("shape {shape}, {dtype}", shape=tuple(tensor.shape),
              dtype=str(tensor.dtype).removeprefix("torch."))


def message(text: Any) -> Any:
    """``text`` as a :class:`~verified_transformer.i18n.Message` (its own msgid when it is a plain
    str: English prose that a caller did not mark, shown in English and reported untranslated
    rather than mixed into a translated sentence); other values as they are."""
    if isinstance(text, str) and text and not isinstance(text, Message):
        return Message(text)
    return text


def exception_line(exc: BaseException) -> str:
    """The exception as one line, ``TypeError: message`` (first line, at most 200 characters)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def short(value: Any, limit: int = 6) -> str:  # a Message for a tensor
    """A value shortened for a verdict: at most ``limit`` entries of a flattened tensor."""
    if isinstance(value, Tensor):
        flat = value.detach().reshape(-1)
        if flat.dtype == torch.bool:
            items = ["T" if bool(v) else "F" for v in flat[:limit]]
        elif flat.is_floating_point():
            items = [_number(float(v)) for v in flat[:limit]]
        else:
            items = [str(int(v)) for v in flat[:limit]]
        more = ", ..." if flat.numel() > limit else ""
        shown = "[" + ", ".join(items) + more + "]"
        return tr("{items} ({tensor})", items=shown, tensor=describe(value))
    if isinstance(value, float):
        return _number(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.4g}"


def clone(value: Any) -> Any:
    """A fresh copy of a case argument, so that a candidate which writes in place harms nothing."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    return value


def same(output: Any, expected: Any, atol: float, rtol: float) -> bool:
    """Equal within tolerance: tensors of the same shape and dtype (NaN equals NaN, and infinities
    of the same sign equal each other), or numbers, or tuples of those."""
    if isinstance(expected, Tensor):
        if not isinstance(output, Tensor) or output.shape != expected.shape:
            return False
        if output.dtype != expected.dtype:
            return False
        if expected.dtype == torch.bool or not expected.is_floating_point():
            return bool(torch.equal(output, expected))
        return bool(torch.allclose(output.detach(), expected, atol=atol, rtol=rtol, equal_nan=True))
    if isinstance(expected, tuple):
        return (
            isinstance(output, tuple)
            and len(output) == len(expected)
            and all(same(o, e, atol, rtol) for o, e in zip(output, expected, strict=True))
        )
    if isinstance(expected, bool):
        return isinstance(output, bool) and output == expected
    if isinstance(expected, (int, float)):
        if isinstance(output, bool) or not isinstance(output, (int, float)):
            return False
        return math.isclose(float(output), float(expected), rel_tol=rtol, abs_tol=atol)
    return bool(output == expected)


def _mismatch(name: str, case: Case, output: Any, expected: Any) -> Message:
    """Why ``output`` is not ``expected`` on ``case``, in one sentence."""
    where = case.label
    if isinstance(expected, Tensor):
        if not isinstance(output, Tensor):
            return tr("{name} returned {kind} on {case}; expected a tensor.", name=name,
                      kind=_kind(output), case=where)
        if output.shape != expected.shape:
            return tr("{name} returned shape {shape} on {case}; expected shape {expected}.",
                      name=name, shape=tuple(output.shape), case=where,
                      expected=tuple(expected.shape))
        if output.dtype != expected.dtype:
            return tr("{name} returned dtype {dtype} on {case}; expected {expected}.", name=name,
                      dtype=str(output.dtype).removeprefix("torch."), case=where,
                      expected=str(expected.dtype).removeprefix("torch."))
        if expected.is_floating_point():
            diff = (output.detach() - expected).abs()
            diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
            both_nan = torch.isnan(output) & torch.isnan(expected)
            same_inf = torch.isinf(expected) & (output == expected)
            diff = diff.masked_fill(both_nan | same_inf, 0.0)
            index = int(diff.reshape(-1).argmax())
            position = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), diff.shape))
            got = float(output.reshape(-1)[index])
            want = float(expected.reshape(-1)[index])
            return tr("{name} differs on {case}: it returns {got}, expected {expected} (largest "
                      "difference at index {index}: {value} instead of {wanted}).", name=name,
                      case=where, got=short(output), expected=short(expected), index=position,
                      value=_number(got), wanted=_number(want))
        flat_out, flat_want = output.reshape(-1), expected.reshape(-1)
        index = int((flat_out != flat_want).nonzero()[0, 0])
        position = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), expected.shape))
        return tr("{name} differs on {case}: it returns {got}, expected {expected} (first "
                  "difference at index {index}: {value} instead of {wanted}).", name=name,
                  case=where, got=short(output), expected=short(expected), index=position,
                  value=short(flat_out[index].item()), wanted=short(flat_want[index].item()))
    if isinstance(expected, tuple):
        if not isinstance(output, tuple):
            return tr("{name} returned {kind} on {case}; expected a tuple.", name=name,
                      kind=_kind(output), case=where)
        if len(output) != len(expected):
            return tr("{name} returned a tuple of {n} on {case}; expected a tuple of {expected}.",
                      name=name, n=len(output), case=where, expected=len(expected))
        for i, (o, e) in enumerate(zip(output, expected, strict=True)):
            if not same(o, e, case.atol, case.rtol):  # the first differing element, in full
                return _mismatch(f"{name}(...)[{i}]", case, o, e)
    if isinstance(expected, float) and (
        isinstance(output, bool) or not isinstance(output, (int, float))
    ):
        return tr("{name} returned {kind} on {case}; expected a float.", name=name,
                  kind=_kind(output), case=where)
    return tr("{name} differs on {case}: it returns {got}, expected {expected}.", name=name,
              case=where, got=short(output), expected=short(expected))


def _makes(mistake: Callable[..., Any], output: Any, case: Case) -> bool:
    """Whether ``output`` is what the implementation of ``mistake`` returns on ``case``."""
    try:
        made = mistake(*[clone(a) for a in case.args], **case.kwargs)
    except Exception:  # noqa: BLE001 (a mistake undefined on this input is not this candidate)
        return False
    return same(output, made, case.atol, case.rtol)


def _kind(value: Any) -> Any:
    return "None" if value is None else tr("a {type}", type=type(value).__name__)


def compare(
    name: str,
    candidate: Any,
    cases: Sequence[Case],
    reference: Callable[..., Any],
    mistakes: Mapping[str, Callable[..., Any]],
    agrees_with: str,
) -> Message:
    """Run ``candidate`` on every case and say, in one or two sentences, how it did.

    ``reference(*args, **kwargs)`` gives the expected output; ``mistakes`` maps the sentence
    naming each known mistake to an implementation of it; ``agrees_with`` names what the
    reference was checked against (for the "Correct" sentence). The sentences and
    ``agrees_with`` are :class:`~verified_transformer.i18n.Message` values (``tr(...)``).
    """
    if not callable(candidate):
        return tr("Cannot check: the answer to this exercise is a function {name}(...), got a "
                  "{type}.", name=name, type=type(candidate).__name__)
    outputs, expected = [], []
    for case in cases:
        want = reference(*[clone(a) for a in case.args], **case.kwargs)
        try:
            got = candidate(*[clone(a) for a in case.args], **case.kwargs)
        except Exception as exc:  # the reader's code may raise anything: summarize it
            return tr("{name} raised {error} (on {case}).", name=name,
                      error=exception_line(exc), case=case.label)
        outputs.append(got)
        expected.append(want)
    if all(
        same(o, e, c.atol, c.rtol) for o, e, c in zip(outputs, expected, cases, strict=True)
    ):
        return tr("Correct: {name} {agrees}, on all {n} inputs.", name=name,
                  agrees=message(agrees_with), n=len(cases))
    for sentence, mistake in mistakes.items():
        if all(_makes(mistake, o, c) for o, c in zip(outputs, cases, strict=True)):
            return tr("Not correct: {name} {mistake}.", name=name, mistake=message(sentence))
    for o, e, c in zip(outputs, expected, cases, strict=True):
        if not same(o, e, c.atol, c.rtol):
            return tr("Not correct: {problem}", problem=_mismatch(name, c, o, e))
    raise AssertionError("unreachable: some output differs")  # pragma: no cover


@dataclass(frozen=True)
class Choice:
    """One option of a predict-then-run exercise: its letter, its text, a test that decides,
    from what the experiment measured, whether the option is what happens, and the mistake in
    the reasoning that leads to it (said when the option is chosen and does not hold; it must
    not give away which option does)."""

    letter: str
    text: str
    holds: Callable[[Any], bool]
    why_not: str = tr("running it shows something else")
