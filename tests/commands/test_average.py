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
