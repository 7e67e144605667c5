"""PyTorch re-implementations, drop-in compatible with their ``torch.nn`` namesakes.

``functional`` holds softmax, layer_norm, rms_norm and scaled_dot_product_attention; the modules
``LayerNorm``, ``RMSNorm``, ``MultiheadAttention``, ``TransformerEncoderLayer``,
``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder`` and ``Transformer``
take the same arguments and ``state_dict`` keys as torch's. One switch,
:func:`fused_kernels` (default on), chooses torch's fused kernels or our explicit formulas.

What torch.nn does not have lives apart, so that this namespace stays a drop-in:
:mod:`verified_transformer.nn.variants` holds ``DynamicTanh``, QK-norm attention and blocks with
every placement of the normalization, for the ablation of chapter 6.
"""

from verified_transformer.nn import functional
from verified_transformer.nn.attention import MultiheadAttention
from verified_transformer.nn.decoder import TransformerDecoder, TransformerDecoderLayer
from verified_transformer.nn.encoder_decoder import Transformer
from verified_transformer.nn.fused import fused_kernels, fused_kernels_enabled, set_fused_kernels
from verified_transformer.nn.normalization import LayerNorm, RMSNorm
from verified_transformer.nn.positional import SinusoidalPositionalEncoding, rotary_embedding
from verified_transformer.nn.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "LayerNorm",
    "MultiheadAttention",
    "RMSNorm",
    "SinusoidalPositionalEncoding",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "functional",
    "fused_kernels",
    "fused_kernels_enabled",
    "rotary_embedding",
    "set_fused_kernels",
]
