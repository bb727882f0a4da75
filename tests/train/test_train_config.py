import pytest

from legokit.errors import LegokitError
from legokit.train import OptimConfig, TrainConfig


def test_defaults_are_valid():
    OptimConfig()
    TrainConfig()


@pytest.mark.parametrize("kwargs, message", [
    ({"optimizer": "sgd"}, "key 'optimizer' must be one of adam, adamw, got 'sgd'"),
    ({"scheduler": "step"}, "key \'scheduler\' must be one of"),
    ({"betas": [0.9]}, "key 'betas' must be two numbers"),
    ({"lr": 0.0}, "key \'lr\' must be > 0"),
    ({"accum_grad": 0}, "key \'accum_grad\' must be > 0"),
    ({"clip_grad_norm": -1.0}, "key \'clip_grad_norm\' must be >= 0"),
])
def test_optim_config_errors_name_the_key(kwargs, message):
    with pytest.raises(LegokitError, match=message.replace("(", r"\(")):
        OptimConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"amp": "fp8"}, "key 'amp' must be one of none, bf16, fp16"),
    ({"device": "tpu"}, "key \'device\' must be one of"),
    ({"best_mode": "lower"}, "key 'best_mode' must be one of min, max"),
    ({"max_steps": 0}, "key \'max_steps\' must be > 0"),
    ({"keep_best": -1}, "key \'keep_best\' must be >= 0"),
])
def test_train_config_errors_name_the_key(kwargs, message):
    with pytest.raises(LegokitError, match=message):
        TrainConfig(**kwargs)
