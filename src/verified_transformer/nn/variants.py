r"""Modules that ``torch.nn`` does not have, for ablations of where the normalization goes.

* :class:`DynamicTanh` (DyT, Zhu et al. 2025, "Transformers without Normalization"): an
  element-wise :math:`\gamma \odot \tanh(\alpha x) + \beta` in place of a normalization layer.
* :func:`make_norm`: one name (``"layer"``, ``"rms"``, ``"dyt"``, ``"none"``) to a module.
* :class:`QKNormSelfAttention`: multi-head self-attention from elementary operations, with
  optional QK-norm (queries and keys RMS-normalized per head before the dot product, as in
  Henry et al. 2020, Dehghani et al. 2023, OLMo 2, Qwen3 and Gemma 3). It records the largest
  absolute attention logit of its last call in ``last_max_logit``;
  :func:`max_attention_logit_bound` bounds that logit when QK-norm is on.
* :class:`Block`: one causal decoder block with the normalization placed ``"post"`` (Vaswani et
  al. 2017), ``"pre"`` (GPT-2 and most LLMs), ``"peri"`` (Peri-LN, Kim et al. 2025; the
  "sandwich" norm of Gemma 2/3) or ``"output"`` (OLMo 2's reordered norm), with or without the
  residual connection; :class:`BlockStack`: a small language model of such blocks that also
  returns the residual stream after every block.

Arguments are checked with the helpers of :mod:`verified_transformer.nn._checks`; a bad one
raises ``TypeError``/``ValueError`` naming it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn import functional
from verified_transformer.nn._checks import (
    InputShapeError,
    additive_mask,
    check_eps,
    check_floating,
    check_mask_type,
    check_normalized_input,
    check_positive_int,
    check_probability,
    normalized_shape_tuple,
)
from verified_transformer.nn.normalization import LayerNorm, RMSNorm

__all__ = [
    "NORM_KINDS",
    "PLACEMENTS",
    "Block",
    "BlockStack",
    "DynamicTanh",
    "QKNormSelfAttention",
    "make_norm",
    "max_attention_logit_bound",
]

NORM_KINDS = ("layer", "rms", "dyt", "none")
"""The kinds of :func:`make_norm`: LayerNorm, RMSNorm, DynamicTanh, no normalization."""

PLACEMENTS = ("post", "pre", "peri", "output")
"""The normalization placements of :class:`Block`."""

Device = torch.device | str | None


def _check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool, else raise TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of the strings ``allowed``, else raise naming ``name``."""
    choices = ", ".join(repr(choice) for choice in allowed)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_batch_first_input(name: str, x: object, width: int, dtype: torch.dtype) -> Tensor:
    """Check a batch-first sequence :math:`(N, S, \\texttt{width})` of the parameters' ``dtype``."""
    check_floating(name, x)
    if x.dim() != 3 or x.size(-1) != width:
        raise InputShapeError(
            f"{name} must have shape (N, S, {width}) (batch first), got {list(x.shape)}"
        )
    if x.dtype != dtype:
        raise TypeError(f"{name} must have the parameters' dtype {dtype}, got {x.dtype}")
    return x


class DynamicTanh(nn.Module):
    r"""Dynamic Tanh (DyT), a drop-in replacement for a normalization layer (Zhu et al. 2025).

    .. math::
        y = \gamma \odot \tanh(\alpha\, x) + \beta

    element-wise, with :math:`\alpha` one learnable scalar (parameter ``alpha``, shape ``()``,
    initialised to ``alpha_init``), ``weight`` :math:`\gamma` (ones) and ``bias`` :math:`\beta`
    (zeros) of shape ``normalized_shape``. Unlike LayerNorm no statistic over the features is
    computed: each entry is squashed on its own, so :math:`|y_i - \beta_i| < |\gamma_i|`.
    ``elementwise_affine=False`` drops :math:`\gamma` and :math:`\beta` (:math:`\alpha` stays),
    ``bias=False`` drops :math:`\beta`. Shape: input :math:`(*, \texttt{normalized\_shape})`,
    output the same.
    """

    def __init__(
        self,
        normalized_shape: int | list[int] | tuple[int, ...] | torch.Size,
        alpha_init: float = 0.5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        if isinstance(alpha_init, bool) or not isinstance(alpha_init, numbers.Real):
            raise TypeError(f"alpha_init must be a float > 0, got {type(alpha_init).__name__}")
        if not (math.isfinite(alpha_init) and alpha_init > 0.0):
            raise ValueError(f"alpha_init must be a finite float > 0, got {alpha_init}")
        self.alpha_init = float(alpha_init)
        self.elementwise_affine = _check_bool("elementwise_affine", elementwise_affine)
        _check_bool("bias", bias)
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.empty((), **factory))
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
        """Set :math:`\\alpha = \\texttt{alpha\\_init}`, :math:`\\gamma = 1`, :math:`\\beta = 0`."""
        nn.init.constant_(self.alpha, self.alpha_init)
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        check_normalized_input(input, self.normalized_shape)
        y = torch.tanh(self.alpha * input)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, alpha_init={self.alpha_init}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


def make_norm(
    kind: str,
    d_model: int,
    eps: float = 1e-5,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    r"""A normalization layer over the last dimension ``d_model``, chosen by name.

    ``"layer"``: :class:`~verified_transformer.nn.LayerNorm` ``(d_model, eps=eps)``;
    ``"rms"``: :class:`~verified_transformer.nn.RMSNorm` ``(d_model, eps=eps)``;
    ``"dyt"``: :class:`DynamicTanh` ``(d_model)`` (which has no :math:`\epsilon`; ``eps`` is
    ignored); ``"none"``: ``torch.nn.Identity()``. Shape: :math:`(*, d)` to :math:`(*, d)`.
    """
    kind = _check_choice("kind", kind, NORM_KINDS)
    d_model = check_positive_int("d_model", d_model)
    eps = check_eps("eps", eps)
    factory = {"device": device, "dtype": dtype}
    if kind == "layer":
        return LayerNorm(d_model, eps=eps, **factory)
    if kind == "rms":
        return RMSNorm(d_model, eps=eps, **factory)
    if kind == "dyt":
        return DynamicTanh(d_model, **factory)
    return nn.Identity()


def max_attention_logit_bound(q_gain: Tensor | None, k_gain: Tensor | None, head_dim: int) -> float:
    r"""Bound on the attention logit :math:`|q \cdot k| / \sqrt{d}` under QK-norm.

    With :math:`q = g_q \odot \hat q` and :math:`k = g_k \odot \hat k`, where
    :math:`\hat q = u / \sqrt{\mathrm{mean}(u^2) + \epsilon}` is RMS-normalized over the head
    dimension :math:`d`, :math:`\|\hat q\|_2 = \sqrt{d}\,\sqrt{\mathrm{mean}(u^2) /
    (\mathrm{mean}(u^2) + \epsilon)} \le \sqrt{d}` (equality only for :math:`\epsilon = 0`), and
    likewise :math:`\|\hat k\|_2 \le \sqrt d`. Then

    .. math::
        \frac{|q \cdot k|}{\sqrt d}
        = \frac{\left|\sum_i g_{q,i}\, g_{k,i}\, \hat q_i \hat k_i\right|}{\sqrt d}
        \le \frac{\max_i |g_{q,i}| \max_i |g_{k,i}|\, \|\hat q\|_2 \|\hat k\|_2}{\sqrt d}
        \le \max_i |g_{q,i}| \, \max_i |g_{k,i}| \, \sqrt{d},

    (Cauchy-Schwarz on :math:`|\hat q|` and :math:`|\hat k|`), whatever the input's scale. The
    bound is attained by :math:`\hat q = \hat k = \sqrt d\, e_i` at an index :math:`i` where
    both :math:`|g_q|` and :math:`|g_k|` are largest (in the limit :math:`\epsilon \to 0`).
    ``q_gain``/``k_gain`` of shape ``(head_dim,)``; None means no gain (all ones). Returns a
    Python float.
    """
    head_dim = check_positive_int("head_dim", head_dim)
    factors = []
    for name, gain in (("q_gain", q_gain), ("k_gain", k_gain)):
        if gain is None:
            factors.append(1.0)
            continue
        check_floating(name, gain)
        if tuple(gain.shape) != (head_dim,):
            raise ValueError(
                f"{name} must have shape (head_dim,) = ({head_dim},), got {list(gain.shape)}"
            )
        factors.append(float(gain.detach().abs().max()))
    return factors[0] * factors[1] * math.sqrt(head_dim)


class QKNormSelfAttention(nn.Module):
    r"""Multi-head self-attention with optional QK-norm, from elementary tensor operations.

    .. math::
        \mathrm{head}_h = \mathrm{softmax}\!\left(\frac{\tilde Q_h \tilde K_h^\top}{\sqrt d}
        + M\right) V_h, \qquad
        y = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_H)\, W^O + b^O

    with :math:`Q = x W^{Q\top} + b^Q` (``q_proj``), likewise :math:`K` (``k_proj``) and
    :math:`V` (``v_proj``), each split into :math:`H` = ``num_heads`` heads of size
    :math:`d = E / H`, and ``out_proj`` for :math:`W^O, b^O`. Without QK-norm
    :math:`\tilde Q_h = Q_h`, :math:`\tilde K_h = K_h`. With ``qk_norm=True`` every query and
    key vector of every head is RMS-normalized over its :math:`d` entries with a learnable gain
    shared by the heads (``q_norm.weight``, ``k_norm.weight``, shape :math:`(d,)`):

    .. math::
        \tilde Q_{h,t} = \frac{Q_{h,t}}{\sqrt{\mathrm{mean}(Q_{h,t}^2) + \epsilon}} \odot g_q,
        \qquad
        \tilde K_{h,t} = \frac{K_{h,t}}{\sqrt{\mathrm{mean}(K_{h,t}^2) + \epsilon}} \odot g_k

    (:math:`\epsilon` = ``qk_norm_eps``), as in OLMo 2, Qwen3 and Gemma 3 (per head) and the
    query-key normalization of Henry et al. 2020 and Dehghani et al. 2023. The logits
    :math:`|\tilde Q \tilde K^\top| / \sqrt d` are then at most
    :func:`max_attention_logit_bound` :math:`(g_q, g_k, d)`, whatever the scale of :math:`x`;
    without QK-norm they grow like the square of it.

    The mask :math:`M` is the causal mask (query :math:`i` sees keys :math:`j \le i`) when
    ``is_causal=True``, plus ``attn_mask`` when given: :math:`(S, S)` or broadcastable to
    :math:`(N, H, S, S)`, bool with ``True`` = may **not** attend (``nn.MultiheadAttention``'s
    convention) or of the input's dtype (added to the logits). A query that may attend to no
    key at all is rejected with a ValueError.

    After every forward pass ``last_max_logit`` holds (a Python float) the largest
    :math:`|\tilde Q_h \tilde K_h^\top|_{ij} / \sqrt d` over the batch, the heads and **all**
    query/key pairs, taken on the raw scaled logits before :math:`M` is added (so masked pairs
    count too); None before the first call.

    Shapes: ``x`` :math:`(N, S, E)` (batch first), output :math:`(N, S, E)`.
    """

    last_max_logit: float | None

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        qk_norm: bool = False,
        qk_norm_eps: float = 1e-6,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        embed_dim = check_positive_int("embed_dim", embed_dim)
        num_heads = check_positive_int("num_heads", num_heads)
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                f"num_heads={num_heads}"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.qk_norm = _check_bool("qk_norm", qk_norm)
        self.qk_norm_eps = check_eps("qk_norm_eps", qk_norm_eps)
        _check_bool("bias", bias)
        factory = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        if qk_norm:
            self.q_norm = RMSNorm(self.head_dim, eps=self.qk_norm_eps, **factory)
            self.k_norm = RMSNorm(self.head_dim, eps=self.qk_norm_eps, **factory)
        else:
            self.q_norm = None
            self.k_norm = None
        self.last_max_logit = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's ``MultiheadAttention`` init: Xavier-uniform Q/K/V projections, zero biases."""
        for projection in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(projection.weight)
        for projection in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if projection.bias is not None:
                nn.init.zeros_(projection.bias)

    def logit_bound(self) -> float:
        """:func:`max_attention_logit_bound` of this module's current gains (needs QK-norm)."""
        if self.q_norm is None or self.k_norm is None:
            raise ValueError(
                "logit_bound() needs qk_norm=True: without it the logits are unbounded"
            )
        return max_attention_logit_bound(self.q_norm.weight, self.k_norm.weight, self.head_dim)

    def forward(
        self, x: Tensor, *, is_causal: bool = False, attn_mask: Tensor | None = None
    ) -> Tensor:
        _check_batch_first_input("x", x, self.embed_dim, self.out_proj.weight.dtype)
        _check_bool("is_causal", is_causal)
        batch, length = x.size(0), x.size(1)
        mask = self._mask(attn_mask, is_causal, batch, length, x)
        q, k, v = (
            projection(x).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
            for projection in (self.q_proj, self.k_proj, self.v_proj)
        )  # each (N, H, S, d)
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        with torch.no_grad():
            self.last_max_logit = float(scores.detach().abs().max())
        if mask is not None:
            scores = scores + mask
        weights = functional.softmax(scores, -1)
        heads = torch.matmul(weights, v)  # (N, H, S, d)
        return self.out_proj(heads.transpose(1, 2).reshape(batch, length, self.embed_dim))

    def _mask(
        self, attn_mask: Tensor | None, is_causal: bool, batch: int, length: int, x: Tensor
    ) -> Tensor | None:
        """Check ``attn_mask`` and return the additive mask (causal part included), or None."""
        scores_shape = (batch, self.num_heads, length, length)
        if attn_mask is not None:
            check_mask_type("attn_mask", attn_mask, x.dtype)
            try:
                fits = tuple(torch.broadcast_shapes(attn_mask.shape, scores_shape)) == scores_shape
            except RuntimeError:
                fits = False
            if not fits:
                raise InputShapeError(
                    f"attn_mask must have shape (S, S) = {[length, length]} or be broadcastable "
                    f"to (N, num_heads, S, S) = {list(scores_shape)}, got {list(attn_mask.shape)}"
                )
        mask = additive_mask(attn_mask, x.dtype)
        if is_causal:
            causal = functional.causal_mask(length, length, x.dtype, x.device)
            mask = causal if mask is None else mask + causal
        if attn_mask is not None and bool((mask == float("-inf")).all(-1).any()):
            raise ValueError(
                "attn_mask (with the causal mask when is_causal=True) blocks every key of some "
                "query, whose attention weights would be NaN"
            )
        return mask

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, qk_norm={self.qk_norm}, "
            f"qk_norm_eps={self.qk_norm_eps}"
        )


class Block(nn.Module):
    r"""One decoder-style Transformer block with a chosen placement of its normalizations.

    Two sub-layers, causal self-attention :math:`\mathrm{SA}` (a :class:`QKNormSelfAttention`,
    ``self_attn``) and the feed-forward network
    :math:`\mathrm{FF}(x) = \mathrm{GELU}(x W_1^\top + b_1) W_2^\top + b_2` (``linear1``,
    ``linear2``), each wrapped according to ``placement``:

    * ``"post"`` (Vaswani et al. 2017): :math:`x \leftarrow N_1(x + \mathrm{SA}(x))`,
      :math:`x \leftarrow N_2(x + \mathrm{FF}(x))`;
    * ``"pre"`` (GPT-2 and most LLMs): :math:`x \leftarrow x + \mathrm{SA}(N_1(x))`,
      :math:`x \leftarrow x + \mathrm{FF}(N_2(x))`;
    * ``"peri"`` (Peri-LN, Kim et al. 2025; Gemma 2/3's "sandwich" norm):
      :math:`x \leftarrow x + N_1^{out}(\mathrm{SA}(N_1(x)))`,
      :math:`x \leftarrow x + N_2^{out}(\mathrm{FF}(N_2(x)))`;
    * ``"output"`` (OLMo 2's reordered norm): :math:`x \leftarrow x + N_1^{out}(\mathrm{SA}(x))`,
      :math:`x \leftarrow x + N_2^{out}(\mathrm{FF}(x))`.

    :math:`N_1, N_2` are ``norm1``, ``norm2`` (None for ``"output"``, which has none) and
    :math:`N_1^{out}, N_2^{out}` are ``norm1_out``, ``norm2_out`` (None for ``"post"`` and
    ``"pre"``), each :func:`make_norm` ``(norm, d_model, norm_eps)``. ``residual=False`` drops the
    skip connection "x +" of both sub-layers and keeps the norms (e.g. ``"pre"`` becomes
    :math:`x \leftarrow \mathrm{SA}(N_1(x))`). ``qk_norm`` is passed to the attention. With
    ``dropout`` :math:`p > 0` (training mode only), dropout is applied to the hidden GELU
    activations and to each sub-layer's branch output, after its output norm and before the
    skip is added (for ``"post"``: before the add and :math:`N`).

    Shapes: ``x`` :math:`(N, S, d)` (batch first), output :math:`(N, S, d)`.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        *,
        placement: str = "pre",
        norm: str = "layer",
        qk_norm: bool = False,
        residual: bool = True,
        dropout: float = 0.0,
        norm_eps: float = 1e-5,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        d_model = check_positive_int("d_model", d_model)
        nhead = check_positive_int("nhead", nhead)
        if d_model % nhead != 0:
            raise ValueError(
                f"d_model must be divisible by nhead, got d_model={d_model} and nhead={nhead}"
            )
        dim_feedforward = check_positive_int("dim_feedforward", dim_feedforward)
        self.placement = _check_choice("placement", placement, PLACEMENTS)
        self.norm = _check_choice("norm", norm, NORM_KINDS)
        self.qk_norm = _check_bool("qk_norm", qk_norm)
        self.residual = _check_bool("residual", residual)
        self.dropout_p = check_probability("dropout", dropout)
        norm_eps = check_eps("norm_eps", norm_eps)
        self.d_model = d_model
        factory = {"device": device, "dtype": dtype}
        self.self_attn = QKNormSelfAttention(d_model, nhead, qk_norm=qk_norm, **factory)
        self.linear1 = nn.Linear(d_model, dim_feedforward, **factory)
        self.linear2 = nn.Linear(dim_feedforward, d_model, **factory)
        self.dropout = nn.Dropout(self.dropout_p)

        def new_norm() -> nn.Module:
            return make_norm(norm, d_model, norm_eps, **factory)

        has_inner = placement in ("post", "pre", "peri")
        has_outer = placement in ("peri", "output")
        self.norm1 = new_norm() if has_inner else None
        self.norm2 = new_norm() if has_inner else None
        self.norm1_out = new_norm() if has_outer else None
        self.norm2_out = new_norm() if has_outer else None

    def _feed_forward(self, x: Tensor) -> Tensor:
        r""":math:`\mathrm{GELU}(x W_1^\top + b_1) W_2^\top + b_2` (dropout on the hidden units)."""
        return self.linear2(self.dropout(torch_functional.gelu(self.linear1(x))))

    def _attention(self, x: Tensor) -> Tensor:
        return self.self_attn(x, is_causal=True)

    def forward(self, x: Tensor) -> Tensor:
        _check_batch_first_input("x", x, self.d_model, self.linear1.weight.dtype)
        x = self._sublayer(x, self._attention, self.norm1, self.norm1_out)
        return self._sublayer(x, self._feed_forward, self.norm2, self.norm2_out)

    def _sublayer(
        self,
        x: Tensor,
        function: Callable[[Tensor], Tensor],
        inner: nn.Module | None,
        outer: nn.Module | None,
    ) -> Tensor:
        """One sub-layer with this block's placement: ``inner`` is :math:`N_i`, ``outer``
        :math:`N_i^{out}` (each None where the placement has no such norm)."""
        if self.placement == "post":
            assert inner is not None  # "post" always has norm1 and norm2
            branch = self.dropout(function(x))
            return inner(x + branch if self.residual else branch)
        branch = function(x if inner is None else inner(x))
        if outer is not None:
            branch = outer(branch)
        branch = self.dropout(branch)
        return x + branch if self.residual else branch

    def extra_repr(self) -> str:
        return (
            f"placement={self.placement!r}, norm={self.norm!r}, qk_norm={self.qk_norm}, "
            f"residual={self.residual}, dropout={self.dropout_p}"
        )


class BlockStack(nn.Module):
    r"""A small causal language model: embeddings, ``num_layers`` :class:`Block` s, a read-out.

    .. math::
        h_0 = E_{\mathrm{tok}}[t] + E_{\mathrm{pos}}[0..S-1], \qquad
        h_\ell = \mathrm{Block}_\ell(h_{\ell-1}), \qquad
        \mathrm{logits} = N_f(h_L)\, W^\top + b

    ``token_embedding`` :math:`(V, d)` and ``position_embedding`` :math:`(\texttt{max\_len}, d)`
    are ``nn.Embedding`` (torch's :math:`\mathcal N(0, 1)` init), ``layers`` the blocks (all with
    the same ``placement``, ``norm``, ``qk_norm``, ``residual``), ``final_norm`` the module
    :math:`N_f` and ``readout`` the ``nn.Linear(d, V)``. The ``final_norm`` argument is a kind of
    :func:`make_norm`; None (the default) means ``norm`` for the placements ``"pre"``,
    ``"peri"`` and ``"output"``, whose stream is not normalized at the end of a block, and
    ``"none"`` for ``"post"``, whose blocks end with a norm already. The kind chosen is kept in
    ``final_norm_kind``.

    Shapes: ``tokens`` :math:`(N, S)` integer with :math:`S \le \texttt{max\_len}`, logits
    :math:`(N, S, V)`. :meth:`forward_with_stream` also returns the residual stream
    :math:`[h_0, h_1, \dots, h_L]`.
    """

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        num_layers: int,
        *,
        placement: str,
        norm: str,
        qk_norm: bool = False,
        residual: bool = True,
        final_norm: str | None = None,
        dropout: float = 0.0,
        norm_eps: float = 1e-5,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.max_len = check_positive_int("max_len", max_len)
        self.d_model = check_positive_int("d_model", d_model)
        self.num_layers = check_positive_int("num_layers", num_layers)
        placement = _check_choice("placement", placement, PLACEMENTS)
        norm = _check_choice("norm", norm, NORM_KINDS)
        if final_norm is None:
            final_norm = "none" if placement == "post" else norm
        self.final_norm_kind = _check_choice("final_norm", final_norm, NORM_KINDS)
        factory = {"device": device, "dtype": dtype}
        self.token_embedding = nn.Embedding(vocab_size, d_model, **factory)
        self.position_embedding = nn.Embedding(max_len, d_model, **factory)
        self.layers = nn.ModuleList(
            Block(
                d_model,
                nhead,
                dim_feedforward,
                placement=placement,
                norm=norm,
                qk_norm=qk_norm,
                residual=residual,
                dropout=dropout,
                norm_eps=norm_eps,
                **factory,
            )
            for _ in range(self.num_layers)
        )
        self.final_norm = make_norm(self.final_norm_kind, d_model, norm_eps, **factory)
        self.readout = nn.Linear(d_model, vocab_size, **factory)

    def _check_tokens(self, tokens: object) -> Tensor:
        """Check ``tokens``: an integer Tensor :math:`(N, S)`, :math:`S \\le` max_len, in range."""
        if not isinstance(tokens, Tensor):
            raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must have dtype torch.int64 (or int32), got {tokens.dtype}")
        if tokens.dim() != 2 or not 1 <= tokens.size(1) <= self.max_len:
            raise InputShapeError(
                f"tokens must have shape (N, S) with 1 <= S <= max_len={self.max_len}, got "
                f"{list(tokens.shape)}"
            )
        if tokens.numel() and bool(((tokens < 0) | (tokens >= self.vocab_size)).any()):
            raise ValueError(
                f"tokens must be in [0, vocab_size={self.vocab_size}), got values in "
                f"[{int(tokens.min())}, {int(tokens.max())}]"
            )
        return tokens

    def _run(self, tokens: Tensor, stream: list[Tensor] | None) -> Tensor:
        self._check_tokens(tokens)
        positions = torch.arange(tokens.size(1), device=tokens.device)
        h = self.token_embedding(tokens) + self.position_embedding(positions)
        if stream is not None:
            stream.append(h)
        for layer in self.layers:
            h = layer(h)
            if stream is not None:
                stream.append(h)
        return self.readout(self.final_norm(h))

    def forward(self, tokens: Tensor) -> Tensor:
        return self._run(tokens, None)

    def forward_with_stream(self, tokens: Tensor) -> tuple[Tensor, list[Tensor]]:
        r"""The logits and the residual stream :math:`[h_0, h_1, \dots, h_L]`.

        :math:`h_0` is the embedding output and :math:`h_\ell` the output of block :math:`\ell`
        (before the final norm), each :math:`(N, S, d)`: ``num_layers + 1`` tensors, still
        attached to the autograd graph (detach them to only measure, e.g. their RMS).
        """
        stream: list[Tensor] = []
        return self._run(tokens, stream), stream
