r"""Chapter 6's experiments, as artifacts (:mod:`~verified_transformer.experiments.artifacts`).

* ``gradients_at_init``: :func:`gradient_norms_at_init` of Post-LN and Pre-LN stacks of 2 to 12
  layers (seeds 0-4), and :func:`gradient_depth_ratio` over seeds 100-140 for 1,024 and 16
  classes: Theorem 1 of :cite:`xiong2020layer`. No training, float64: stored only because the
  41-seed means take seconds that a notebook should not spend.
* ``warmup``: :func:`warmup_curves` and their final losses over seeds 0-2, and Post-LN without
  warm-up over seeds 0-3 at two depths and learning rates (:cite:`xiong2020layer`).

What the chapter concludes from them is in :mod:`~verified_transformer.experiments.findings`.
"""

from __future__ import annotations

from typing import Any

from verified_transformer.experiments.gradients import gradient_norms_at_init
from verified_transformer.experiments.robustness import (
    final_loss,
    gradient_depth_ratio,
    post_ln_without_warmup,
    warmup_final_losses,
)
from verified_transformer.experiments.training import warmup_curves

NAMES = {False: "Post-LN", True: "Pre-LN"}
DEPTHS = list(range(2, 13, 2))
SEEDS = list(range(5))
RATIO_SEEDS = list(range(100, 141))
CLASSES = (1024, 16)
WARMUP_SEEDS = list(range(3))
LR_SEEDS = list(range(4))
#: (layers, constant learning rate) of the Post-LN runs without warm-up.
NO_WARMUP_SETTINGS = ((12, 5e-3), (6, 1e-2))


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
