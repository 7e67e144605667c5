"""Small deterministic studies for chapter 6: each function returns data, for a given ``seed``.

* :func:`gradient_norms_at_init`: Xiong et al. (2020), Theorem 1 (Post-LN vs Pre-LN gradients).
* :func:`degradation_curves`: He et al. (2016), deep stacks with and without residuals;
  :func:`position_similarity_at_init` shows why the plain ones fail.
* :func:`warmup_curves`: Post-LN with and without learning-rate warm-up, Pre-LN without.
* :func:`softmax_saturation`: softmax entropy and Jacobian as :math:`d_k` grows.
"""

from verified_transformer.experiments._seed import seeded
from verified_transformer.experiments.gradients import gradient_norms_at_init, xiong_init_
from verified_transformer.experiments.models import EncoderLayer, SequenceModel, position_similarity
from verified_transformer.experiments.saturation import softmax_jacobian, softmax_saturation
from verified_transformer.experiments.training import (
    TASK,
    degradation_curves,
    position_similarity_at_init,
    reversal_batch,
    train_reversal,
    training_curve,
    warmup_curves,
)

__all__ = [
    "TASK",
    "EncoderLayer",
    "SequenceModel",
    "degradation_curves",
    "gradient_norms_at_init",
    "position_similarity",
    "position_similarity_at_init",
    "reversal_batch",
    "seeded",
    "softmax_jacobian",
    "softmax_saturation",
    "train_reversal",
    "training_curve",
    "warmup_curves",
    "xiong_init_",
]
