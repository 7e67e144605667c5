"""Shared helpers of the nn tests: twin modules (ours and torch's, same weights) and one comparison.

:func:`twins` builds torch's module with random parameters and ours loaded from its
``state_dict``; :func:`assert_same_outputs_and_grads` calls both (or two functions) on copies of
the same inputs and compares every output and every gradient (inputs and parameters) to
:data:`tolerances.TOLERANCE`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tolerances import TOLERANCE
from torch import Tensor


def randomize(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    """Draw every parameter of ``module`` from N(0, std^2), so no test relies on torch's init."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0.0, std)


def twins(
    ours_class: type[torch.nn.Module],
    theirs_class: type[torch.nn.Module],
    *args: Any,
    std: float = 0.3,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
    **options: Any,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torch's ``theirs_class(*args, **options)``, random parameters, and ours loaded from it."""
    torch.manual_seed(0)
    theirs = theirs_class(*args, dtype=dtype, device=device, **options)
    randomize(theirs, std)
    ours = ours_class(*args, dtype=dtype, device=device, **options)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _leaf_copies(inputs: Sequence[Tensor | None]) -> tuple[list[Tensor | None], list[Tensor]]:
    """Fresh leaves for ``inputs`` (one copy per distinct tensor, so aliasing is kept)."""
    copies: dict[int, Tensor] = {}
    arguments = []
    for tensor in inputs:
        if tensor is None:
            arguments.append(None)
            continue
        if id(tensor) not in copies:
            copy = tensor.detach().clone()
            copies[id(tensor)] = copy.requires_grad_(copy.is_floating_point())
        arguments.append(copies[id(tensor)])
    return arguments, [t for t in copies.values() if t.requires_grad]


def assert_same_outputs_and_grads(
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    inputs: Sequence[Tensor | None],
    dtype: torch.dtype,
    call_options: dict[str, Any] | None = None,
    equal_nan: bool = False,
    tolerance: dict[str, float] | None = None,
) -> None:
    """Compare ``ours(*inputs, **call_options)`` with ``theirs(...)``: outputs and all gradients.

    Outputs may be a Tensor or a tuple of Tensors and Nones (as ``MultiheadAttention`` returns).
    The loss is :math:`\\sum_k \\langle g_k, y_k\\rangle` with random :math:`g_k` of a fixed seed.
    Compared are the gradients of every floating input and, for modules, of every parameter
    (matched by name). With ``equal_nan``, NaN outputs must agree and gradients are skipped.
    ``tolerance`` (``atol``/``rtol``) replaces :data:`TOLERANCE` for ill-conditioned inputs.
    """
    tolerance = tolerance or TOLERANCE[dtype]
    call_options = call_options or {}
    arguments_mine, leaves_mine = _leaf_copies(inputs)
    arguments_reference, leaves_reference = _leaf_copies(inputs)
    outputs_mine = ours(*arguments_mine, **call_options)
    outputs_reference = theirs(*arguments_reference, **call_options)
    if not isinstance(outputs_reference, tuple):
        outputs_mine, outputs_reference = (outputs_mine,), (outputs_reference,)
    generator = torch.Generator().manual_seed(0)
    loss_mine, loss_reference = [], []
    for mine, reference in zip(outputs_mine, outputs_reference, strict=True):
        if reference is None:
            assert mine is None
            continue
        torch.testing.assert_close(mine, reference, equal_nan=equal_nan, **tolerance)
        if reference.isnan().any():
            return
        upstream = torch.randn(reference.shape, generator=generator, dtype=reference.dtype)
        upstream = upstream.to(reference.device)  # drawn on the CPU, so CUDA runs draw the same
        loss_mine.append((mine * upstream).sum())
        loss_reference.append((reference * upstream).sum())
    leaves = {"inputs": (leaves_mine, leaves_reference, [f"input {i}" for i in range(99)])}
    if isinstance(ours, torch.nn.Module) and isinstance(theirs, torch.nn.Module):
        reference_parameters = dict(theirs.named_parameters())
        names = [name for name, _ in ours.named_parameters()]
        assert sorted(names) == sorted(reference_parameters), "parameter names differ"
        leaves["parameters"] = (
            [dict(ours.named_parameters())[name] for name in names],
            [reference_parameters[name] for name in names],
            names,
        )
    for mine, reference, labels in leaves.values():
        if not reference:
            continue
        grads_mine = torch.autograd.grad(sum(loss_mine), mine, allow_unused=True, retain_graph=True)
        grads_reference = torch.autograd.grad(
            sum(loss_reference), reference, allow_unused=True, retain_graph=True
        )
        for label, got, expected in zip(labels, grads_mine, grads_reference, strict=False):
            if expected is None:
                assert got is None or not got.any(), f"{label}: unexpected gradient"
            else:
                torch.testing.assert_close(got, expected, **tolerance, msg=f"gradient of {label}")


def attention_masks(
    kind: str,
    padded: bool,
    batched: bool,
    batch: int,
    target: int,
    source: int,
    heads: int,
    dtype: torch.dtype,
) -> tuple[Tensor | None, Tensor | None]:
    """An attention mask of ``kind`` :math:`(L, S)` and an optional key padding mask :math:`(N, S)`.

    ``kind``: "none", "bool" (True = blocked), "bool_3d" :math:`(N h, L, S)`, "float" (random
    numbers added to the scores) or "causal" (torch's float causal mask, needs :math:`L = S`).
    Key 0 is never masked, so no query loses every key. The padding mask is float (0 / -inf)
    when the attention mask is float, else bool, as torch requires for one call.
    """
    attn_mask = None
    if kind == "causal":
        assert target == source, "a causal mask needs as many queries as keys"
        attn_mask = torch.nn.Transformer.generate_square_subsequent_mask(target, dtype=dtype)
    elif kind in ("bool", "bool_3d"):
        mask_batch = batch if batched else 1
        shape = (mask_batch * heads, target, source) if kind == "bool_3d" else (target, source)
        attn_mask = torch.rand(shape) < 0.4
        attn_mask[..., 0] = False
    elif kind == "float":
        attn_mask = torch.randn(target, source, dtype=dtype)
    padding = None
    if padded:
        padding = torch.rand((batch, source) if batched else (source,)) < 0.4
        padding[..., 0] = False
        if kind in ("float", "causal"):
            padding = torch.zeros(padding.shape, dtype=dtype).masked_fill(padding, float("-inf"))
    return attn_mask, padding
