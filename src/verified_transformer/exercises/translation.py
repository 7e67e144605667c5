r"""Checkers for the exercises of chapter 6b: teacher forcing and greedy decoding with the date
translator (:mod:`verified_transformer.experiments.translation`, imported as ``tr``).

Teacher forcing: the reference is what the training loss feeds the model (``encode_targets``,
cut into the decoder input and the labels). Greedy decoding: the reference is ``tr.translate``
on the loaded model, run on the same machine as the candidate, so the comparison of strings
does not depend on the CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from verified_transformer.exercises._engine import Case, compare
from verified_transformer.experiments import translation as tr

# Teacher forcing -------------------------------------------------------------------------------

TARGET_VOCAB: tuple[str, ...] = (tr.PAD, tr.BOS, tr.EOS, "-", *"0123456789")


def teacher_forcing_cases() -> list[Case]:
    """Batches of ISO dates (one, and several), with the translator's target vocabulary."""
    vocab = list(TARGET_VOCAB)
    return [Case(f"targets={targets}", (targets, vocab), atol=0, rtol=0) for targets in (
        ["2026-12-01"], ["1900-01-01", "2099-12-31", "1969-07-20"])]


def _encoded(targets: Sequence[str], vocab: Sequence[str]) -> Tensor:
    index = SimpleNamespace(target_index={ch: i for i, ch in enumerate(vocab)})
    return tr.DateTranslator.encode_targets(index, targets)  # type: ignore[arg-type]


def teacher_forcing_reference(targets: Sequence[str], vocab: Sequence[str]
                              ) -> tuple[Tensor, Tensor]:
    """``(decoder input, labels)``: ``<s>`` and the 10 characters; the 10 characters and
    ``</s>``: what the training loss of ``tr`` feeds the model and compares its logits with."""
    full = _encoded(targets, vocab)
    if list(TARGET_VOCAB) != tr.DateTranslator(["a"], d_model=4, nhead=1, num_encoder_layers=1,
                                               num_decoder_layers=1, dim_feedforward=4,
                                               dropout=0.0, norm_first=False,
                                               max_source_length=4).target_vocab:
        raise RuntimeError("reference check failed: the translator's target vocabulary changed")
    return full[:, :-1], full[:, 1:]


TEACHER_FORCING_MISTAKES = {
    "does not shift: the decoder input already holds the token it must predict, so the model "
    "learns to copy": lambda t, v: (_encoded(t, v)[:, 1:], _encoded(t, v)[:, 1:]),
    "swaps the two: the labels start with <s>, which the model never has to predict":
        lambda t, v: (_encoded(t, v)[:, 1:], _encoded(t, v)[:, :-1]),
    "leaves </s> out of the labels: the model never learns to stop": lambda t, v: (
        _encoded(t, v)[:, :-2], _encoded(t, v)[:, 1:-1]),
    "gives the decoder the whole sequence, </s> included, one token longer than the labels":
        lambda t, v: (_encoded(t, v), _encoded(t, v)[:, 1:]),
}


def check_teacher_forcing(candidate: Any) -> str:
    """Verdict on ``teacher_forcing(targets, vocab)``."""
    return compare(
        "teacher_forcing", candidate, teacher_forcing_cases(), teacher_forcing_reference,
        TEACHER_FORCING_MISTAKES,
        "builds the decoder input and the labels that the translator's training loss uses",
    )


# Greedy decoding -------------------------------------------------------------------------------

SOURCES: tuple[str, ...] = ("2026年12月1日星期二", "Tuesday, December 1, 2026", "20 июля 1969 г.",
                            "lunes, 31 de enero de 2000")


@functools.cache  # loading the stored weights takes a second: once per session
def _model() -> tr.DateTranslator:
    return tr.load_date_translator()


def greedy_cases() -> list[Case]:
    """The loaded model, and the sources one at a time and as one batch."""
    model = _model()
    return [Case(f"sources={list(sources)}", (model, list(sources)), atol=0, rtol=0)
            for sources in ((SOURCES[0],), SOURCES)]


def greedy_reference(model: tr.DateTranslator, sources: list[str]) -> list[str]:
    """``tr.translate``: the model's own greedy decoder."""
    return tr.translate(model, sources)


def _decode(model: tr.DateTranslator, sources: list[str], *, position: int = -1,
            steps: int = tr.TARGET_LENGTH + 1) -> list[str]:
    bos, eos = model.target_index[tr.BOS], model.target_index[tr.EOS]
    with torch.no_grad():
        memory, padding = model.memory(model.encode_sources(sources))
        out = torch.full((len(sources), 1), bos, dtype=torch.long)
        for _ in range(steps):
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
    "predicts every token from <s> alone: it reads the logits of the first position (or "
    "feeds the decoder only <s>), not those of the last of the tokens chosen so far":
        lambda m, s: _decode(m, s, position=0),
}


def check_greedy_decode(candidate: Any) -> str:
    """Verdict on ``greedy_decode(model, sources)``."""
    return compare(
        "greedy_decode", candidate, greedy_cases(), greedy_reference, GREEDY_MISTAKES,
        "returns what tr.translate returns",
    )
