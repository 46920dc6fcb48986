"""Ray Tune search over emotion-head families and hyper-parameters (ASHA + Optuna), resumable."""

from distributed.tune.config import HeadSearchConfig
from distributed.tune.search import run_search

__all__ = ["HeadSearchConfig", "run_search"]
