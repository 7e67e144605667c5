"""``LayerNorm`` and ``RMSNorm``: drop-in for the ``torch.nn`` namesakes (arguments and keys)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from verified_transformer.nn import functional
from verified_transformer.nn._checks import check_eps, normalized_shape_tuple


class LayerNorm(nn.Module):
    r"""Layer normalization over the trailing dimensions ``normalized_shape``.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    with the mean and the *biased* variance taken over the last ``len(normalized_shape)``
    dimensions of each sample, and :math:`\epsilon` inside the square root
    (see :func:`verified_transformer.nn.functional.layer_norm`).
    ``weight`` :math:`\gamma` (ones) and ``bias`` :math:`\beta` (zeros) have shape
    ``normalized_shape``; ``elementwise_affine=False`` drops both, ``bias=False`` drops
    :math:`\beta`. Shape: input :math:`(*, \texttt{normalized\_shape})`, output the same.
    """

    def __init__(
        self,
        normalized_shape: int | list[int] | tuple[int, ...] | torch.Size,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        self.eps = check_eps("eps", eps)
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(self.normalized_shape, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(self.normalized_shape, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set :math:`\\gamma = 1` and :math:`\\beta = 0`."""
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return functional.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class RMSNorm(nn.Module):
    r"""Root-mean-square normalization over the trailing dimensions ``normalized_shape``.

    .. math::
        y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \odot \gamma

    ``eps=None`` uses ``torch.finfo(dtype).eps`` (see
    :func:`verified_transformer.nn.functional.rms_norm`). ``weight`` :math:`\gamma` (ones) has
    shape ``normalized_shape``; ``elementwise_affine=False`` drops it. Shape: input
    :math:`(*, \texttt{normalized\_shape})`, output the same.
    """

    def __init__(
        self,
        normalized_shape: int | list[int] | tuple[int, ...] | torch.Size,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        self.eps = None if eps is None else check_eps("eps", eps)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(
                torch.empty(self.normalized_shape, device=device, dtype=dtype)
            )
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set :math:`\\gamma = 1`."""
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return functional.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
