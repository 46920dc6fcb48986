"""The search space (one flat space for all families) and the head / training configs of a trial.

Knobs a family has no use for are sampled anyway and ignored (``n_head`` for the MLP, ``dropout`` for
the linear head), which keeps the space flat for Optuna's TPE.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from distributed.tune.config import HeadSearchConfig
from talkingface.emotion.condition import HeadConfig
from talkingface.emotion.heads import head_config
from talkingface.emotion.train import TrainConfig

HEAD_COUNTS = (1, 2, 4)  # all divide every width (widths are multiples of 4)
EMB_DIMS = (4, 8, 16, 32)
BATCH_SIZES = (64, 128, 256)
TCN_KERNEL = 3


def param_space(config: HeadSearchConfig) -> dict[str, Any]:
    """Tune's ``param_space``: family, FRAME_LEN, width / depth / heads, lr, weight decay, dropout, ..."""
    return {
        "family": tune.choice(list(config.families)),
        "frame_len": tune.randint(config.frame_len_min, config.frame_len_max + 1),
        "width": tune.choice(list(config.widths)),
        "depth": tune.randint(1, 4),
        "n_head": tune.choice(list(HEAD_COUNTS)),
        "lr": tune.loguniform(config.lr_min, config.lr_max),
        "weight_decay": tune.loguniform(1e-6, 1e-1),
        "dropout": tune.uniform(0.0, 0.3),
        "emb_dim": tune.choice(list(EMB_DIMS)),
        "batch_size": tune.choice(list(BATCH_SIZES)),
    }


def tcn_dilations(depth: int, frame_len: int) -> tuple[int, ...]:
    """``depth`` blocks dilated 1, 2, 4, ...; more doublings are added until they see ``frame_len`` frames."""
    dilations = [2**i for i in range(depth)]
    while 1 + (TCN_KERNEL - 1) * sum(dilations) < frame_len:
        dilations.append(2 ** len(dilations))
    return tuple(dilations)


def trial_head_config(params: dict[str, Any]) -> HeadConfig:
    """The head config a trial's parameters describe."""
    family, frame_len = params["family"], int(params["frame_len"])
    common = {"frame_len": frame_len, "emb_dim": int(params["emb_dim"])}
    width, depth, dropout = int(params["width"]), int(params["depth"]), float(params["dropout"])
    extra: dict[str, Any] = {
        "linear": {},
        "mlp": {"hidden": width, "n_layer": depth, "dropout": dropout},
        "transformer": {
            "d_model": width,
            "n_head": int(params["n_head"]),
            "n_layer": depth,
            "dropout": dropout,
        },
        "tcn": {
            "channels": width,
            "kernel_size": TCN_KERNEL,
            "dilations": tcn_dilations(depth, frame_len),
            "dropout": dropout,
        },
    }[family]
    return head_config(family, **common, **extra)


def trial_train_config(params: dict[str, Any], seed: int, device: str) -> TrainConfig:
    return TrainConfig(
        batch_size=int(params["batch_size"]),
        lr=float(params["lr"]),
        weight_decay=float(params["weight_decay"]),
        seed=seed,
        device=device,
    )
