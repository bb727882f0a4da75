"""The search driving legokit's own Transformer DecoderBrick (incremental key/value cache)."""

import pytest
import torch

from legokit.data.vocab import VocabularyInfo
from legokit.decode.beam_search import BeamSearchConfig, beam_search
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.ingestors import IngestorConfig

BOS, EOS, VOCAB, DIM = 2, 3, 20, 16
IDS = VocabularyInfo(VOCAB, blank=0, pad=0, unk=1, bos=BOS, eos=EOS)


@pytest.fixture
def brick() -> DecoderBrick:
    cfg = DecoderBrickConfig(ingestor=IngestorConfig(kind="states", num_layers=1, num_heads=2, ffn_dim=32,
                                                     dropout=0.0),
                             dim=DIM, num_layers=2, num_heads=2, ffn_dim=32, dropout=0.0)
    return DecoderBrick(cfg, input_vocab_size=VOCAB, output_vocab_size=VOCAB, input_dim=DIM).double().eval()


def test_greedy_output_is_the_argmax_of_the_teacher_forced_decoder(brick):
    lengths = torch.tensor([7, 4])
    memory, mask = brick.ingest(torch.randn(2, 7, DIM, dtype=torch.float64), lengths)
    cfg = BeamSearchConfig(beam_size=1, max_len_ratio=0.0, max_len_offset=6)
    for b, hyp in enumerate(beam_search(brick, memory, mask, lengths, cfg, IDS)):
        tokens = hyp[0].tokens
        prefix = torch.tensor([[BOS] + tokens])
        logits = brick.decoder(brick._embed(prefix), memory[b : b + 1, : lengths[b]], mask[b : b + 1, : lengths[b]])
        log_probs = brick.output(logits).log_softmax(-1)[0]
        log_probs[:, [0, BOS]] = -torch.inf
        ended = tokens + ([EOS] if len(tokens) < 6 else [])
        assert log_probs.argmax(-1)[: len(ended)].tolist() == ended


def test_batched_equals_one_by_one_with_the_kv_cache(brick):
    lengths = torch.tensor([7, 3, 5])
    memory, mask = brick.ingest(torch.randn(3, 7, DIM, dtype=torch.float64), lengths)
    cfg = BeamSearchConfig(beam_size=4, nbest=3, max_len_ratio=1.0, max_len_offset=1)
    batched = beam_search(brick, memory, mask, lengths, cfg, IDS)
    for b in range(3):
        one = slice(b, b + 1)
        single = beam_search(brick, memory[one, : lengths[b]], mask[one, : lengths[b]], lengths[one], cfg, IDS)
        assert [h.tokens for h in batched[b]] == [h.tokens for h in single[0]]
        assert [h.score for h in batched[b]] == pytest.approx([h.score for h in single[0]])


def test_scores_equal_teacher_forced_rescoring_and_first_step_runs_once_per_utterance(brick):
    """The incremental cache through every reorder of the search gives each hypothesis the score the
    full (teacher-forced) decoder gives it; the first step, where all beam slots hold bos, runs on B rows."""
    lengths = torch.tensor([7, 5])
    memory, mask = brick.ingest(torch.randn(2, 7, DIM, dtype=torch.float64), lengths)
    rows_seen = []
    step = brick.step
    brick.step = lambda tokens, state: rows_seen.append(tokens.size(0)) or step(tokens, state)
    cfg = BeamSearchConfig(beam_size=4, nbest=4, max_len_ratio=1.0, max_len_offset=2)
    hyps = beam_search(brick, memory, mask, lengths, cfg, IDS)
    assert rows_seen[:2] == [2, 8]
    for b, utterance in enumerate(hyps):
        for hyp in utterance:
            prefix = torch.tensor([[BOS] + hyp.tokens])
            target = hyp.tokens + [EOS]  # every hypothesis of the search ends with eos
            hidden = brick.decoder(brick._embed(prefix), memory[b : b + 1, : lengths[b]], mask[b : b + 1, : lengths[b]])
            log_probs = brick.output(hidden).log_softmax(-1)[0, : len(target)]
            assert hyp.att_score == pytest.approx(log_probs.gather(1, torch.tensor(target)[:, None]).sum().item())


def test_joint_ctc_attention_hypotheses_same_with_the_packed_conformer_encoder(brick):
    """The Conformer encoder's packed inference path (real frames only) leaves the joint CTC/attention search's
    hypotheses and scores as those of the padded computation."""
    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
    from legokit.nn.config import EncoderConfig

    torch.manual_seed(0)
    cfg = EncoderBrickConfig(input="speech", feat_dim=20, encoder=EncoderConfig(
        kind="conformer", num_layers=2, dim=DIM, num_heads=2, ffn_dim=32, kernel_size=5, pos_enc="rel", dropout=0.0))
    encoder = EncoderBrick(cfg, output_vocab_size=VOCAB).double().eval()
    speech, lengths = torch.randn(4, 61, 20, dtype=torch.float64), torch.tensor([61, 40, 23, 52])
    search = BeamSearchConfig(beam_size=4, nbest=3, ctc_weight=0.3, length_penalty=0.0, max_len_ratio=0.0,
                              max_len_offset=6)

    def decode(packed: bool) -> list:
        encoder.encoder.packed_inference = packed
        with torch.no_grad():
            out = encoder(speech, lengths)
            memory, mask = brick.ingest(out.states, out.lengths)
            return beam_search(brick, memory, mask, out.lengths, search, IDS,
                               ctc_log_probs=out.logits.log_softmax(-1), ctc_lengths=out.lengths)

    packed, padded = decode(True), decode(False)
    assert [[h.tokens for h in u] for u in packed] == [[h.tokens for h in u] for u in padded]
    assert sum(map(len, packed)) >= 8
    for name in ("score", "att_score", "ctc_score"):
        assert [getattr(h, name) for u in packed for h in u] == pytest.approx(
            [getattr(h, name) for u in padded for h in u], rel=1e-10, abs=1e-10)
