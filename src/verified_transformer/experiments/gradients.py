r"""Gradient norms at initialization, in the setting of Xiong et al. (2020), Theorem 1.

Theorem 1 of :cite:`xiong2020layer` bounds the gradient of the last layer's second feed-forward
weight :math:`W^{2,L}` at initialization, when every weight is Xavier-initialized and
:math:`W^Q = W^K = 0` (so every attention head averages the values uniformly):

* Post-LN: :math:`\lVert \partial \mathcal{L} / \partial W^{2,L} \rVert_F
  \le O(d \sqrt{\ln d})`, independent of the depth :math:`L`;
* Pre-LN: :math:`\lVert \partial \mathcal{L} / \partial W^{2,L} \rVert_F
  \le O(d \sqrt{\ln d / L})`, shrinking like :math:`1/\sqrt{L}`.
"""

from __future__ import annotations

import torch
from torch import nn

from verified_transformer.experiments._seed import check_bool, check_positive_int, seeded
from verified_transformer.nn import LayerNorm, TransformerEncoderLayer


def xiong_init_(layer: TransformerEncoderLayer) -> None:
    r"""Theorem 1's initialization, in place: Xavier-normal weights, :math:`W^Q = W^K = 0`,
    zero biases, LayerNorm gain 1 and bias 0.

    The value projection :math:`W^V` (rows ``2d:`` of ``in_proj_weight``) is initialized as the
    square matrix it is, not as a slice of the stacked :math:`(3d, d)` matrix.
    """
    d_model = layer.self_attn.embed_dim
    with torch.no_grad():
        in_proj = layer.self_attn.in_proj_weight
        in_proj[: 2 * d_model].zero_()
        nn.init.xavier_normal_(in_proj[2 * d_model :])
        for linear in (layer.self_attn.out_proj, layer.linear1, layer.linear2):
            nn.init.xavier_normal_(linear.weight)
        for bias in (layer.self_attn.in_proj_bias, layer.self_attn.out_proj.bias,
                     layer.linear1.bias, layer.linear2.bias):
            bias.zero_()
        for norm in (layer.norm1, layer.norm2):
            norm.reset_parameters()


def gradient_norms_at_init(
    norm_first: bool,
    num_layers: int,
    *,
    seed: int,
    d_model: int = 64,
    nhead: int = 4,
    dim_feedforward: int = 256,
    batch_size: int = 8,
    seq_len: int = 8,
    num_classes: int = 1024,
    branch_scale: float = 1.0,
) -> list[float]:
    r""":math:`\lVert \partial \mathcal{L} / \partial W^{2,l} \rVert_F` for every layer
    :math:`l` (``linear2.weight``), index 0 nearest the input, at initialization.

    Model: ``num_layers`` of our :class:`TransformerEncoderLayer` (ReLU, dropout 0), initialized
    by :func:`xiong_init_`; for Pre-LN (``norm_first=True``) a final :class:`LayerNorm`; a linear
    read-out :math:`d \to` ``num_classes`` (Xavier-normal, zero bias). Input: standard normal
    :math:`(N, S, d)` = (``batch_size``, ``seq_len``, ``d_model``). Loss: cross-entropy averaged
    over all :math:`N S` tokens, against targets drawn uniformly from ``num_classes``.
    The many classes (like a vocabulary) keep the initial predictions close to uniform. Weights,
    inputs and arithmetic are float64 (:func:`~verified_transformer.experiments.seeded`).
    ``branch_scale`` multiplies, after that initialization, the two weights of each layer that
    write into the residual stream (``self_attn.out_proj`` and ``linear2``); GPT-2's scaled
    initialization is :math:`1/\sqrt{2L}`.
    """
    check_bool("norm_first", norm_first)
    for name, value in (("num_layers", num_layers), ("d_model", d_model), ("nhead", nhead),
                        ("dim_feedforward", dim_feedforward), ("batch_size", batch_size),
                        ("seq_len", seq_len), ("num_classes", num_classes)):
        check_positive_int(name, value)
    if isinstance(branch_scale, bool) or not isinstance(branch_scale, (int, float)) or not (
            0 < branch_scale < float("inf")):
        raise ValueError(f"branch_scale: expected a positive finite number, got {branch_scale!r}")
    with seeded(seed, float64=True):
        layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
                                    batch_first=True, norm_first=norm_first)
            for _ in range(num_layers)
        )
        for layer in layers:
            xiong_init_(layer)
            if branch_scale != 1.0:
                with torch.no_grad():
                    for linear in (layer.self_attn.out_proj, layer.linear2):
                        linear.weight.mul_(branch_scale)
        final_norm = LayerNorm(d_model) if norm_first else nn.Identity()
        readout = nn.Linear(d_model, num_classes)
        with torch.no_grad():
            nn.init.xavier_normal_(readout.weight)
            readout.bias.zero_()
        x = torch.randn(batch_size, seq_len, d_model)
        targets = torch.randint(num_classes, (batch_size * seq_len,))
        for layer in layers:
            x = layer(x)
        logits = readout(final_norm(x)).flatten(0, 1)
        nn.functional.cross_entropy(logits, targets).backward()
    return [float(layer.linear2.weight.grad.norm()) for layer in layers]
