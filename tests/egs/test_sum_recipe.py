"""egs/TEMPLATE/sum1/sum.sh: its options are documented (How2 and Debian recipes drive it through them)."""

import subprocess
from pathlib import Path

from legokit.config import load_config
from legokit.workflows.decode import DecodeConfig
from legokit.workflows.experiment import ExperimentConfig

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "debian_sum" / "sum1"


def test_help_lists_every_option_with_its_comment():
    out = subprocess.run(["bash", "sum.sh", "--help"], cwd=RECIPE, capture_output=True, text=True, check=True).stdout
    options = {line.split()[0]: line for line in out.splitlines() if line.startswith("  --")}
    for name in ("--stage", "--conf", "--train_set", "--test_sets", "--asr_train_set", "--asr_valid_set",
                 "--transcript", "--vocab", "--train_args", "--nproc", "--lead_words"):
        assert name in options, out
    assert all(len(line.split(maxsplit=2)) == 3 for line in options.values()), "an option lacks its comment"


def test_unknown_option_is_refused_with_the_valid_ones():
    proc = subprocess.run(["bash", "sum.sh", "--windw", "3"], cwd=RECIPE, capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown option '--windw'" in proc.stderr and "--conf" in proc.stderr


def test_demo_medium_and_paper_config_sets_hold_every_config_and_load():
    for preset in ("demo", "medium", "paper"):
        paths = {p.name: p for p in (RECIPE / "conf" / preset).glob("*.yaml")}
        assert set(paths) == {"asr.yaml", "sum.yaml", "text_sum.yaml", "decode_asr.yaml", "decode_sum.yaml",
                              "decode_text_sum.yaml"}, preset
        for name, path in paths.items():
            load_config(DecodeConfig if name.startswith("decode") else ExperimentConfig, str(path), [])
        asr, summ = (load_config(ExperimentConfig, str(paths[n]), []) for n in ("asr.yaml", "sum.yaml"))
        # fine-tuning starts from the ASR model: same encoder stack and decoder but for windows, CTC and dropout
        for cfg in (asr, summ):
            cfg.model.encoder.encoder.window = cfg.model.encoder.ctc_head = None
            cfg.model.encoder.encoder.dropout = cfg.model.decoder.dropout = None
        assert asr.model.encoder == summ.model.encoder and asr.model.decoder == summ.model.decoder, preset
