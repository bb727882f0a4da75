import pytest
import torch

from legokit.errors import LegokitError
from legokit.nn.config import EncoderConfig, build_encoder
from legokit.nn.conformer import ConformerEncoder
from legokit.nn.transformer import TransformerEncoder


@pytest.mark.parametrize("kind,cls", [("transformer", TransformerEncoder), ("conformer", ConformerEncoder)])
def test_build_encoder(kind, cls):
    cfg = EncoderConfig(kind=kind, num_layers=2, dim=8, num_heads=2, ffn_dim=16, window=[2, None],
                        kernel_size=3)
    enc = build_encoder(cfg)
    assert isinstance(enc, cls) and len(enc.layers) == 2
    assert [layer.window for layer in enc.layers] == [2, None]
    assert enc(torch.randn(1, 5, 8)).shape == (1, 5, 8)


@pytest.mark.parametrize(
    "field,value,message",
    [("kind", "lstm", "encoder.kind must be 'transformer' or 'conformer', got 'lstm'"),
     ("num_layers", 0, "encoder.num_layers must be >= 1"),
     ("dim", 10, r"encoder.dim must be a multiple of num_heads \(4\), got 10"),
     ("kernel_size", 4, "encoder.kernel_size must be odd"),
     ("conv_norm", "group", "encoder.conv_norm must be 'batch' or 'layer'"),
     ("window", [1, 2, 3], "'window' lists 3 values but the encoder has 12 layers")],
)
def test_bad_config_names_the_key(field, value, message):
    with pytest.raises(LegokitError, match=message):
        build_encoder(EncoderConfig(**{field: value}))
