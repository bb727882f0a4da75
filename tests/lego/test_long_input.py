"""Decoding inputs far longer than any training input with bounded memory (restricted attention).

A speech summariser (restricted-attention Conformer encoder without CTC head -> Transformer decoder) decodes
30,000 frames (5 min of speech; the demo recipe trains on documents of at most 2,400 frames) by greedy and
beam search on CPU. Peak memory is read from the kernel (VmHWM after resetting it through
/proc/self/clear_refs) in a fresh process, so pytest's own allocations do not count.

Bound: full self-attention over the T' = 7,500 encoder frames would hold one (heads=4, T', T') float32
score matrix of 4 * 7500^2 * 4 B = 900 MB per layer; restricted attention holds O(T'·w). The measured peak
(~350 MB) is dominated by the conv subsampling front end, whose first layer outputs 64 channels x 15,000 x
39 float32 = 150 MB: linear in T. We assert less than 600 MB, and that quadrupling the input (7.5k ->
30k frames) grows the peak at most 6x (linear: 4x; quadratic attention: 16x).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json, sys
import torch
from legokit.data.vocab import VocabularyInfo
from legokit.decode.beam_search import BeamSearchConfig
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.ingestors import IngestorConfig
from legokit.lego.model import LegoModel
from legokit.nn.config import EncoderConfig


def kib(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))


torch.manual_seed(0)
torch.set_num_threads(1)
stack = EncoderConfig(kind="conformer", num_layers=2, dim=64, num_heads=4, ffn_dim=128, window=[16, 32],
                      kernel_size=15)
encoder = EncoderBrick(EncoderBrickConfig(input="speech", feat_dim=80, encoder=stack, ctc_head=False), 0, 20)
decoder = DecoderBrick(DecoderBrickConfig(ingestor=IngestorConfig(kind="states"), dim=64, num_layers=1,
                                          num_heads=4, ffn_dim=128), 20, 20, input_dim=64)
ids = VocabularyInfo(20, blank=0, pad=0, unk=1, bos=2, eos=3)
model = LegoModel([encoder], decoder, vocabularies=[ids, ids]).eval()
result = {}
for frames in (7500, 30000):
    batch = {"speech": torch.randn(1, frames, 80), "speech_lengths": torch.tensor([frames])}
    for beam in (1, 4):
        cfg = BeamSearchConfig(beam_size=beam, max_len_ratio=0.0, max_len_offset=20)
        base = kib("VmRSS:")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS counter to the current RSS
        hyp = model.recognize(batch, cfg)[0]
        result[f"{frames}/{beam}"] = {"peak_mb": (kib("VmHWM:") - base) / 1024, "tokens": len(hyp)}
print(json.dumps(result))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset")
def test_thirty_thousand_frames_decode_with_bounded_memory():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for beam in (1, 4):
        long, short = result[f"30000/{beam}"], result[f"7500/{beam}"]
        assert 0 < long["tokens"] <= 20  # max_len_offset caps the output
        assert long["peak_mb"] < 600, result
        assert long["peak_mb"] < 6 * max(short["peak_mb"], 10), result
