"""A small sequence model built from our layers, with residual connections that can be removed."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from verified_transformer.experiments._seed import check_bool, check_positive_int
from verified_transformer.nn import LayerNorm, TransformerEncoderLayer


class EncoderLayer(TransformerEncoderLayer):
    r"""Our :class:`TransformerEncoderLayer` (batch first, no dropout) with a ``residual`` switch.

    ``residual=True`` is the parent layer unchanged. ``residual=False`` drops both skip paths:

    * Post-LN: :math:`x \leftarrow \mathrm{LN}(\mathrm{SA}(x))`,
      :math:`x \leftarrow \mathrm{LN}(\mathrm{FF}(x))`;
    * Pre-LN: :math:`x \leftarrow \mathrm{SA}(\mathrm{LN}(x))`,
      :math:`x \leftarrow \mathrm{FF}(\mathrm{LN}(x))`.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        *,
        norm_first: bool,
        residual: bool = True,
    ) -> None:
        check_bool("residual", residual)
        check_bool("norm_first", norm_first)
        super().__init__(
            d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True, norm_first=norm_first
        )
        self.residual = residual

    def forward(self, src: Tensor) -> Tensor:  # type: ignore[override]
        """``src`` :math:`(N, S, d)` to :math:`(N, S, d)`."""
        if self.residual:
            return super().forward(src)
        self._check_inputs(src, None, None)
        if self.norm_first:
            x = self._sa_block(self.norm1(src), None, None, False)
            return self._ff_block(self.norm2(x))
        x = self.norm1(self._sa_block(src, None, None, False))
        return self.norm2(self._ff_block(x))


class SequenceModel(nn.Module):
    r"""Tokens :math:`(N, S)` to logits :math:`(N, S, V)`: token and learned position embeddings,
    ``num_layers`` :class:`EncoderLayer`, a final :class:`LayerNorm` for Pre-LN (as in GPT-2),
    and a linear read-out to the ``vocab_size`` classes.
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        *,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        num_layers: int,
        norm_first: bool,
        residual: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("seq_len", seq_len),
                            ("num_layers", num_layers)):
            check_positive_int(name, value)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(seq_len, d_model)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, nhead, dim_feedforward, norm_first=norm_first, residual=residual)
            for _ in range(num_layers)
        )
        self.norm = LayerNorm(d_model) if norm_first else nn.Identity()
        self.readout = nn.Linear(d_model, vocab_size)

    def encode(self, tokens: Tensor) -> Tensor:
        """``tokens`` :math:`(N, S)` (int64) to the last layer's output :math:`(N, S, d)`."""
        positions = torch.arange(tokens.size(1), device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens`` :math:`(N, S)` (int64) to logits :math:`(N, S, V)`."""
        return self.readout(self.norm(self.encode(tokens)))


def position_similarity(hidden: Tensor) -> float:
    r"""Mean cosine similarity :math:`\cos(h_i, h_j)` over pairs of positions :math:`i \ne j` of
    the same sequence, for hidden states :math:`(N, S, d)` with :math:`S \ge 2`. It is 1 when
    every position carries the same vector, so that no position can be told apart."""
    if hidden.dim() != 3 or hidden.size(1) < 2:
        raise ValueError(f"hidden must have shape (N, S, d) with S >= 2, got {list(hidden.shape)}")
    unit = nn.functional.normalize(hidden, dim=-1)
    cosines = unit @ unit.transpose(1, 2)
    seq_len = hidden.size(1)
    off_diagonal = cosines.sum(dim=(1, 2)) - cosines.diagonal(dim1=1, dim2=2).sum(-1)
    return float(off_diagonal.mean() / (seq_len * (seq_len - 1)))
