r"""Softmax saturation: what the :math:`1/\sqrt{d_k}` in scaled dot-product attention prevents.

For queries and keys with independent standard normal entries, :math:`q \cdot k` has mean 0 and
variance :math:`d_k` (:cite:`vaswani2017attention`, footnote 4). Without the scale the scores
spread as :math:`\sqrt{d_k}`, the softmax approaches a one-hot vector, and its Jacobian
:math:`J = \operatorname{diag}(p) - p p^\top` approaches 0: the gradient through it vanishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from verified_transformer.experiments._seed import check_bool, check_positive_int, seeded
from verified_transformer.nn.functional import softmax


def softmax_jacobian(p: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial p_i / \partial s_j = p_i (\delta_{ij} - p_j)` for :math:`p =
    \mathrm{softmax}(s)` along the last dimension: :math:`(\dots, n)` to :math:`(\dots, n, n)`."""
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def softmax_saturation(
    d_ks: Sequence[int],
    *,
    scaled: bool,
    seed: int,
    num_keys: int = 16,
    num_queries: int = 256,
) -> dict[str, list[float]]:
    r"""Statistics of :math:`p = \mathrm{softmax}(q K^\top / c)` for each :math:`d_k` in ``d_ks``,
    with :math:`c = \sqrt{d_k}` if ``scaled`` else :math:`c = 1`.

    ``num_queries`` queries :math:`q` and ``num_keys`` keys, entries i.i.d. :math:`N(0, 1)`, in
    float64. Returns lists (one value per :math:`d_k`, averaged over the queries):

    * ``"score_std"``: standard deviation of the scores :math:`q \cdot k / c`;
    * ``"entropy"``: :math:`H(p) = -\sum_j p_j \ln p_j` in nats (at most :math:`\ln n`);
    * ``"max_weight"``: :math:`\max_j p_j`;
    * ``"jacobian_norm"``: :math:`\lVert \operatorname{diag}(p) - p p^\top \rVert_F`.

    The same ``seed`` draws the same :math:`q, K`, so scaled and unscaled runs differ only in
    :math:`c`.
    """
    check_bool("scaled", scaled)
    check_positive_int("num_keys", num_keys)
    check_positive_int("num_queries", num_queries)
    if len(d_ks) == 0:
        raise ValueError("d_ks must hold at least one dimension")
    for d_k in d_ks:
        check_positive_int("every entry of d_ks", d_k)
    stats: dict[str, list[float]] = {
        "score_std": [], "entropy": [], "max_weight": [], "jacobian_norm": []
    }
    with seeded(seed):
        for d_k in d_ks:
            q = torch.randn(num_queries, d_k, dtype=torch.float64)
            k = torch.randn(num_keys, d_k, dtype=torch.float64)
            scores = q @ k.T / (math.sqrt(d_k) if scaled else 1.0)
            p = softmax(scores, dim=-1)
            stats["score_std"].append(float(scores.std()))
            stats["entropy"].append(float(torch.special.entr(p).sum(-1).mean()))
            stats["max_weight"].append(float(p.max(-1).values.mean()))
            stats["jacobian_norm"].append(float(softmax_jacobian(p).norm(dim=(-2, -1)).mean()))
    return stats
