"""The head families by name, and ``build_head(config)``."""

from __future__ import annotations

from talkingface.emotion.condition import HeadConfig
from talkingface.emotion.linear import LinearConfig, LinearHead
from talkingface.emotion.mlp import MLPConfig, MLPHead
from talkingface.emotion.tcn import TCNConfig, TCNHead
from talkingface.emotion.transformer import TransformerConfig, TransformerHead

Head = LinearHead | MLPHead | TransformerHead | TCNHead
HEADS: dict[str, tuple[type[HeadConfig], type[Head]]] = {
    "linear": (LinearConfig, LinearHead),
    "mlp": (MLPConfig, MLPHead),
    "transformer": (TransformerConfig, TransformerHead),
    "tcn": (TCNConfig, TCNHead),
}


def head_kind(config: HeadConfig) -> str:
    """The family name of a head config (``"linear"``, ``"mlp"``, ``"transformer"``, ``"tcn"``)."""
    for kind, (config_cls, _) in HEADS.items():
        if type(config) is config_cls:
            return kind
    raise TypeError(f"not a head config: {type(config).__name__} (known: {list(HEADS)})")


def build_head(config: HeadConfig) -> Head:
    """A freshly initialised head of the family ``config`` belongs to."""
    return HEADS[head_kind(config)][1](config)


def head_config(kind: str, **fields) -> HeadConfig:
    """The config of family ``kind`` with ``fields`` overriding its defaults."""
    if kind not in HEADS:
        raise ValueError(f"unknown head kind {kind!r}; choose one of {list(HEADS)}")
    return HEADS[kind][0](**fields)
