r"""Positions: the sinusoidal encoding of Vaswani et al. (2017) and rotary embeddings (RoPE).

Sinusoidal encoding (:cite:`vaswani2017attention`, section 3.5), for position :math:`p` and
:math:`i = 0, \dots, d/2 - 1`:

.. math::

    \mathrm{PE}(p, 2i) = \sin(p\,\omega_i), \quad \mathrm{PE}(p, 2i+1) = \cos(p\,\omega_i), \quad
    \omega_i = 10000^{-2i/d}.

Rotary embedding (:cite:`su2021roformer`, section 3.2): the pair :math:`(x_{2i}, x_{2i+1})` of a
query or key at position :math:`m` is rotated by the angle :math:`m\,\theta_i`, with the same
frequencies :math:`\theta_i = 10000^{-2i/d}`:

.. math::

    \begin{pmatrix} y_{2i} \\ y_{2i+1} \end{pmatrix} =
    \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i
    \end{pmatrix}
    \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}.

Both need an even width :math:`d`; an odd one is rejected with an error naming the argument.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from verified_transformer.nn._checks import check_positive_int, check_probability

__all__ = ["SinusoidalPositionalEncoding", "rotary_embedding", "sinusoidal_encoding"]


def _check_even_width(name: str, value: object) -> int:
    width = check_positive_int(name, value)
    if width % 2:
        raise ValueError(
            f"{name} must be even (sines and cosines come in pairs), got {name}={width}"
        )
    return width


def _check_base(base: object) -> float:
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a float > 1, got {type(base).__name__}")
    if not base > 1:
        raise ValueError(f"base must be > 1, got {base}")
    return float(base)


def _frequencies(d_model: int, base: float, dtype: torch.dtype) -> Tensor:
    r""":math:`\omega_i = \text{base}^{-2i/d}` for :math:`i = 0, \dots, d/2 - 1`, shape (d/2,)."""
    exponents = torch.arange(0, d_model, 2, dtype=torch.float64) / d_model
    return (base**-exponents).to(dtype)


def sinusoidal_encoding(
    max_len: int, d_model: int, *, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    r"""The table :math:`\mathrm{PE}` of shape ``(max_len, d_model)``: row :math:`p` holds
    :math:`\sin(p\,\omega_i)` in column :math:`2i` and :math:`\cos(p\,\omega_i)` in column
    :math:`2i + 1`, :math:`\omega_i = \text{base}^{-2i/d}` (computed in float64, then cast)."""
    check_positive_int("max_len", max_len)
    _check_even_width("d_model", d_model)
    base = _check_base(base)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * _frequencies(
        d_model, base, torch.float64
    )
    table = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
    return table.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    r"""Adds the sinusoidal encoding to a batch of embeddings, then applies dropout:
    :math:`y = \mathrm{dropout}(x + \mathrm{PE}_{0:S})`.

    Shapes: ``x`` :math:`(S, N, d)`, or :math:`(N, S, d)` with ``batch_first=True``, or unbatched
    :math:`(S, d)`. The table (``max_len`` rows) is a non-persistent buffer, so ``state_dict``
    stays empty and a model's weights load with any ``max_len``. A sequence longer than
    ``max_len`` raises ``ValueError`` naming the limit. The original Transformer multiplies the
    token embeddings by :math:`\sqrt{d}` before this sum (section 3.4); that belongs to the
    embedding, not here.
    """

    pe: Tensor

    def __init__(
        self,
        d_model: int,
        max_len: int = 5000,
        dropout: float = 0.1,
        batch_first: bool = False,
        *,
        base: float = 10000.0,
    ) -> None:
        super().__init__()
        self.d_model = _check_even_width("d_model", d_model)
        self.max_len = check_positive_int("max_len", max_len)
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first must be a bool, got {type(batch_first).__name__}")
        self.batch_first = batch_first
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.register_buffer(
            "pe", sinusoidal_encoding(max_len, d_model, base=base), persistent=False
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x`` plus the encoding of positions ``0..S-1`` along its sequence dimension."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"x must be a floating-point Tensor, got {kind}")
        if x.dim() not in (2, 3) or x.size(-1) != self.d_model:
            raise ValueError(
                f"x must have shape (S, d_model), (S, N, d_model) or (N, S, d_model) with "
                f"d_model={self.d_model}, got {list(x.shape)}"
            )
        seq_dim = 1 if (x.dim() == 3 and self.batch_first) else 0
        length = x.size(seq_dim)
        if length > self.max_len:
            raise ValueError(
                f"x has {length} positions, more than max_len={self.max_len} of this encoding"
            )
        pe = self.pe[:length].to(x.dtype)
        if x.dim() == 3 and not self.batch_first:
            pe = pe[:, None, :]
        return self.dropout(x + pe)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


def rotary_embedding(
    x: Tensor, positions: Tensor | None = None, *, base: float = 10000.0
) -> Tensor:
    r"""Rotate each pair :math:`(x_{2i}, x_{2i+1})` of ``x`` by :math:`m\,\theta_i`,
    :math:`\theta_i = \text{base}^{-2i/d}`, where :math:`m` is the token's position.

    ``x`` has shape :math:`(\dots, L, d)` (e.g. :math:`(N, h, L, d_h)` queries or keys, one
    head's width :math:`d` even); ``positions`` is an integer or float tensor of shape
    :math:`(L,)` (default ``0..L-1``). Apply it to queries and keys, not values: then the score
    :math:`\langle \mathrm{RoPE}(q, m), \mathrm{RoPE}(k, n) \rangle` depends on :math:`m, n`
    only through :math:`n - m` (:cite:`su2021roformer`, section 3.2).
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating-point Tensor, got {kind}")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., L, d), got {list(x.shape)}")
    width = x.size(-1)
    if width % 2:
        raise ValueError(f"x's last dimension must be even (pairs are rotated), got {width}")
    base = _check_base(base)
    length = x.size(-2)
    if positions is None:
        positions = torch.arange(length, device=x.device)
    if not isinstance(positions, Tensor):
        raise TypeError(f"positions must be a Tensor, got {type(positions).__name__}")
    if positions.shape != (length,):
        raise ValueError(
            f"positions must have shape ({length},), one per row of x, got {list(positions.shape)}"
        )
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    angles = positions.to(torch.float64)[:, None] * _frequencies(width, base, torch.float64)
    cos, sin = angles.cos().to(work), angles.sin().to(work)
    even, odd = x[..., 0::2].to(work), x[..., 1::2].to(work)
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)
