"""Small deterministic studies for chapter 6: each function returns data, for a given ``seed``.

* :func:`gradient_norms_at_init`: Xiong et al. (2020), Theorem 1 (Post-LN vs Pre-LN gradients).
* :func:`position_similarity_at_init`: why deep stacks without residuals fail (He et al. 2016).
* :func:`warmup_curves`: Post-LN with and without learning-rate warm-up, Pre-LN without.
* :func:`softmax_saturation`: softmax entropy and Jacobian as :math:`d_k` grows.
* :func:`gradient_depth_ratio`, :func:`warmup_final_losses`, :func:`post_ln_without_warmup`:
  the same experiments over many seeds, classes, learning rates and depths.
"""

from verified_transformer.experiments._seed import seeded
from verified_transformer.experiments.gradients import gradient_norms_at_init, xiong_init_
from verified_transformer.experiments.input_gradients import input_gradient_norms
from verified_transformer.experiments.models import EncoderLayer, SequenceModel, position_similarity
from verified_transformer.experiments.paths import path_length_counts, stack_jacobian_gains
from verified_transformer.experiments.robustness import (
    TRAINED_BELOW,
    final_loss,
    gradient_depth_ratio,
    loss_verdict,
    post_ln_without_warmup,
    trained,
    warmup_final_losses,
)
from verified_transformer.experiments.saturation import softmax_jacobian, softmax_saturation
from verified_transformer.experiments.training import (
    TASK,
    position_similarity_at_init,
    reversal_batch,
    train_reversal,
    training_curve,
    warmup_curves,
)

__all__ = [
    "TASK",
    "TRAINED_BELOW",
    "EncoderLayer",
    "SequenceModel",
    "final_loss",
    "gradient_depth_ratio",
    "loss_verdict",
    "gradient_norms_at_init",
    "input_gradient_norms",
    "path_length_counts",
    "position_similarity",
    "position_similarity_at_init",
    "post_ln_without_warmup",
    "reversal_batch",
    "seeded",
    "softmax_jacobian",
    "softmax_saturation",
    "stack_jacobian_gains",
    "train_reversal",
    "trained",
    "training_curve",
    "warmup_curves",
    "warmup_final_losses",
    "xiong_init_",
]
