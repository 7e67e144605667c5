r"""Checkers for the normalization exercises: LayerNorm, RMSNorm and the LayerNorm Jacobian.

Each ``check_*`` takes the reader's function and returns the verdict sentence of
:func:`verified_transformer.exercises._engine.compare`. The references are our
:mod:`verified_transformer.nn.functional` on its explicit path, checked equal to torch's kernel
on every case before the candidate is judged. A known mistake of a formula is the one definition
in :mod:`verified_transformer.derive.mistakes`, compiled to tensors; a mistake of axes is code here.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.functional import jacobian

from verified_transformer.claims.numeric import entry_function
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import mistakes
from verified_transformer.exercises._engine import Case, compare, describe, tolerances
from verified_transformer.i18n import Message, tr
from verified_transformer.nn import functional as vtf
from verified_transformer.nn import fused_kernels


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _agreed(ours: Tensor, theirs: Tensor, dtype: torch.dtype, what: str) -> Tensor:
    """``theirs`` after checking that our implementation gives the same (a broken reference would
    make every verdict wrong, so it stops the checker instead)."""
    if not torch.allclose(ours, theirs, **tolerances(dtype)):
        raise RuntimeError(f"reference check failed: our {what} differs from torch's")
    return theirs


# LayerNorm over the last two dimensions --------------------------------------------------------


def layer_norm_2d_cases() -> list[Case]:
    """Inputs for ``layer_norm_2d(x, weight, bias, eps)``, normalizing each item over its last two
    dimensions ``(m, n)``: several shapes, float64 and float32, a large ``eps`` and a nearly
    constant input (where ``eps`` matters); rows and columns with different means, so that
    statistics over one of the two dimensions only differ from the right ones."""
    g = _generator(0)
    cases = []
    specs = [
        ((3, 4), torch.float64, 1e-5, 1.0),
        ((2, 3, 5), torch.float64, 1e-5, 1.0),
        ((2, 2, 4, 3), torch.float64, 0.1, 1.0),
        ((3, 2, 6), torch.float64, 1e-5, 1e-3),  # variance near 1e-6: eps is not negligible
        ((2, 3, 5), torch.float32, 1e-5, 1.0),
    ]
    for shape, dtype, eps, spread in specs:
        m, n = shape[-2:]
        offsets = torch.arange(m, dtype=torch.float64)[:, None] * 0.7 \
            - torch.arange(n, dtype=torch.float64) * 0.4
        x = (torch.randn(shape, generator=g, dtype=torch.float64) + offsets) * spread + 0.5
        weight = 1.0 + 0.5 * torch.randn(m, n, generator=g, dtype=torch.float64)
        bias = 0.3 * torch.randn(m, n, generator=g, dtype=torch.float64)
        label = tr("x of {x}, eps={eps:g}", x=describe(x.to(dtype)), eps=eps)
        cases.append(Case(label, (x.to(dtype), weight.to(dtype), bias.to(dtype), eps),
                          **tolerances(dtype)))
    return cases


def layer_norm_2d_reference(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    r""":math:`\gamma \odot (x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta` with :math:`\mu` and
    :math:`\sigma^2` (biased) taken over the last two dimensions together; torch's kernel with
    ``normalized_shape = x.shape[-2:]``, checked against our explicit path."""
    theirs = F.layer_norm(x, x.shape[-2:], weight, bias, eps)
    with fused_kernels(False):
        ours = vtf.layer_norm(x, tuple(x.shape[-2:]), weight, bias, eps)
    return _agreed(ours, theirs, x.dtype, "layer_norm")


def _ln_over(dims: tuple[int, ...], unbiased: bool = False, eps_outside: bool = False) -> Any:
    def mistake(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
        mu = x.mean(dims, keepdim=True)
        var = x.var(dims, unbiased=unbiased, keepdim=True)
        scale = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
        return weight * (x - mu) / scale + bias

    return mistake


def _ln_rows_then_columns(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    for dim in (-1, -2):
        x = (x - x.mean(dim, keepdim=True)) / (x.var(dim, unbiased=False, keepdim=True)
                                               + eps).sqrt()
    return weight * x + bias


LAYER_NORM_2D_MISTAKES = {
    tr("normalizes each row on its own (mean and variance over the last dimension only), not "
    "over the last two dimensions together"): _ln_over((-1,)),
    tr("normalizes each column on its own (mean and variance over dimension -2 only), not over "
    "the last two dimensions together"): _ln_over((-2,)),
    tr("normalizes the rows, then the columns: two normalizations in a row are not one over "
    "both dimensions"): _ln_rows_then_columns,
    tr("uses the unbiased variance (divided by m n - 1, not m n)"):
        _ln_over((-2, -1), unbiased=True),
    tr("puts epsilon outside the square root"): _ln_over((-2, -1), eps_outside=True),
    tr("normalizes over the whole tensor, not over each item's last two dimensions"):
        lambda x, w, b, eps: w * (x - x.mean()) / (x.var(unbiased=False) + eps).sqrt() + b,
    tr("leaves out the gain and the bias"):
        lambda x, w, b, eps: F.layer_norm(x, x.shape[-2:], None, None, eps),
}


def check_layer_norm_2d(candidate: Any) -> Message:
    """Verdict on ``layer_norm_2d(x, weight, bias, eps)``, normalizing over the last two
    dimensions."""
    return compare(
        "layer_norm_2d", candidate, layer_norm_2d_cases(), layer_norm_2d_reference,
        LAYER_NORM_2D_MISTAKES,
        tr("matches torch.nn.functional.layer_norm(x, x.shape[-2:], ...) and ours (float64 to "
           "1e-12, float32 to 1e-5)"),
    )


def _as_function(mistake: mistakes.Mistake, affine: bool = True) -> Any:
    """The mistake's y_i (derive.mistakes) compiled to ``f(x, weight, bias, eps)`` (RMSNorm's
    mistakes: ``f(x, weight, eps)``) along the last dimension."""
    bases = [ln.x, ln.gamma, ln.beta] if affine else [ln.x, ln.gamma]
    return entry_function(ln.unabbreviate(mistake.entry(ln.i)), ln.i, ln.n, bases, [ln.eps])


# RMSNorm ---------------------------------------------------------------------------------------


def rms_norm_cases() -> list[Case]:
    """Inputs for ``rms_norm(x, weight, eps)``: shapes, dtypes, a mean far from zero."""
    g = _generator(1)
    cases = []
    for shape, dtype, eps, offset in [
        ((6,), torch.float64, 1e-6, 0.0),
        ((2, 3, 8), torch.float64, 1e-6, 1.5),
        ((4, 5), torch.float64, 0.1, 0.5),
        ((2, 3, 8), torch.float32, 1e-6, 1.5),
    ]:
        x = (torch.randn(shape, generator=g, dtype=torch.float64) + offset).to(dtype)
        weight = (1.0 + 0.5 * torch.randn(shape[-1], generator=g, dtype=torch.float64)).to(dtype)
        label = tr("x of {x}, eps={eps:g}", x=describe(x), eps=eps)
        cases.append(Case(label, (x, weight, eps), **tolerances(dtype)))
    return cases


def rms_norm_reference(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    r""":math:`\gamma \odot x / \sqrt{\frac1n \sum_k x_k^2 + \epsilon}` over the last dimension."""
    theirs = F.rms_norm(x, x.shape[-1:], weight, eps)
    with fused_kernels(False):
        ours = vtf.rms_norm(x, x.shape[-1:], weight, eps)
    return _agreed(ours, theirs, x.dtype, "rms_norm")


RMS_NORM_MISTAKES = {
    tr("computes {noun}", noun=Message(m.noun)): _as_function(m, affine=False)
    for m in (mistakes.RMS_CENTERED, mistakes.RMS_EPS_OUTSIDE, mistakes.RMS_SUM,
              mistakes.RMS_NO_GAIN)
}


def check_rms_norm(candidate: Any) -> Message:
    """Verdict on ``rms_norm(x, weight, eps)``, normalizing over the last dimension."""
    return compare(
        "rms_norm", candidate, rms_norm_cases(), rms_norm_reference, RMS_NORM_MISTAKES,
        tr("matches torch.nn.functional.rms_norm and ours"),
    )


# The LayerNorm Jacobian ------------------------------------------------------------------------


def layer_norm_jacobian_cases() -> list[Case]:
    """Vectors ``x`` of a few sizes and two values of ``eps``, in float64."""
    g = _generator(2)
    cases = []
    for n, eps in [(3, 1e-5), (5, 0.1), (8, 1e-5), (6, 0.5)]:
        x = torch.randn(n, generator=g, dtype=torch.float64) * 2.0 + 1.0
        cases.append(Case(tr("x of {x}, eps={eps:g}", x=describe(x), eps=eps), (x, eps)))
    return cases


def layer_norm_jacobian_reference(x: Tensor, eps: float) -> Tensor:
    r""":math:`\partial \hat x / \partial x` by autograd through ``torch.nn.functional.layer_norm``
    (no gain or bias), checked against the closed form
    :math:`\frac{1}{\sqrt{\sigma^2+\epsilon}}(I - \frac1n \mathbf 1 \mathbf 1^\top -
    \frac1n \hat x \hat x^\top)` with :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}`."""
    n = x.shape[-1]
    theirs = jacobian(lambda v: F.layer_norm(v, (n,), eps=eps), x)
    return _agreed(_ln_jacobian_form(x, eps, True, True, True), theirs, x.dtype, "Jacobian")


def _ln_jacobian_form(x: Tensor, eps: float, ones: bool, outer: bool, scale: bool) -> Tensor:
    n = x.shape[-1]
    var = x.var(unbiased=False)
    xhat = (x - x.mean()) / (var + eps).sqrt()
    j = torch.eye(n, dtype=x.dtype)
    if ones:
        j = j - torch.ones(n, n, dtype=x.dtype) / n
    if outer:
        j = j - torch.outer(xhat, xhat) / n
    return j / (var + eps).sqrt() if scale else j


LAYER_NORM_JACOBIAN_MISTAKES = {
    tr("leaves out the term -x_hat x_hat^T / n (it differentiates the mean but not the variance)"):
        lambda x, eps: _ln_jacobian_form(x, eps, True, False, True),
    tr("leaves out the term -1 1^T / n (it differentiates the variance but not the mean)"):
        lambda x, eps: _ln_jacobian_form(x, eps, False, True, True),
    tr("leaves out the factor 1 / sqrt(sigma^2 + eps)"):
        lambda x, eps: _ln_jacobian_form(x, eps, True, True, False),
}


def check_layer_norm_jacobian(candidate: Any) -> Message:
    """Verdict on ``layer_norm_jacobian(x, eps)``: the :math:`(n, n)` matrix
    :math:`\\partial \\hat x_i / \\partial x_j` of LayerNorm without gain and bias."""
    return compare(
        "layer_norm_jacobian", candidate, layer_norm_jacobian_cases(),
        layer_norm_jacobian_reference, LAYER_NORM_JACOBIAN_MISTAKES,
        tr("matches autograd through torch.nn.functional.layer_norm (to 1e-12)"),
    )


# The spectrum of the LayerNorm Jacobian --------------------------------------------------------


def spectrum_cases() -> list[Case]:
    """``(n, var, eps)``: sizes, variances and epsilons where the three eigenvalues differ."""
    return [Case(f"n={n}, var={var:g}, eps={eps:g}", (n, var, eps))
            for n, var, eps in [(3, 1.0, 0.5), (4, 2.0, 0.1), (6, 0.25, 0.25), (8, 1.0, 1e-5)]]


def spectrum_reference(n: int, var: float, eps: float) -> Tensor:
    r"""The eigenvalues, ascending, of autograd's Jacobian of ``F.layer_norm`` (no gain or bias) at
    an ``x`` of ``n`` features whose biased variance is ``var``; checked against the closed form
    :math:`0` (on :math:`\mathbf 1`), :math:`\epsilon / s^3` (on :math:`\hat x`) and :math:`1/s`
    (:math:`n - 2` times), :math:`s = \sqrt{\sigma^2 + \epsilon}`."""
    z = torch.randn(n, generator=_generator(n), dtype=torch.float64)
    z = (z - z.mean()) / z.var(unbiased=False).sqrt()
    x = 0.7 + z * var**0.5  # variance exactly var (up to rounding), mean 0.7
    j = jacobian(lambda v: F.layer_norm(v, (n,), eps=eps), x)
    theirs = torch.linalg.eigvalsh((j + j.T) / 2)  # J is symmetric
    closed_form = _spectrum(n, var, eps, "right")
    _agreed(closed_form, theirs, torch.float64, "Jacobian spectrum")
    return closed_form  # exact zeros, where autograd's has rounding noise


def _spectrum(n: int, var: float, eps: float, along_xhat: str) -> Tensor:
    s = (var + eps) ** 0.5
    value = {"right": eps / s**3, "one": 1 / s, "zero": 0.0, "ratio": var / (var + eps) / s,
             "unscaled": eps / (var + eps)}[along_xhat]
    rest = 1.0 if along_xhat == "unscaled" else 1 / s
    return torch.tensor(sorted([0.0, value] + [rest] * (n - 2)), dtype=torch.float64)


LAYERNORM_SPECTRUM_MISTAKES = {
    tr("gives the eigenvalue 1/sqrt(sigma^2 + eps) along x_hat too: it leaves out the "
    "-x_hat x_hat^T / n term"): lambda n, v, e: _spectrum(n, v, e, "one"),
    tr("gives the eigenvalue 0 along x_hat: that holds only for eps = 0"):
        lambda n, v, e: _spectrum(n, v, e, "zero"),
    tr("gives sigma^2 / (sigma^2 + eps) / s along x_hat, the part the projection removes, not "
    "the part that stays"): lambda n, v, e: _spectrum(n, v, e, "ratio"),
    tr("leaves out the factor 1 / sqrt(sigma^2 + eps) (those are the eigenvalues of s J)"):
        lambda n, v, e: _spectrum(n, v, e, "unscaled"),
}


def check_layernorm_spectrum(candidate: Any) -> Message:
    """Verdict on ``layernorm_spectrum(n, var, eps)``: the ``n`` eigenvalues, ascending, as a
    float64 tensor."""
    return compare(
        "layernorm_spectrum", candidate, spectrum_cases(), spectrum_reference,
        LAYERNORM_SPECTRUM_MISTAKES,
        tr("gives the eigenvalues of autograd's Jacobian of torch.nn.functional.layer_norm"),
    )
