r"""Multi-seed versions of chapter 6's experiments: how much their results depend on the seed, the
number of classes, the learning rate and the depth.

Every function runs the single-seed experiment of :mod:`~verified_transformer.experiments.gradients`
or :mod:`~verified_transformer.experiments.training` once per seed and summarizes the runs; each run
is deterministic for its seed (:func:`~verified_transformer.experiments.seeded`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

from verified_transformer.experiments._seed import check_positive_int, check_seed
from verified_transformer.experiments.gradients import gradient_norms_at_init
from verified_transformer.experiments.training import TASK, training_curve, warmup_curves

#: A reversal run "trained" when its final loss is below half the chance level
#: :math:`\tfrac12 \ln 8 \approx 1.04` nats per token (chance is :math:`\ln 8 \approx 2.08`).
TRAINED_BELOW = math.log(TASK["vocab_size"]) / 2


def _seeds(seeds: Iterable[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    for seed in seeds:
        check_seed(seed)
    return seeds


def final_loss(curve: Sequence[float], last: int = 10) -> float:
    r"""Mean of the last ``last`` losses of a training curve, :math:`\frac{1}{k}\sum_{t=T-k}^{T-1}
    \ell_t` with :math:`k` = ``last``."""
    check_positive_int("last", last)
    if len(curve) < last:
        raise ValueError(f"curve has {len(curve)} losses, fewer than last={last}")
    return statistics.fmean(curve[-last:])


def gradient_depth_ratio(
    norm_first: bool,
    *,
    seeds: Iterable[int],
    shallow: int = 2,
    deep: int = 12,
    num_classes: int = 1024,
) -> float:
    r"""How the last layer's gradient norm at initialization changes from ``shallow`` to ``deep``
    layers, averaged over ``seeds``:

    .. math:: \frac{\operatorname{mean}_s \lVert \partial\mathcal L/\partial W^{2,L_d}\rVert_F}
              {\operatorname{mean}_s \lVert \partial\mathcal L/\partial W^{2,L_s}\rVert_F}

    with :math:`L_s` = ``shallow``, :math:`L_d` = ``deep`` and each norm from
    :func:`gradient_norms_at_init` (``num_classes`` read-out classes). Theorem 1 of
    :cite:`xiong2020layer` predicts about 1 for Post-LN and :math:`\sqrt{L_s/L_d}` for Pre-LN.
    """
    seeds = _seeds(seeds)
    check_positive_int("shallow", shallow)
    if not shallow < deep:
        raise ValueError(f"shallow must be < deep, got shallow={shallow}, deep={deep}")

    def mean_last(layers: int) -> float:
        return statistics.fmean(
            gradient_norms_at_init(norm_first, layers, seed=s, num_classes=num_classes)[-1]
            for s in seeds
        )

    return mean_last(deep) / mean_last(shallow)


def warmup_final_losses(seeds: Iterable[int], **warmup_kwargs: object) -> dict[str, list[float]]:
    """:func:`final_loss` of each of :func:`warmup_curves`' three runs, one entry per seed, in
    the order of ``seeds``; ``warmup_kwargs`` go to :func:`warmup_curves`."""
    seeds = _seeds(seeds)
    finals: dict[str, list[float]] = {}
    for seed in seeds:
        for label, curve in warmup_curves(seed=seed, **warmup_kwargs).items():
            finals.setdefault(label, []).append(final_loss(curve))
    return finals


def post_ln_without_warmup(
    seeds: Iterable[int], *, num_layers: int, lr: float, steps: int = 100
) -> dict[int, float]:
    """Final loss of a Post-LN :data:`TASK` model of ``num_layers`` trained with Adam at the
    constant learning rate ``lr`` (no warm-up) for ``steps`` steps, for each seed."""
    curves = {
        seed: training_curve(num_layers, norm_first=False, seed=seed, steps=steps, lr=lr)
        for seed in _seeds(seeds)
    }
    return {seed: final_loss(curve) for seed, curve in curves.items()}


def trained(loss: float) -> bool:
    """Whether a run with this final loss learned the reversal task (:data:`TRAINED_BELOW`)."""
    return loss < TRAINED_BELOW


#: Bounds (nats per token) of :func:`loss_verdict`'s three answers, far from the losses that
#: chapter 6's runs end at, so that the verdict does not change with the CPU's rounding.
LEARNED_BELOW = 0.2
CHANCE_ABOVE = 1.9


def loss_verdict(loss: float) -> str:
    """A final reversal loss in words: ``"learned the task"`` below :data:`LEARNED_BELOW`,
    ``"at chance"`` above :data:`CHANCE_ABOVE` (chance is :math:`\\ln 8 \\approx 2.08`), else
    ``"learning"``."""
    if not math.isfinite(loss):
        raise ValueError(f"loss must be finite, got {loss!r}")
    if loss < LEARNED_BELOW:
        return "learned the task"
    return "at chance" if loss > CHANCE_ABOVE else "learning"
