"""Encoder bricks: speech, text, and modality-agnostic (interface -> interface).

Every encoder brick maps its input to states (B, K, D) and, through a CTC head, to interface logits
(B, K, |V|) whose softmax are the marginals the next brick reads:

- speech:    fbank (B, T, F) -> global CMVN -> conv subsampling -> Transformer/Conformer [-> OLC] -> CTC
- text:      source tokens (B, S) -> embedding + positions -> Transformer [-> OLC] -> CTC
- interface: marginals (B, K, |V_in|) -> ingestor (WEmb/BeamConv) -> Transformer [-> OLC] -> CTC

The OLC (output length controller) is present when ``length_rate`` is set. Each brick also counts the
lengths it saw in training (buffers saved with the weights) so a composer can choose a length rate.

Intermediate CTC (``interctc_layers``; Lee & Watanabe, 2021): after the listed encoder layers the brick's own CTC
head reads the encoder's final LayerNorm of the states, giving ``EncoderOutput.inter_logits`` for an extra CTC
term (``loss.interctc_weight``). With ``interctc_conditioning`` (self-conditioned CTC; Nozaki & Komatsu, 2021)
the states then get ``+ Linear(softmax(intermediate logits))`` before the next layer, in training and inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from legokit.config import InvalidValue, ranged
from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError
from legokit.lego.ingestors import IngestorConfig, build_ingestor
from legokit.lego.interface import CTCHead, corrupt_tokens, tokens_as_frames
from legokit.lego.length_controller import OutputLengthController
from legokit.nn.config import EncoderConfig, build_encoder, check_heads
from legokit.nn.dropout import Dropout
from legokit.nn.masks import padding_mask
from legokit.nn.packing import Packing
from legokit.nn.positional import SinusoidalPositionalEncoding
from legokit.nn.subsampling import Conv2dSubsampling


@dataclass
class EncoderBrickConfig:
    """An encoder brick: input kind, the encoder stack, optional length controller and CTC head."""

    input: Literal["speech", "text", "interface"] = "text"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    feat_dim: int = 80               # speech: input feature size F
    subsampling: int = 4             # speech: conv subsampling factor (4, 6 or 8)
    subsampling_channels: int | None = None  # speech: conv channels (None: the model dim, as ESPnet)
    ingestor: IngestorConfig = field(default_factory=IngestorConfig)  # interface: how to read P
    length_rate: float | None = ranged(None, "(0, inf)")  # OLC rate r (K = floor(r*T)); None = no OLC (K = T)
    olc_layers: int = 2              # OLC non-causal decoder-style layers
    olc_queries: Literal["copy", "position"] = "copy"  # OLC queries: + input state floor(k/r), or positions only
    ctc_head: bool = True            # emit an interface (False: hidden states only, non-modular baseline)
    # interface brick trained on text: spread each input token over this many CTC-like frames on average (one
    # peak, blanks after it: interface.tokens_as_frames; at random in training, evenly in evaluation), as a speech
    # brick's interface looks; marginals from an upstream brick are read as they are. None: one position a token
    text_frames_per_token: float | None = ranged(None, "[1, inf)")
    # interface brick trained on text: in training, each input token is replaced by a random one or dropped (half
    # each) with this probability, as an upstream speech brick misreads (interface.corrupt_tokens)
    text_token_errors: float = ranged(0.0, "[0, 1)")
    # intermediate CTC (ESPnet's interctc_layer_idx): 1-based encoder layers, each in 1..num_layers-1, after which
    # the brick's CTC head reads the encoder's final LayerNorm of the states (weight: loss.interctc_weight)
    interctc_layers: list[int] = field(default_factory=list)
    # self-conditioned CTC (ESPnet's interctc_use_conditioning): after each interctc layer the states get
    # + Linear(softmax(intermediate logits)), one Linear for all of them; part of the function (inference too)
    interctc_conditioning: bool = False

    def validate(self) -> None:
        """An interface-reading encoder's ingestor heads divide the encoder dimension; intermediate CTC fits."""
        if self.input == "interface":
            check_heads(self.encoder.dim, self.ingestor.num_heads, "ingestor.num_heads")
        problem = interctc_problem(self)
        if problem is not None:
            raise problem


def interctc_problem(cfg: EncoderBrickConfig) -> InvalidValue | None:
    """Why ``cfg``'s intermediate CTC keys cannot be built (naming the key), or None."""
    layers, last = cfg.interctc_layers, cfg.encoder.num_layers - 1
    if any(not 1 <= i <= last for i in layers) or len(set(layers)) != len(layers):
        where = f"in 1..{last} (encoder.num_layers - 1)" if last >= 1 else "empty (encoder.num_layers is 1)"
        return InvalidValue("interctc_layers", f"distinct layer indices {where}", layers)
    if layers and not cfg.ctc_head:
        return InvalidValue("interctc_layers", "empty when ctc_head is false (intermediate CTC uses the CTC head)",
                            layers)
    if layers and cfg.length_rate is not None:
        return InvalidValue("interctc_layers", "empty when length_rate is set (the OLC changes the length between "
                            "the encoder and the CTC head)", layers)
    if cfg.interctc_conditioning and not layers:
        return InvalidValue("interctc_conditioning", "false when interctc_layers is empty (nothing to condition on)",
                            cfg.interctc_conditioning)
    return None


@dataclass
class EncoderOutput:
    """states (B, K, D), lengths (B,), logits (B, K, |V|) or None without a CTC head; inter_logits: one (B, K, |V|)
    per intermediate CTC layer (``interctc_layers``, in layer order), empty without."""

    states: Tensor
    lengths: Tensor
    logits: Tensor | None
    inter_logits: list[Tensor] = field(default_factory=list)


class LengthStats(nn.Module):
    """Running sums of input/output/target lengths seen in training (saved with the brick)."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("count", "input_sum", "output_sum", "target_sum"):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64))
        self.register_buffer("output_min", torch.tensor(float("inf"), dtype=torch.float64))
        self.register_buffer("output_max", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, input_lengths: Tensor, output_lengths: Tensor, target_lengths: Tensor | None) -> None:
        self.count += input_lengths.numel()
        self.input_sum += input_lengths.sum().double()
        self.output_sum += output_lengths.sum().double()
        self.output_min.copy_(torch.minimum(self.output_min, output_lengths.min().double()))
        self.output_max.copy_(torch.maximum(self.output_max, output_lengths.max().double()))
        if target_lengths is not None:
            self.target_sum += target_lengths.sum().double()

    def summary(self) -> dict[str, float]:
        """Means and range for the manifest (empty when nothing was seen)."""
        n = float(self.count)
        if n == 0:
            return {}
        return {"count": n, "input_mean": float(self.input_sum) / n, "output_mean": float(self.output_sum) / n,
                "output_min": float(self.output_min), "output_max": float(self.output_max),
                "target_mean": float(self.target_sum) / n}


class EncoderBrick(nn.Module):
    """One encoder brick; see the module docstring for the three input kinds.

    Args:
        cfg: brick configuration.
        input_vocab_size: source vocabulary (text) or input interface size (interface); unused for speech.
        output_vocab_size: interface vocabulary size |V| of the CTC head (blank included).
        input_vocab: the input interface's special ids (interface input trained on text: text_frames_per_token
            and text_token_errors need its blank and special ids).
    """

    def __init__(self, cfg: EncoderBrickConfig, input_vocab_size: int = 0, output_vocab_size: int = 0,
                 input_vocab: VocabularyInfo | None = None) -> None:
        super().__init__()
        problem = interctc_problem(cfg)
        if problem is not None:
            raise LegokitError(f"model.encoder.{problem.key} must be {problem.expected}, got {problem.value!r}")
        self.cfg = cfg
        self.input_vocab_size = input_vocab_size
        self.input_vocab = input_vocab
        dim = cfg.encoder.dim
        if cfg.input == "speech":
            self.register_buffer("cmvn_mean", torch.zeros(cfg.feat_dim))
            self.register_buffer("cmvn_std", torch.ones(cfg.feat_dim))
            self.frontend = Conv2dSubsampling(cfg.feat_dim, dim, factor=cfg.subsampling,
                                              channels=cfg.subsampling_channels)
        elif cfg.input == "text":
            self.frontend = nn.Embedding(input_vocab_size, dim, padding_idx=0)  # pad 0: Tokenizer, bricks._build_module
            nn.init.normal_(self.frontend.weight, std=dim**-0.5)
        else:
            self.frontend = build_ingestor(cfg.ingestor, input_vocab_size, dim)
        # relative self-attention (encoder.pos_enc "rel") takes no positions in its input: dropout only
        self.pos = (SinusoidalPositionalEncoding(dim, dropout=cfg.encoder.dropout) if cfg.encoder.pos_enc == "abs"
                    else Dropout(cfg.encoder.dropout))
        self.encoder = build_encoder(cfg.encoder)
        self.olc = (OutputLengthController(dim, cfg.length_rate, cfg.olc_layers, cfg.encoder.num_heads,
                                           cfg.encoder.ffn_dim, cfg.encoder.dropout, queries=cfg.olc_queries)
                    if cfg.length_rate is not None else None)
        self.ctc = CTCHead(dim, output_vocab_size) if cfg.ctc_head else None
        # self-conditioned CTC: marginals (|V|) back into the states (D), shared by the interctc layers
        self.interctc_condition = nn.Linear(output_vocab_size, dim) if cfg.interctc_conditioning else None
        self.length_stats = LengthStats()

    @property
    def dim(self) -> int:
        return self.cfg.encoder.dim

    def set_cmvn(self, mean: Tensor, std: Tensor) -> None:
        """Global CMVN statistics (F,) applied to speech input inside the brick."""
        self.cmvn_mean.copy_(mean)
        self.cmvn_std.copy_(std.clamp_min(1e-5))

    def _frontend(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if self.cfg.input == "speech":
            x = (inputs - self.cmvn_mean) / self.cmvn_std
            x, lengths = self.frontend(x, lengths)
            return self.pos(x), lengths
        if self.cfg.input == "text":
            return self.pos(self.frontend(inputs) * self.dim**0.5), lengths
        return self.frontend(inputs, lengths)  # ingestor adds its own positions

    def forward(self, inputs: Tensor, lengths: Tensor, target_lengths: Tensor | None = None) -> EncoderOutput:
        """inputs: speech (B, T, F) | tokens (B, S) | marginals (B, K, |V_in|) or their token ids; lengths (B,).

        ``target_lengths`` (B,) of this interface's CTC target, only to record length statistics.
        """
        if self.cfg.input == "interface" and not inputs.is_floating_point():
            # token ids (B, S) as one-hot marginals: an interface brick trained on text (LegoNN's
            # modality-agnostic brick learns A -> B on text, then reads brick 1's real marginals)
            text_as_speech = self.cfg.text_token_errors > 0 or self.cfg.text_frames_per_token is not None
            if text_as_speech and self.input_vocab is None:
                raise LegokitError("model.encoder.text_frames_per_token / text_token_errors: this brick was built "
                                   "without its input vocabulary's ids")
            if self.training and self.cfg.text_token_errors > 0:
                inputs = corrupt_tokens(inputs, lengths, self.cfg.text_token_errors, self.input_vocab)
            if self.cfg.text_frames_per_token is not None:
                inputs, lengths = tokens_as_frames(inputs, lengths, self.cfg.text_frames_per_token,
                                                   blank=self.input_vocab.blank, random=self.training)
            inputs = torch.nn.functional.one_hot(inputs, self.input_vocab_size).float()
        x, x_lengths = self._frontend(inputs, lengths)
        mask = padding_mask(x_lengths, x.size(1))
        inter_logits: list[Tensor] = []
        after_layer = self._intermediate_ctc(inter_logits) if self.cfg.interctc_layers else None
        x = self.encoder(x, mask, after_layer=after_layer)
        if any(logits.dim() == 2 for logits in inter_logits):  # the encoder's packed path: (N, |V|) real frames
            packing = Packing(mask)
            inter_logits = [packing.unpack(logits) if logits.dim() == 2 else logits for logits in inter_logits]
        if self.olc is not None:
            x, x_lengths = self.olc(x, x_lengths)
        if self.training:
            self.length_stats.update(lengths, x_lengths, target_lengths)
        logits = self.ctc(x) if self.ctc is not None else None
        return EncoderOutput(x, x_lengths, logits, inter_logits)

    def _intermediate_ctc(self, inter_logits: list[Tensor]) -> Callable[[int, Tensor], Tensor]:
        """The encoder's ``after_layer`` hook: after each interctc layer, append the CTC head's logits of the
        normed states to ``inter_logits`` and, with conditioning, add the projected softmax to the states. Frame-wise,
        so it reads padded (B, T, D) and packed (N, D) states alike (logits (B, T, |V|) or (N, |V|))."""
        layers = set(self.cfg.interctc_layers)

        def after_layer(index: int, states: Tensor) -> Tensor:
            if index not in layers:
                return states
            logits = self.ctc(self.encoder.norm(states))
            inter_logits.append(logits)
            if self.interctc_condition is None:
                return states
            return states + self.interctc_condition(torch.softmax(logits.float(), dim=-1).to(states.dtype))

        return after_layer
