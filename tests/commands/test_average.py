import json

import pytest
import torch

from legokit.cli import main
from legokit.train import load_checkpoint, save_checkpoint


@pytest.fixture
def exp_dir(tmp_path):
    """Checkpoints at steps 1..4 with w = step; validation loss 4, 1, 3, 2."""
    for step, loss in zip((1, 2, 3, 4), (4.0, 1.0, 3.0, 2.0)):
        save_checkpoint({"model": {"w": torch.tensor([float(step)]), "n": torch.tensor(step)}},
                        tmp_path / "checkpoints" / f"ckpt-{step}.pt")
        with (tmp_path / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"event": "valid", "step": step, "loss": loss, "acc": -loss}) + "\n")
    return tmp_path


@pytest.mark.parametrize("options, expected_w, expected_n", [
    (["--num", "2"], 3.0, 2),                                # best loss: steps 2, 4
    (["--num", "2", "--metric", "acc", "--mode", "max"], 3.0, 2),
    (["--num", "3", "--last"], 3.0, 4),                      # steps 4, 3, 2
    (["--num", "9"], 2.5, 2),                                # all four
])
def test_average_command(exp_dir, options, expected_w, expected_n):
    out = exp_dir / "avg.pt"
    assert main(["average", "--exp-dir", str(exp_dir), *options, "-o", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["model"]["w"].item() == pytest.approx(expected_w)
    assert ckpt["model"]["n"].item() == expected_n  # integer buffers come from the best/newest one


def test_average_command_errors(exp_dir, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error
        main(["average", "--exp-dir", str(exp_dir), "--num", "0", "-o", str(exp_dir / "a.pt")])
    assert exit_.value.code == 2
    assert "argument --num: expected an integer >= 1, got '0'" in capsys.readouterr().err
    assert main(["average", "--exp-dir", str(exp_dir), "--metric", "bleu", "-o", str(exp_dir / "a.pt")]) == 2
    assert "no validation 'bleu' recorded" in capsys.readouterr().err


def test_average_export_dir_writes_a_decodable_model_equal_to_the_checkpoint(tmp_path):
    """--export-dir: the average of the chosen checkpoints as model.pt + bricks, loadable as `legokit train`'s."""
    from helpers.toy_lego import ARCH, FIXTURE, data_args

    from legokit.data.tokenizer import train_tokenizer
    from legokit.lego.loading import load_bricks

    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    common = ARCH + data_args(tmp_path, "de") + ["model.decoder=null", "train.max_epochs=1", "train.max_steps=2",
                                                 "train.save_interval_steps=1", "train.keep_last_checkpoints=5"]
    assert main(["train", "--out-dir", str(tmp_path / "exp"), *common]) == 0
    export = tmp_path / "step1"
    assert main(["average", "--exp-dir", str(tmp_path / "exp"), "--num", "1", "--last", "-o",
                 str(tmp_path / "a.pt"), "--export-dir", str(export)]) == 0
    newest = load_checkpoint(tmp_path / "exp" / "checkpoints" / "ckpt-2.pt")["model"]
    (brick,) = load_bricks(export / "model.pt")
    ours = brick.module.state_dict()  # the model's keys are "encoders.0.<brick key>"
    torch.testing.assert_close(ours, {k.split(".", 2)[-1] if k.startswith("encoders.") else k: v
                                      for k, v in newest.items()})
    assert sorted(p.name for p in (export / "bricks").iterdir()) == ["encoder.brick"]
