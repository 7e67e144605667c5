r"""A real translation task that trains on a CPU in about a minute: dates written out in words, in
several languages, translated into ISO 8601 (``"2026年12月1日"`` -> ``"2026-12-01"``).

The sources come from the CLDR data shipped with ``babel`` (offline, deterministic). Only the
``long`` and ``full`` formats are used: they spell the month out (Chinese marks year, month and day
with 年, 月, 日), so each one determines its date; the short numeric formats contradict each
other between locales (``01/12/2026`` is 1 December in French, ``12/1/26`` is 1 December in US
English).

The model (:class:`DateTranslator`) is an encoder-decoder built from our
:class:`verified_transformer.nn.Transformer`, our
:class:`~verified_transformer.nn.positional.SinusoidalPositionalEncoding` and character
embeddings, trained with label smoothing (:cite:`szegedy2016rethinking`) and the warm-up schedule
of :cite:`vaswani2017attention`, equation (3) (:func:`noam_learning_rate`).
"""

from __future__ import annotations

import datetime
import math
import numbers
import random
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from babel.dates import format_date
from torch import Tensor, nn

from verified_transformer.experiments._seed import (
    check_bool,
    check_positive_int,
    check_seed,
    seeded,
)
from verified_transformer.nn import (
    LayerNorm,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from verified_transformer.nn.positional import SinusoidalPositionalEncoding

#: The locales of :func:`date_pairs` (and of the hidden evaluation): Latin, Cyrillic and CJK.
LOCALES: tuple[str, ...] = ("en_US", "de_DE", "fr_FR", "es_ES", "ru_RU", "zh_CN")
#: The CLDR formats used: both spell the month out (or mark it with 月): each determines its date.
FORMATS: tuple[str, ...] = ("long", "full")
#: Dates are drawn uniformly from this range (inclusive).
FIRST_DATE, LAST_DATE = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)
#: Special target tokens; the target vocabulary is these, then "-" and the ten digits.
PAD, BOS, EOS = "<pad>", "<s>", "</s>"
TARGET_LENGTH = 10  # "YYYY-MM-DD"


def _check_locales(locales: object) -> tuple[str, ...]:
    if isinstance(locales, str) or not isinstance(locales, Sequence) or not locales:
        raise TypeError(f"locales must be a non-empty sequence of locale names, got {locales!r}")
    for name in locales:
        if name not in LOCALES:
            raise ValueError(f"locales: {name!r} is not supported; supported: {list(LOCALES)}")
    return tuple(locales)


def render(date: datetime.date, locale: str, fmt: str) -> str:
    """``date`` in CLDR format ``fmt`` (``"long"`` or ``"full"``) of ``locale``, via babel."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    return format_date(date, fmt, locale=locale)


def date_pairs(
    count: int, seed: int, locales: Sequence[str] = LOCALES
) -> list[tuple[str, str]]:
    """``count`` pairs (source text, ISO 8601 target): a date drawn uniformly from
    :data:`FIRST_DATE` .. :data:`LAST_DATE`, a locale and a format (``long`` or ``full``) drawn
    uniformly; the same ``seed`` gives the same list (Python's ``random.Random(seed)``)."""
    check_positive_int("count", count)
    locales = _check_locales(locales)
    check_seed(seed)
    rng = random.Random(seed)
    span = (LAST_DATE - FIRST_DATE).days
    pairs = []
    for _ in range(count):
        date = FIRST_DATE + datetime.timedelta(days=rng.randint(0, span))
        locale, fmt = rng.choice(locales), rng.choice(FORMATS)
        pairs.append((render(date, locale, fmt), date.isoformat()))
    return pairs


def source_alphabet(locales: Sequence[str] = LOCALES) -> list[str]:
    """Every character a source of these locales can contain, sorted: all of a leap year's
    renderings (every month and weekday name) plus the ten digits."""
    chars = set("0123456789")
    day = datetime.date(2024, 1, 1)
    while day.year == 2024:
        for locale in _check_locales(locales):
            for fmt in FORMATS:
                chars.update(render(day, locale, fmt))
        day += datetime.timedelta(days=1)
    return sorted(chars)


def noam_learning_rate(step: int, d_model: int, warmup_steps: int) -> float:
    r"""Vaswani et al. (2017), equation (3), for step :math:`s \ge 1`:
    :math:`\eta(s) = d^{-1/2} \min(s^{-1/2},\ s\,w^{-3/2})` with :math:`w` = ``warmup_steps``;
    it rises linearly to its peak :math:`(d\,w)^{-1/2}` at :math:`s = w`, then falls like
    :math:`s^{-1/2}`. ``warmup_steps=0`` means no warm-up: the rate starts at the peak that the
    default warm-up :math:`w_0` (``DEFAULTS["warmup_steps"]``) reaches, :math:`(d\,w_0)^{-1/2}`,
    stays there up to step :math:`w_0` and then decays as with the default, so that the two
    schedules differ only in the first :math:`w_0` steps. (The formula's own limit
    :math:`w \to 0`, :math:`d^{-1/2} s^{-1/2}`, would start :math:`\sqrt{w_0}` times higher.)
    """
    check_positive_int("step", step)
    check_positive_int("d_model", d_model)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral):
        raise TypeError(f"warmup_steps must be an int, got {type(warmup_steps).__name__}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if warmup_steps == 0:
        plateau = DEFAULTS["warmup_steps"]
        return d_model**-0.5 * max(step, plateau) ** -0.5
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


#: The defaults of :func:`train_date_translator` (model size, optimisation, data).
DEFAULTS: dict[str, Any] = {
    "d_model": 64,
    "nhead": 4,
    "num_encoder_layers": 2,
    "num_decoder_layers": 2,
    "dim_feedforward": 128,
    "dropout": 0.0,
    "batch_size": 64,
    "steps": 1300,
    "warmup_steps": 200,
    "label_smoothing": 0.1,
    "max_source_length": 48,
    "checkpoint_every": 100,
    "average_checkpoints": 6,
}


class DateTranslator(nn.Module):
    r"""Characters of a date to the characters of its ISO 8601 form.

    Source and target tokens are embedded (scaled by :math:`\sqrt{d}`, section 3.4 of
    :cite:`vaswani2017attention`), the sinusoidal encoding is added, our ``Transformer``
    (``batch_first=True``) maps them to decoder states, and a linear layer reads out target-token
    logits. ``source_vocab`` lists the source characters (index 0 is padding); ``target_vocab`` the
    target tokens (``<pad>``, ``<s>``, ``</s>``, ``-``, digits).
    """

    def __init__(
        self,
        source_vocab: Sequence[str],
        *,
        d_model: int,
        nhead: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        dim_feedforward: int,
        dropout: float,
        norm_first: bool,
        max_source_length: int,
    ) -> None:
        super().__init__()
        check_bool("norm_first", norm_first)
        self.source_vocab = [PAD, *source_vocab]
        self.target_vocab = [PAD, BOS, EOS, "-", *"0123456789"]
        self.source_index = {ch: i for i, ch in enumerate(self.source_vocab)}
        self.target_index = {ch: i for i, ch in enumerate(self.target_vocab)}
        check_positive_int("max_source_length", max_source_length)
        self.max_source_length = max_source_length
        self.d_model = d_model
        self.source_embedding = nn.Embedding(len(self.source_vocab), d_model, padding_idx=0)
        self.target_embedding = nn.Embedding(len(self.target_vocab), d_model, padding_idx=0)
        for embedding in (self.source_embedding, self.target_embedding):
            nn.init.normal_(embedding.weight, std=d_model**-0.5)
            with torch.no_grad():
                embedding.weight[0].zero_()
        self.positions = SinusoidalPositionalEncoding(
            d_model, max_len=max(max_source_length, TARGET_LENGTH + 2), dropout=dropout,
            batch_first=True,
        )
        with warnings.catch_warnings():  # torch's (and our) note that Pre-LN skips nested tensors
            warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
            self.transformer = Transformer(
                d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                dropout=dropout, batch_first=True, norm_first=norm_first,
            )
        self.readout = nn.Linear(d_model, len(self.target_vocab))

    def encode_sources(self, sources: Sequence[str]) -> Tensor:
        """Source strings to a padded (N, S) int64 tensor (checks: see :func:`translate`)."""
        unknown = sorted({ch for text in sources for ch in text} - self.source_index.keys())
        if unknown:
            raise ValueError(f"sources contain characters this model has no token for: {unknown}")
        too_long = [text for text in sources if len(text) > self.max_source_length]
        if too_long:
            raise ValueError(
                f"sources: {too_long[0]!r} has {len(too_long[0])} characters, more than the "
                f"model's max_source_length={self.max_source_length}"
            )
        length = max(1, max(len(text) for text in sources))
        rows = [[self.source_index[ch] for ch in text] + [0] * (length - len(text))
                for text in sources]
        return torch.tensor(rows, dtype=torch.long)

    def encode_targets(self, targets: Sequence[str]) -> Tensor:
        """ISO strings to (N, 12) int64: ``<s>``, the 10 characters, ``</s>``."""
        bos, eos = self.target_index[BOS], self.target_index[EOS]
        return torch.tensor(
            [[bos, *(self.target_index[ch] for ch in text), eos] for text in targets],
            dtype=torch.long,
        )

    def _embed(self, embedding: nn.Embedding, tokens: Tensor) -> Tensor:
        return self.positions(embedding(tokens) * math.sqrt(self.d_model))

    def memory(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output (N, S, d) and the source padding mask (N, S), True = padding."""
        padding = source == 0
        encoded = self.transformer.encoder(
            self._embed(self.source_embedding, source), src_key_padding_mask=padding
        )
        return encoded, padding

    def decode(self, target_in: Tensor, memory: Tensor, padding: Tensor) -> Tensor:
        """Logits (N, T, V) for the next token after each of ``target_in`` (N, T)."""
        causal = Transformer.generate_square_subsequent_mask(target_in.size(1))
        states = self.transformer.decoder(
            self._embed(self.target_embedding, target_in), memory, tgt_mask=causal,
            tgt_is_causal=True, memory_key_padding_mask=padding,
        )
        return self.readout(states)

    def forward(self, source: Tensor, target_in: Tensor) -> Tensor:
        """Teacher-forced logits (N, T, V) for source (N, S) and shifted target (N, T)."""
        memory, padding = self.memory(source)
        return self.decode(target_in, memory, padding)


def _batch_loss(
    model: DateTranslator, pairs: Sequence[tuple[str, str]], label_smoothing: float
) -> Tensor:
    source = model.encode_sources([s for s, _ in pairs])
    target = model.encode_targets([t for _, t in pairs])
    logits = model(source, target[:, :-1])
    return nn.functional.cross_entropy(
        logits.flatten(0, 1), target[:, 1:].flatten(), label_smoothing=label_smoothing
    )


def validation_pairs(seed: int, size: int = 256) -> list[tuple[str, str]]:
    """The held-out pairs :func:`train_date_translator` validates on: ``date_pairs(size,
    seed=2 * seed + 1)``."""
    check_seed(seed)
    return date_pairs(size, seed=2 * seed + 1)


def training_pairs(
    steps: int, seed: int, validation_size: int = 256
) -> list[tuple[str, str]]:
    """The pairs :func:`train_date_translator` trains on, in order, ``DEFAULTS["batch_size"]``
    per step: ``date_pairs(..., seed=2 * seed)`` without the sources of
    :func:`validation_pairs` (so a notebook can hold out dates that training never saw)."""
    check_positive_int("steps", steps)
    check_seed(seed)
    needed = steps * DEFAULTS["batch_size"]
    held_out = {source for source, _ in validation_pairs(seed, validation_size)}
    drawn = date_pairs(needed + validation_size, seed=2 * seed)
    stream = [pair for pair in drawn if pair[0] not in held_out][:needed]
    if len(stream) < needed:  # cannot happen unless most draws hit the validation set
        raise RuntimeError(f"training_pairs: only {len(stream)} of {needed} pairs left")
    return stream


class _EncoderLayerWithoutSkip(TransformerEncoderLayer):
    """Post-LN encoder layer without its skip connections: ``x = N1(SA(x)); x = N2(FF(x))``."""

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = self.norm1(self._sa_block(src, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(self._ff_block(x))


class _DecoderLayerWithoutSkip(TransformerDecoderLayer):
    """Post-LN decoder layer without its skip connections:
    ``x = N1(SA(x)); x = N2(CA(x, memory)); x = N3(FF(x))``."""

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = self.norm1(self._sa_block(tgt, tgt_mask, tgt_key_padding_mask))
        x = self.norm2(self._mha_block(x, memory, memory_mask, memory_key_padding_mask))
        return self.norm3(self._ff_block(x))


#: What :func:`ablate` can remove from a Post-LN :class:`DateTranslator`.
ABLATIONS = ("no LayerNorm", "no residual")


def ablate(model: DateTranslator, what: str) -> DateTranslator:
    """Remove, in place, every LayerNorm (each replaced by the identity, the final norms of
    encoder and decoder included) or every skip connection (each layer computes its Post-LN
    formula without the ``x +``) of a Post-LN ``model``; returns it."""
    if what not in ABLATIONS:
        raise ValueError(f"what must be one of {list(ABLATIONS)}, got {what!r}")
    if model.transformer.encoder.layers[0].norm_first:
        raise ValueError("ablate expects a Post-LN model (norm_first=False)")
    if what == "no LayerNorm":
        for module in list(model.transformer.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, LayerNorm):
                    setattr(module, name, nn.Identity())
        return model
    for layer in model.transformer.encoder.layers:
        layer.__class__ = _EncoderLayerWithoutSkip
    for layer in model.transformer.decoder.layers:
        layer.__class__ = _DecoderLayerWithoutSkip
    return model


def train_date_translator(
    *,
    norm_first: bool = False,
    ablation: str | None = None,
    warmup_steps: int = DEFAULTS["warmup_steps"],
    steps: int = DEFAULTS["steps"],
    seed: int = 0,
    eval_every: int = 50,
    validation_size: int = 256,
    average_checkpoints: int = DEFAULTS["average_checkpoints"],
) -> tuple[DateTranslator, dict[str, list[float]]]:
    r"""Train a :class:`DateTranslator` (sizes in :data:`DEFAULTS`) on fresh :func:`date_pairs`
    and return it (in eval mode) with its history.

    Adam (:math:`\beta = (0.9, 0.98)`, :math:`\epsilon = 10^{-9}`), learning rate
    :func:`noam_learning_rate`, cross-entropy with label smoothing :math:`\varepsilon = 0.1`
    against :math:`q'(k) = (1 - \varepsilon)\,\delta_{k,y} + \varepsilon / K`. ``norm_first``
    selects Pre-LN (True) or the original Post-LN; ``ablation`` (one of :data:`ABLATIONS`)
    removes the LayerNorms or the skip connections of the Post-LN model (:func:`ablate`).
    History: ``"step"`` and ``"train_loss"`` (mean label-smoothed loss since the last
    evaluation), ``"val_loss"`` (plain cross-entropy, nats per target token, on
    ``validation_size`` held-out pairs, evaluated every ``eval_every`` steps and after the last)
    and ``"lr"`` per step. Training pairs come from ``seed``, validation pairs from another
    stream, and any training pair whose source is in the validation set is skipped. The weights
    come from ``seed``; one thread, so the run is reproducible on a given CPU.

    The returned model's weights are the mean of the last ``average_checkpoints`` checkpoints,
    saved every 100 steps and at the last step (the checkpoint averaging of
    :cite:`vaswani2017attention`, section 6.1; 0 returns the last weights). The history's
    validation losses are those of the weights at each evaluation, before averaging.
    """
    check_bool("norm_first", norm_first)
    check_positive_int("steps", steps)
    check_positive_int("eval_every", eval_every)
    check_positive_int("validation_size", validation_size)
    if isinstance(average_checkpoints, bool) or not isinstance(average_checkpoints, int):
        raise TypeError(
            f"average_checkpoints must be an int, got {type(average_checkpoints).__name__}"
        )
    if average_checkpoints < 0:
        raise ValueError(f"average_checkpoints must be >= 0, got {average_checkpoints}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral):
        raise TypeError(f"warmup_steps must be an int, got {type(warmup_steps).__name__}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    cfg = DEFAULTS
    validation = validation_pairs(seed, validation_size)
    stream = training_pairs(steps, seed, validation_size)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_loss": [], "lr": []}
    with seeded(seed):
        model = DateTranslator(
            source_alphabet(),
            norm_first=norm_first,
            **{k: cfg[k] for k in ("d_model", "nhead", "num_encoder_layers",
                                   "num_decoder_layers", "dim_feedforward", "dropout",
                                   "max_source_length")},
        )
        if ablation is not None:
            ablate(model, ablation)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9, fused=True
        )
        running: list[float] = []
        snapshots: list[dict[str, Tensor]] = []
        for step in range(1, steps + 1):
            lr = noam_learning_rate(step, cfg["d_model"], warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = stream[(step - 1) * cfg["batch_size"]: step * cfg["batch_size"]]
            model.train()
            loss = _batch_loss(model, batch, cfg["label_smoothing"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running.append(loss.item())
            history["lr"].append(lr)
            if step % eval_every == 0 or step == steps:
                model.eval()
                with torch.no_grad():
                    val = _batch_loss(model, validation, 0.0).item()
                history["step"].append(step)
                history["train_loss"].append(sum(running) / len(running))
                history["val_loss"].append(val if math.isfinite(val) else float("nan"))
                running = []
            every = cfg["checkpoint_every"]
            if average_checkpoints and (step % every == 0 or step == steps) and (
                step > steps - average_checkpoints * every
            ):
                snapshots.append({k: t.detach().clone() for k, t in model.state_dict().items()})
        if snapshots:
            model.load_state_dict({k: sum(s[k] for s in snapshots) / len(snapshots)
                                   for k in snapshots[0]})
    model.eval()
    return model, history


def translate(model: DateTranslator, sources: Sequence[str]) -> list[str]:
    """Greedy decoding: each source string to the model's ISO 8601 string.

    Bad input: a non-string item raises ``TypeError``; a character the model has no token for
    raises ``ValueError`` naming the characters (there is no unknown token); a source longer than
    ``model.max_source_length`` raises ``ValueError`` naming the limit; an empty string raises
    ``ValueError``; an empty list gives ``[]``.
    Decoding stops at ``</s>`` or after 11 tokens (a well-formed answer is 10 characters and
    ``</s>``); special tokens are dropped from the string.
    """
    if not isinstance(model, DateTranslator):
        raise TypeError(f"model must be a DateTranslator, got {type(model).__name__}")
    if isinstance(sources, str) or not isinstance(sources, Sequence):
        raise TypeError(f"sources must be a list of strings, got {type(sources).__name__}")
    for index, text in enumerate(sources):
        if not isinstance(text, str):
            raise TypeError(f"sources[{index}] must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError(f"sources[{index}] is an empty string; there is no date to translate")
    if not sources:
        return []
    source = model.encode_sources(sources)
    was_training = model.training
    model.eval()
    bos, eos = model.target_index[BOS], model.target_index[EOS]
    with torch.no_grad():
        memory, padding = model.memory(source)
        out = torch.full((len(sources), 1), bos, dtype=torch.long)
        for _ in range(TARGET_LENGTH + 1):
            logits = model.decode(out, memory, padding)[:, -1]
            out = torch.cat((out, logits.argmax(-1, keepdim=True)), dim=1)
    model.train(was_training)
    results = []
    for row in out[:, 1:].tolist():
        chars = []
        for token in row:
            if token == eos:
                break
            if token > eos:
                chars.append(model.target_vocab[token])
        results.append("".join(chars))
    return results


def exact_match(model: DateTranslator, pairs: Sequence[tuple[str, str]]) -> float:
    """Fraction of ``pairs`` whose translation equals the target exactly."""
    if not pairs:
        raise ValueError("pairs must not be empty")
    predictions = translate(model, [s for s, _ in pairs])
    return sum(p == t for p, (_, t) in zip(predictions, pairs, strict=True)) / len(pairs)


def cross_attention(
    model: DateTranslator, sources: Sequence[str], layer: int = -1
) -> tuple[list[str], list[Tensor]]:
    r"""The translations of ``sources`` and, for each, the cross-attention weights of decoder
    layer ``layer`` (averaged over heads): a :math:`(T, S)` tensor whose row :math:`t` says how
    much the step that wrote output character :math:`t` read each source character.

    The decoder is re-run on its own greedy output with a forward pre-hook on the layer's
    ``multihead_attn`` (it fires as in torch's layer), which captures the queries the layer
    computed; the weights are then ``multihead_attn(queries, memory, memory,
    need_weights=True)``, the same call with weights returned.
    """
    outputs = translate(model, sources)
    attention = model.transformer.decoder.layers[layer].multihead_attn
    maps = []
    with torch.no_grad():
        for text, out in zip(sources, outputs, strict=True):
            memory, padding = model.memory(model.encode_sources([text]))
            tokens = [model.target_index[BOS], *(model.target_index[ch] for ch in out[:-1])]
            captured: list[Tensor] = []

            def grab(module: nn.Module, args: tuple, captured: list = captured) -> None:
                captured.append(args[0])

            hook = attention.register_forward_pre_hook(grab)
            try:
                model.decode(torch.tensor([tokens]), memory, padding)
            finally:
                hook.remove()
            if len(captured) != 1:
                raise RuntimeError(f"expected one cross-attention call, saw {len(captured)}")
            _, weights = attention(
                captured[0], memory, memory, key_padding_mask=padding, need_weights=True,
                average_attn_weights=True,
            )
            maps.append(weights[0, : len(out), : len(text)])
    return outputs, maps


# --- the artifact of chapter 6b --------------------------------------------------------------

#: The inputs whose translations and cross-attention maps chapter 6b shows.
SHOWCASE: tuple[str, ...] = ("2026年12月1日星期二", "1. Dezember 2026", "Tuesday, December 1, 2026")
#: Post-LN and Pre-LN, with and without warm-up: (norm_first, warmup_steps), 100 steps each.
WARMUP_RUNS: dict[str, tuple[bool, int]] = {
    "Post-LN, warm-up": (False, DEFAULTS["warmup_steps"]),
    "Post-LN, no warm-up": (False, 0),
    "Pre-LN, warm-up": (True, DEFAULTS["warmup_steps"]),
    "Pre-LN, no warm-up": (True, 0),
}


def held_out_pairs(count: int = 1000) -> list[tuple[str, str]]:
    """``count`` pairs of ``date_pairs(..., seed=2026)`` whose source the default training run
    (seed 0) never saw: the test set of chapter 6b."""
    check_positive_int("count", count)
    seen = {source for source, _ in training_pairs(DEFAULTS["steps"], seed=0)}
    pairs = [pair for pair in date_pairs(count + count // 5, seed=2026) if pair[0] not in seen]
    if len(pairs) < count:
        raise RuntimeError(f"held_out_pairs: only {len(pairs)} of {count} unseen pairs")
    return pairs[:count]


def decision_margin(model: DateTranslator, sources: Sequence[str]) -> float:
    """The smallest gap, over every greedy decoding step of every source, between the largest
    and the second largest logit: how far the translations are from a tie that a CPU's rounding
    (about 1e-6 of a logit in float32) could flip."""
    source = model.encode_sources(sources)
    out = torch.full((len(sources), 1), model.target_index[BOS], dtype=torch.long)
    gaps = []
    with torch.no_grad():
        memory, padding = model.memory(source)
        for _ in range(TARGET_LENGTH + 1):
            logits = model.decode(out, memory, padding)[:, -1]
            top = logits.topk(2, dim=-1).values
            gaps.append(top[:, 0] - top[:, 1])
            out = torch.cat((out, logits.argmax(-1, keepdim=True)), dim=1)
    return float(torch.stack(gaps).min())


def load_date_translator() -> DateTranslator:
    """The model of the ``date_translator`` artifact: Post-LN, :data:`DEFAULTS`, trained and
    checkpoint-averaged by ``make experiments``, in eval mode."""
    from verified_transformer.experiments.artifacts import load_weights

    cfg = DEFAULTS
    model = DateTranslator(
        source_alphabet(), norm_first=False,
        **{k: cfg[k] for k in ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers",
                               "dim_feedforward", "dropout", "max_source_length")},
    )
    model.load_state_dict(load_weights("date_translator"))
    return model.eval()


def date_translator_experiment() -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Train the default model (:func:`train_date_translator`, seed 0), measure it on
    :func:`held_out_pairs`, map its cross-attention for :data:`SHOWCASE`, train it again
    without its LayerNorms and without its skip connections (:data:`ABLATIONS`, same data and
    schedule), and run the four 100-step :data:`WARMUP_RUNS`; the weights are the default
    model's."""
    start = time.monotonic()
    model, history = train_date_translator()
    train_seconds = time.monotonic() - start
    held_out = held_out_pairs()
    predictions = translate(model, [source for source, _ in held_out])
    correct = sum(p == t for p, (_, t) in zip(predictions, held_out, strict=True))
    outputs, maps = cross_attention(model, SHOWCASE)
    warmup = {}
    for label, (norm_first, warmup_steps) in WARMUP_RUNS.items():
        _, run = train_date_translator(norm_first=norm_first, warmup_steps=warmup_steps, steps=100,
                                       eval_every=10, validation_size=128, average_checkpoints=0)
        warmup[label] = {"step": run["step"], "val_loss": run["val_loss"]}
    ablation = {}
    for what in ABLATIONS:
        ablated, run = train_date_translator(ablation=what)
        outputs_ablated = translate(ablated, [source for source, _ in held_out])
        ablation[what] = {
            "correct": sum(p == t for p, (_, t) in zip(outputs_ablated, held_out, strict=True)),
            "val_loss": run["val_loss"][-1], "history": {"step": run["step"],
                                                         "val_loss": run["val_loss"]}}
    result = {
        "ablation": ablation,
        "config": {k: DEFAULTS[k] for k in ("d_model", "nhead", "num_encoder_layers",
                                            "num_decoder_layers", "dim_feedforward", "steps",
                                            "warmup_steps", "batch_size", "label_smoothing",
                                            "average_checkpoints")},
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "held_out": {"count": len(held_out), "correct": correct},
        "showcase": {"sources": list(SHOWCASE), "outputs": outputs,
                     "maps": [m.tolist() for m in maps],
                     "decision_margin": decision_margin(model, SHOWCASE)},
        "warmup": warmup,
    }
    return result, model.state_dict()
