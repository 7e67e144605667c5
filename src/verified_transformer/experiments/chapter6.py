r"""Chapter 6's experiments, as artifacts (:mod:`~verified_transformer.experiments.artifacts`).

* ``gradients_at_init``: :func:`gradient_norms_at_init` of Post-LN and Pre-LN stacks of 2 to 12
  layers (seeds 0-4), and :func:`gradient_depth_ratio` over seeds 100-140 for 1,024 and 16
  classes: Theorem 1 of :cite:`xiong2020layer`. No training, float64: stored only because the
  41-seed means take seconds that a notebook should not spend.
* ``degradation``: :func:`degradation_curves`, plain and residual Post-LN stacks trained on
  sequence reversal (:cite:`he2016deep`).
* ``warmup``: :func:`warmup_curves` and their final losses over seeds 0-2, and Post-LN without
  warm-up over seeds 0-3 at two depths and learning rates (:cite:`xiong2020layer`).

Each conclusion is one statement the chapter makes, with the value the stored run gives.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from verified_transformer.experiments.artifacts import Experiment, register
from verified_transformer.experiments.gradients import gradient_norms_at_init
from verified_transformer.experiments.robustness import (
    final_loss,
    gradient_depth_ratio,
    loss_verdict,
    post_ln_without_warmup,
    trained,
    warmup_final_losses,
)
from verified_transformer.experiments.training import TASK, degradation_curves, warmup_curves

NAMES = {False: "Post-LN", True: "Pre-LN"}
DEPTHS = list(range(2, 13, 2))
SEEDS = list(range(5))
RATIO_SEEDS = list(range(100, 141))
CLASSES = (1024, 16)
WARMUP_SEEDS = list(range(3))
LR_SEEDS = list(range(4))
#: (layers, constant learning rate) of the Post-LN runs without warm-up.
NO_WARMUP_SETTINGS = ((12, 5e-3), (6, 1e-2))
CHANCE = math.log(TASK["vocab_size"])


def gradients_at_init() -> tuple[dict[str, Any], None]:
    """``norms[name][i][s]``: per-layer norms (index 0 nearest the input) of the stack of
    ``DEPTHS[i]`` layers, seed ``SEEDS[s]``; ``depth_ratio[classes][name]``: the 12/2-layer
    ratio of the last layer's mean norm over :data:`RATIO_SEEDS`."""
    norms = {name: [[gradient_norms_at_init(nf, depth, seed=s) for s in SEEDS] for depth in DEPTHS]
             for nf, name in NAMES.items()}
    ratio = {str(classes): {name: gradient_depth_ratio(nf, seeds=RATIO_SEEDS, num_classes=classes)
                            for nf, name in NAMES.items()} for classes in CLASSES}
    return {"depths": DEPTHS, "seeds": SEEDS, "norms": norms, "ratio_seeds": RATIO_SEEDS,
            "depth_ratio": ratio}, None


def last_layer_means(result: dict[str, Any]) -> dict[str, list[float]]:
    """Mean over the seeds of the last layer's norm, for each depth."""
    return {name: [statistics.fmean(run[-1] for run in per_depth) for per_depth in norms]
            for name, norms in result["norms"].items()}


def per_layer_means(result: dict[str, Any]) -> dict[str, list[float]]:
    """Mean over the seeds of each layer's norm in the deepest stacks."""
    return {name: [statistics.fmean(col) for col in zip(*norms[-1], strict=True)]
            for name, norms in result["norms"].items()}


def gradients_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    last, layers = last_layer_means(result), per_layer_means(result)
    ratio = {name: values[-1] / values[0] for name, values in last.items()}
    many, few = result["depth_ratio"]["1024"], result["depth_ratio"]["16"]
    return {
        "Pre-LN: the last layer's norm shrinks from 2 to 12 layers (ratio below 0.6)":
            ratio["Pre-LN"] < 0.6,
        "Post-LN: the last layer's norm stays level from 2 to 12 layers (ratio 0.8 to 1.25)":
            0.8 < ratio["Post-LN"] < 1.25,
        "Pre-LN, 12 layers: the first layer's norm is over 1.5 times the last layer's":
            layers["Pre-LN"][0] > 1.5 * layers["Pre-LN"][-1],
        "Post-LN, 12 layers: every layer within a factor 1.5 of every other":
            max(layers["Post-LN"]) < 1.5 * min(layers["Post-LN"]),
        "1024 classes, 41 seeds: Post-LN's 12/2-layer ratio is within 0.1 of 1":
            abs(many["Post-LN"] - 1) < 0.1,
        "1024 classes, 41 seeds: Pre-LN's 12/2-layer ratio is within 0.05 of sqrt(2/12)":
            abs(many["Pre-LN"] - math.sqrt(2 / 12)) < 0.05,
        "16 classes, 41 seeds: Post-LN's ratio is above 1.4 and Pre-LN's above 0.5":
            few["Post-LN"] > 1.4 and few["Pre-LN"] > 0.5,
    }


def degradation() -> tuple[dict[str, Any], None]:
    """``curves[label]``: the training loss of every step of :func:`degradation_curves`, seed 0."""
    return {"seed": 0, "curves": degradation_curves(seed=0)}, None


def degradation_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    curves = result["curves"]
    return {
        "every run starts within 0.3 nats of the chance level ln 8":
            all(abs(c[0] - CHANCE) < 0.3 for c in curves.values()),
        **{f"{label}, mean of the last 10 steps": loss_verdict(final_loss(curve))
           for label, curve in curves.items()},
    }


def warmup() -> tuple[dict[str, Any], None]:
    """``curves``: :func:`warmup_curves` of seed 0; ``finals[label]``: final losses of seeds
    :data:`WARMUP_SEEDS`; ``no_warmup[f"{layers}, {lr}"][seed]``: final losses of Post-LN
    without warm-up over :data:`LR_SEEDS`."""
    curves = warmup_curves(seed=0)
    more = warmup_final_losses(WARMUP_SEEDS[1:])
    finals = {label: [final_loss(curve), *more[label]] for label, curve in curves.items()}
    no_warmup = {f"{layers}, {lr:g}": {str(seed): loss for seed, loss in
                                       post_ln_without_warmup(LR_SEEDS, num_layers=layers,
                                                              lr=lr).items()}
                 for layers, lr in NO_WARMUP_SETTINGS}
    return {"seed": 0, "warmup_seeds": WARMUP_SEEDS, "curves": curves, "finals": finals,
            "lr_seeds": LR_SEEDS, "no_warmup": no_warmup}, None


def some_or_all(losses: list[float]) -> str:
    """``"all"``, ``"some, not all"`` or ``"none"`` of the runs :func:`trained`."""
    count = sum(map(trained, losses))
    return "all" if count == len(losses) else "some, not all" if count else "none"


def warmup_conclusions(result: dict[str, Any]) -> dict[str, Any]:
    curves, finals = result["curves"], result["finals"]
    seeds = f"seeds {result['warmup_seeds'][0]} to {result['warmup_seeds'][-1]}"
    lr_seeds = f"seeds {result['lr_seeds'][0]} to {result['lr_seeds'][-1]}"
    return {
        "every run starts within 0.3 nats of the chance level ln 8":
            all(abs(c[0] - CHANCE) < 0.3 for c in curves.values()),
        **{f"{label}, seed 0, mean of the last 10 steps": loss_verdict(final_loss(curve))
           for label, curve in curves.items()},
        **{f"{label}, {seeds}: runs that trained": sum(map(trained, losses))
           for label, losses in finals.items()},
        **{f"Post-LN, no warm-up, {key.replace(', ', ' layers, learning rate ')}, {lr_seeds}: "
           "runs that trained": some_or_all(list(losses.values()))
           for key, losses in result["no_warmup"].items()},
    }


_SHARED = tuple(f"verified_transformer.experiments.{module}" for module in
                ("_seed", "models", "training", "robustness", "chapter6"))
register(Experiment(
    "gradients_at_init", gradients_at_init, gradients_conclusions,
    ("verified_transformer.experiments.gradients", *_SHARED),
    "gradient norms at initialization, Post-LN and Pre-LN, 2-12 layers (chapter 6)"))
register(Experiment(
    "degradation", degradation, degradation_conclusions, _SHARED,
    "plain and residual stacks trained on sequence reversal (chapter 6)"))
register(Experiment(
    "warmup", warmup, warmup_conclusions, _SHARED,
    "Post-LN and Pre-LN with and without warm-up, 12 layers, several seeds (chapter 6)"))
