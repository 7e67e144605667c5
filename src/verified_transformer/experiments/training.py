"""Training curves on a synthetic task: reversing a sequence of random tokens.

Each training step draws a fresh batch, so the training loss is also an estimate of the loss on
unseen sequences. Chapter 6's warm-up experiment trains on it; the position collapse of stacks
without residual connections is measured on its model at initialization.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from verified_transformer.experiments._seed import check_positive_int, seeded
from verified_transformer.experiments.models import SequenceModel, position_similarity


def reversal_batch(
    batch_size: int, seq_len: int, vocab_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Random tokens :math:`x` :math:`(N, S)` and their reversal :math:`y_i = x_{S-1-i}`."""
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    return tokens, tokens.flip(1)


def train_reversal(
    model: SequenceModel,
    *,
    steps: int,
    lr: float,
    warmup_steps: int = 0,
    batch_size: int = 32,
) -> list[float]:
    r"""Train ``model`` with Adam (:math:`\beta = (0.9, 0.98)`, :cite:`vaswani2017attention`) and
    return the cross-entropy of every step's batch (nats per token), before that step's update.

    Learning rate at step :math:`t = 0, 1, \dots`: :math:`\eta \min(1, (t+1)/T_w)` for a warm-up of
    :math:`T_w` = ``warmup_steps`` > 0 steps, else the constant :math:`\eta` = ``lr``. Batches come
    from torch's global generator: call it inside :func:`seeded` for a reproducible run.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int):
        raise TypeError(f"warmup_steps must be an int, got {type(warmup_steps).__name__}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if isinstance(lr, bool) or not isinstance(lr, int | float):
        raise TypeError(f"lr must be a float, got {type(lr).__name__}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    vocab_size = model.readout.out_features
    seq_len = model.position_embedding.num_embeddings
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), fused=True)
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr
        tokens, targets = reversal_batch(batch_size, seq_len, vocab_size)
        loss = nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


#: The small task and model shared by both experiments: reverse 8 tokens from a vocabulary of 8.
TASK = {"vocab_size": 8, "seq_len": 8, "d_model": 32, "nhead": 2, "dim_feedforward": 64}


def training_curve(
    num_layers: int,
    *,
    norm_first: bool,
    residual: bool = True,
    seed: int,
    steps: int,
    lr: float,
    warmup_steps: int = 0,
    batch_size: int = 32,
) -> list[float]:
    """Build a :class:`SequenceModel` of the :data:`TASK` size and train it with
    :func:`train_reversal`; the initial weights and every batch come from ``seed``."""
    with seeded(seed):
        model = SequenceModel(
            num_layers=num_layers, norm_first=norm_first, residual=residual, **TASK
        )
        return train_reversal(
            model, steps=steps, lr=lr, warmup_steps=warmup_steps, batch_size=batch_size
        )


def position_similarity_at_init(
    num_layers: int, *, residual: bool, seed: int, batch_size: int = 32
) -> float:
    """:func:`position_similarity` of the last layer's output of an untrained Post-LN
    :class:`SequenceModel` of the :data:`TASK` size, on a batch of random sequences (float64)."""
    with seeded(seed, float64=True), torch.no_grad():
        model = SequenceModel(num_layers=num_layers, norm_first=False, residual=residual, **TASK)
        tokens, _ = reversal_batch(batch_size, TASK["seq_len"], TASK["vocab_size"])
        return position_similarity(model.encode(tokens))


def warmup_curves(
    *, seed: int, num_layers: int = 12, steps: int = 100, lr: float = 7e-3, warmup_steps: int = 40
) -> dict[str, list[float]]:
    """Training losses of Post-LN with and without a linear warm-up, and of Pre-LN without one,
    all with Adam at the peak learning rate ``lr`` (the comparison of :cite:`xiong2020layer`)."""
    runs = {
        "Post-LN, warm-up": (False, warmup_steps),
        "Post-LN, no warm-up": (False, 0),
        "Pre-LN, no warm-up": (True, 0),
    }
    return {
        label: training_curve(
            num_layers, norm_first=norm_first, seed=seed, steps=steps, lr=lr, warmup_steps=warmup
        )
        for label, (norm_first, warmup) in runs.items()
    }
