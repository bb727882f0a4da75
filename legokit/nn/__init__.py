"""legokit.nn: attention (full and restricted), Transformer/Conformer blocks, subsampling, positions."""

from legokit.nn.attention import MultiHeadAttention, restricted_attention
from legokit.nn.config import EncoderConfig, build_encoder
from legokit.nn.conformer import ConformerEncoder, ConformerEncoderLayer
from legokit.nn.positional import SinusoidalPositionalEncoding, sinusoidal_table
from legokit.nn.subsampling import Conv2dSubsampling, subsampled_length
from legokit.nn.transformer import (
    DecoderCache,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "Conv2dSubsampling",
    "ConformerEncoder",
    "ConformerEncoderLayer",
    "DecoderCache",
    "EncoderConfig",
    "MultiHeadAttention",
    "SinusoidalPositionalEncoding",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "build_encoder",
    "restricted_attention",
    "sinusoidal_table",
    "subsampled_length",
]
