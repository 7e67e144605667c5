r"""Checkers for the exercises of chapter 6b: teacher forcing and greedy decoding with the date
translator (:mod:`verified_transformer.experiments.translation`, imported here as ``dt``, in
the notebooks as ``tr``).

Teacher forcing: the reference is what the training loss feeds the model (``encode_targets``,
cut into the decoder input and the labels), for targets of several lengths, padded, with the
padded labels marked for ``F.cross_entropy`` to skip. Greedy decoding: the reference is
``tr.translate`` on the loaded model, run on the same machine as the candidate, so the
comparison of strings does not depend on the CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from verified_transformer.exercises._engine import Case, compare
from verified_transformer.experiments import translation as dt
from verified_transformer.i18n import Message, Verbatim, tr

# Teacher forcing -------------------------------------------------------------------------------

TARGET_VOCAB: tuple[str, ...] = (dt.PAD, dt.BOS, dt.EOS, "-", *"0123456789")
#: The label that ``F.cross_entropy`` skips (its default ``ignore_index``).
IGNORE = -100


def teacher_forcing_cases() -> list[Case]:
    """Batches of targets for a translator that may also write partial dates (a year and month,
    or a year): one full date (no padding), and targets of three lengths."""
    vocab = list(TARGET_VOCAB)
    return [Case(f"targets={targets}", (targets, vocab), atol=0, rtol=0) for targets in (
        ["2026-12-01"], ["1969-07", "2026-12-01", "1900"], ["2099", "12-31"])]


def _padded(targets: Sequence[str], vocab: Sequence[str]) -> Tensor:
    """``<s>``, the characters, ``</s>``, then ``<pad>`` up to the longest row: (N, 2 + max)."""
    index = {token: i for i, token in enumerate(vocab)}
    width = 2 + max(len(t) for t in targets)
    rows = [[index[dt.BOS], *(index[ch] for ch in t), index[dt.EOS]] for t in targets]
    return torch.tensor([row + [index[dt.PAD]] * (width - len(row)) for row in rows])


def _ignore_padding(labels: Tensor, vocab: Sequence[str]) -> Tensor:
    return labels.masked_fill(labels == vocab.index(dt.PAD), IGNORE)


def teacher_forcing_reference(targets: Sequence[str], vocab: Sequence[str]
                              ) -> tuple[Tensor, Tensor]:
    """``(decoder input, labels)``: each row ``<s>``, the characters, ``</s>``, padded with
    ``<pad>``, without its last token; and the same rows without their first token, where
    every ``<pad>`` label is ``IGNORE``. Checked against the translator's own ``encode_targets``
    where no row needs padding."""
    full = _padded(targets, vocab)
    if len({len(t) for t in targets}) == 1 and len(targets[0]) == dt.TARGET_LENGTH:
        index = SimpleNamespace(target_index={ch: i for i, ch in enumerate(vocab)})
        if not torch.equal(full, dt.DateTranslator.encode_targets(index, targets)):  # type: ignore[arg-type]
            raise RuntimeError("reference check failed: the translator encodes targets otherwise")
    return full[:, :-1], _ignore_padding(full[:, 1:], vocab)


TEACHER_FORCING_MISTAKES = {
    tr("does not shift: the decoder input already holds the token it must predict, so the model "
    "learns to copy"):
        lambda t, v: (_padded(t, v)[:, 1:], _ignore_padding(_padded(t, v)[:, 1:], v)),
    tr("swaps the two: the labels start with <s>, which the model never has to predict"):
        lambda t, v: (_padded(t, v)[:, 1:], _ignore_padding(_padded(t, v)[:, :-1], v)),
    tr("leaves the <pad> labels in place: the loss then trains the model to write padding after "
    "</s>; a label the loss must skip is -100"): lambda t, v: (
        _padded(t, v)[:, :-1], _padded(t, v)[:, 1:]),
    tr("ignores the </s> labels too: the model never learns to stop"): lambda t, v: (
        _padded(t, v)[:, :-1], _ignore_padding(_padded(t, v)[:, 1:], v).masked_fill(
            _padded(t, v)[:, 1:] == v.index(dt.EOS), IGNORE)),
    tr("marks the positions whose decoder input is <pad>, not those whose label is: the position "
    "that reads </s> has nothing left to predict, and its <pad> label still counts"):
        lambda t, v: (_padded(t, v)[:, :-1], _padded(t, v)[:, 1:].masked_fill(
            _padded(t, v)[:, :-1] == v.index(dt.PAD), IGNORE)),
}


def check_teacher_forcing(candidate: Any) -> Message:
    """Verdict on ``teacher_forcing(targets, vocab)``."""
    return compare(
        "teacher_forcing", candidate, teacher_forcing_cases(), teacher_forcing_reference,
        TEACHER_FORCING_MISTAKES,
        tr("builds the padded decoder input and the labels, with -100 where the loss must skip"),
    )


# Greedy decoding -------------------------------------------------------------------------------

SOURCES: tuple[str, ...] = ("2026年12月1日星期二", "Tuesday, December 1, 2026", "20 июля 1969 г.",
                            "lunes, 31 de enero de 2000")


@functools.cache  # loading the stored weights takes a second: once per session
def _model() -> dt.DateTranslator:
    return dt.load_date_translator()


def greedy_cases() -> list[Case]:
    """The loaded model, and the sources one at a time and as one batch."""
    model = _model()
    return [Case(Verbatim(f"sources={list(sources)}"), (model, list(sources)), atol=0, rtol=0)
            for sources in ((SOURCES[0],), SOURCES)]


def greedy_reference(model: dt.DateTranslator, sources: list[str]) -> list[str]:
    """``tr.translate``: the model's own greedy decoder."""
    return dt.translate(model, sources)


def _decode_from(model: dt.DateTranslator, sources: list[str], position: int) -> list[str]:
    """Greedy decoding that picks each next token from the logits at ``position`` (the
    reference, ``tr.translate``, reads the last one, -1)."""
    bos, eos = model.target_index[dt.BOS], model.target_index[dt.EOS]
    with torch.no_grad():
        memory, padding = model.memory(model.encode_sources(sources))
        out = torch.full((len(sources), 1), bos, dtype=torch.long)
        for _ in range(dt.TARGET_LENGTH + 1):
            token = model.decode(out, memory, padding)[:, position].argmax(-1, keepdim=True)
            out = torch.cat((out, token), dim=1)
    texts = []
    for row in out[:, 1:].tolist():
        chars = []
        for token in row:
            if token == eos:
                break
            if token > eos:
                chars.append(model.target_vocab[token])
        texts.append("".join(chars))
    return texts


GREEDY_MISTAKES = {
    tr("predicts every token from <s> alone: it reads the logits of the first position (or "
    "feeds the decoder only <s>), not those of the last of the tokens chosen so far"):
        lambda m, s: _decode_from(m, s, 0),
}


def check_greedy_decode(candidate: Any) -> Message:
    """Verdict on ``greedy_decode(model, sources)``."""
    return compare(
        "greedy_decode", candidate, greedy_cases(), greedy_reference, GREEDY_MISTAKES,
        tr("returns what tr.translate returns"),
    )
