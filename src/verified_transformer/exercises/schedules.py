r"""Checker for the learning-rate schedule exercise: the Transformer's warm-up schedule.

Vaswani et al. (2017), equation (3): :math:`\mathrm{lr}(t) = d_\mathrm{model}^{-1/2}
\min(t^{-1/2},\ t \cdot T_w^{-3/2})` for steps :math:`t = 1, 2, \dots` and :math:`T_w` warm-up
steps: a linear rise for :math:`t < T_w`, then decay as :math:`1/\sqrt t`; the two branches
meet at :math:`t = T_w`. (In torch this is a ``torch.optim.lr_scheduler.LambdaLR`` whose
lambda is this formula, with ``t = epoch + 1``.)
"""

from __future__ import annotations

from typing import Any

from verified_transformer.exercises._engine import Case, compare
from verified_transformer.i18n import Message, tr


def noam_formula(step: int, d_model: int, warmup_steps: int) -> float:
    r""":math:`d_\mathrm{model}^{-1/2} \min(t^{-1/2}, t\, T_w^{-3/2})`."""
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


SETTINGS = ((512, 4000), (64, 10))
STEPS = (1, 2, 9, 10, 11, 100, 3999, 4000, 4001, 100_000)


def noam_cases() -> list[Case]:
    """Steps on both sides of the end of the warm-up, for two settings."""
    return [Case(f"step={step}, d_model={d}, warmup_steps={w}", (step, d, w), atol=1e-15,
                 rtol=1e-12) for d, w in SETTINGS for step in STEPS]


NOAM_MISTAKES = {
    tr("has no warm-up: it decays as 1/sqrt(step) from the first step"):
        lambda t, d, w: d**-0.5 * t**-0.5,
    tr("never stops warming up: it rises linearly for ever"):
        lambda t, d, w: d**-0.5 * t * w**-1.5,
    tr("leaves out the factor d_model^(-1/2)"):
        lambda t, d, w: min(t**-0.5, t * w**-1.5),
    tr("takes the max of the two branches, not the min"):
        lambda t, d, w: d**-0.5 * max(t**-0.5, t * w**-1.5),
    tr("uses warmup_steps^(-1/2) in the warm-up branch, not warmup_steps^(-3/2), so the two "
    "branches do not meet at step = warmup_steps"):
        lambda t, d, w: d**-0.5 * min(t**-0.5, t * w**-0.5),
}


def check_noam_lr(candidate: Any) -> Message:
    """Verdict on ``noam_lr(step, d_model, warmup_steps) -> float``."""
    return compare(
        "noam_lr", candidate, noam_cases(), noam_formula, NOAM_MISTAKES,
        tr("matches equation (3) of Vaswani et al. (2017)"),
    )
