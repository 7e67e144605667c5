r"""Where the normalization goes, and why: one small Transformer trained in seven variants.

The task is chapter 6b's date translation, written for a decoder-only model: each sequence is a
date in words, ``=``, its ISO 8601 form and an end token (``1. Dezember 2026=2026-12-01⏎``),
and the loss is the cross-entropy of the characters after ``=``. The data come from the CLDR
tables that ``babel`` ships, so nothing is downloaded.

The model is :class:`~verified_transformer.nn.variants.BlockStack` (token and position
embeddings, ``num_layers`` causal blocks, a final norm where the placement has one, a read-out),
trained with Adam (:math:`\beta = (0.9, 0.98)`), a linear warm-up over the first
:data:`WARMUP` steps, then a constant learning rate, without gradient clipping, so that an
unstable variant shows it. :data:`VARIANTS` are the placements of 2017-2026; :func:`train_run`
trains one and records what chapter 6 plots: the loss curve, whether it diverged, the RMS of the
residual stream after every layer at initialization and at the end, every layer's gradient norm
at the first and the last step, and the largest attention logit along the way.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor, nn

from verified_transformer.experiments._seed import check_positive_int, seeded
from verified_transformer.experiments.translation import date_pairs, source_alphabet
from verified_transformer.nn.variants import BlockStack

#: The variants: name -> keyword arguments of :class:`BlockStack`.
VARIANTS: dict[str, dict[str, Any]] = {
    "no norm": {"placement": "pre", "norm": "none"},
    "Post-LN": {"placement": "post", "norm": "layer"},
    "Pre-LN": {"placement": "pre", "norm": "layer"},
    "Peri-LN": {"placement": "peri", "norm": "layer"},
    "Pre-LN, DyT": {"placement": "pre", "norm": "dyt"},
    "Pre-LN, QK-norm": {"placement": "pre", "norm": "layer", "qk_norm": True},
    "Pre-LN, no residual": {"placement": "pre", "norm": "layer", "residual": False},
}
DEPTHS = (2, 6, 12)
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)
SIZE = {"d_model": 64, "nhead": 4, "dim_feedforward": 256}
STEPS, WARMUP, BATCH, RECORD_EVERY = 300, 30, 32, 10
VALIDATION_SEED, VALIDATION_SIZE = 999, 256

PAD, EQUALS, END = "\0", "=", "\n"


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Padding, ``=``, end, then every source character, ``-`` and the digits (sorted)."""
    rest = sorted(set(source_alphabet()) | set("-0123456789"))
    return (PAD, EQUALS, END, *rest)


def encode(pairs: Sequence[tuple[str, str]]) -> tuple[Tensor, Tensor]:
    """Inputs (N, T) and labels (N, T) for ``source=target⏎`` sequences: labels are the next
    character after ``=`` and ``-100`` (ignored) before it and at padding."""
    index = {ch: i for i, ch in enumerate(vocabulary())}
    rows = [[index[c] for c in f"{s}{EQUALS}{t}{END}"] for s, t in pairs]
    length = max(len(r) for r in rows) - 1
    inputs = torch.zeros(len(rows), length, dtype=torch.long)
    labels = torch.full((len(rows), length), -100, dtype=torch.long)
    for i, ((source, _), row) in enumerate(zip(pairs, rows, strict=True)):
        inputs[i, : len(row) - 1] = torch.tensor(row[:-1])
        start = len(source)  # the input "=" predicts the first target character
        labels[i, start: len(row) - 1] = torch.tensor(row[start + 1:])
    return inputs, labels


@lru_cache(maxsize=4)
def _batches(seed: int) -> tuple[tuple[Tensor, Tensor], ...]:
    pairs = date_pairs(STEPS * BATCH, seed=10_000 + seed)
    return tuple(encode(pairs[i * BATCH: (i + 1) * BATCH]) for i in range(STEPS))


@lru_cache(maxsize=1)
def _validation() -> tuple[Tensor, Tensor]:
    return encode(date_pairs(VALIDATION_SIZE, seed=VALIDATION_SEED))


def _loss(model: BlockStack, batch: tuple[Tensor, Tensor]) -> Tensor:
    inputs, labels = batch
    return nn.functional.cross_entropy(model(inputs).flatten(0, 1), labels.flatten())


def data_sha256(seeds: Sequence[int] = SEEDS) -> str:
    """SHA-256 of the training batches of ``seeds`` and of the validation set: the data's
    fingerprint, stored with the results (the data come from
    :func:`~verified_transformer.experiments.translation.date_pairs`, outside this module)."""
    digest = hashlib.sha256()
    for seed in seeds:
        for inputs, labels in _batches(seed):
            digest.update(inputs.numpy().tobytes() + labels.numpy().tobytes())
    inputs, labels = _validation()
    digest.update(inputs.numpy().tobytes() + labels.numpy().tobytes())
    return digest.hexdigest()


def _stream_rms(model: BlockStack) -> list[float]:
    with torch.no_grad():
        _, stream = model.forward_with_stream(_validation()[0])
    return [float(h.pow(2).mean().sqrt()) for h in stream]


def _layer_grad_norms(model: BlockStack) -> list[float]:
    return [float(torch.linalg.vector_norm(torch.stack(
        [p.grad.norm() for p in block.parameters() if p.grad is not None])))
        for block in model.layers]


def _max_logit(model: BlockStack) -> float:
    return max(block.self_attn.last_max_logit for block in model.layers)


def train_run(variant: str, num_layers: int, lr: float, seed: int,
              steps: int = STEPS) -> dict[str, Any]:
    """Train one variant and return its record (see the module docstring); losses in nats per
    target character. A non-finite loss stops the run (``diverged``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    check_positive_int("num_layers", num_layers)
    check_positive_int("steps", steps)
    if not (isinstance(lr, float) and lr > 0):
        raise ValueError(f"lr must be a positive float, got {lr!r}")
    batches = _batches(seed)
    if steps > len(batches):
        raise ValueError(f"steps must be <= {len(batches)}, got {steps}")
    with seeded(seed):
        model = BlockStack(len(vocabulary()), 64, num_layers=num_layers, **SIZE,
                           **VARIANTS[variant])
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
        record: dict[str, Any] = {"variant": variant, "layers": num_layers, "lr": lr,
                                  "seed": seed, "step": [], "loss": [], "max_logit": [],
                                  "stream_rms_init": _stream_rms(model), "diverged": False}
        for step in range(1, steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, step / WARMUP)
            model.train()
            loss = _loss(model, batches[step - 1])
            optimizer.zero_grad()
            loss.backward()
            if step == 1:
                record["grad_norm_init"] = _layer_grad_norms(model)
            value = loss.item()
            if step % RECORD_EVERY == 0 or step == 1 or not math.isfinite(value):
                record["step"].append(step)
                record["loss"].append(value)
                record["max_logit"].append(_max_logit(model))
            if not math.isfinite(value):
                record["diverged"] = True
                break
            optimizer.step()
        record["grad_norm_end"] = _layer_grad_norms(model)
        model.eval()
        with torch.no_grad():
            inputs, labels = _validation()
            logits = model(inputs)
            val = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()).item()
            wrong = (logits.argmax(-1) != labels) & (labels != -100)
        record["val_loss"] = val if math.isfinite(val) else float("nan")
        record["val_exact"] = float((~wrong.any(-1)).float().mean())
        record["stream_rms_end"] = _stream_rms(model)
    return record


def grid(variants: Sequence[str] = tuple(VARIANTS), depths: Sequence[int] = DEPTHS,
         learning_rates: Sequence[float] = LEARNING_RATES, seeds: Sequence[int] = SEEDS,
         workers: int | None = None) -> list[dict[str, Any]]:
    """:func:`train_run` for every combination, in parallel processes (one torch thread each;
    the records do not depend on the number of workers)."""
    jobs = [(v, d, lr, s) for v in variants for d in depths for lr in learning_rates
            for s in seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    records = []
    with ProcessPoolExecutor(workers) as pool:
        for record in pool.map(_train_job, jobs):
            records.append(record)
            print(f"  {len(records)}/{len(jobs)} {record['variant']}, {record['layers']} layers, "
                  f"lr {record['lr']:g}, seed {record['seed']}: validation loss "
                  f"{record['val_loss']:.3f}", flush=True)
    return records


def _train_job(job: tuple[str, int, float, int]) -> dict[str, Any]:
    return train_run(*job)


def ablation_experiment() -> tuple[dict[str, Any], None]:
    """The whole grid (:data:`VARIANTS` x :data:`DEPTHS` x :data:`LEARNING_RATES` x
    :data:`SEEDS`), with its settings and the data's fingerprint."""
    config = {"variants": VARIANTS, "depths": list(DEPTHS), "learning_rates": list(LEARNING_RATES),
              "seeds": list(SEEDS), "size": SIZE, "steps": STEPS, "warmup": WARMUP,
              "batch": BATCH, "validation_size": VALIDATION_SIZE}
    return {"config": config, "data_sha256": data_sha256(), "runs": grid()}, None
