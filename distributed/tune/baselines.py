"""What a searched head has to beat: identity (ExpNet alone) and closed-form ridge on the flat window.

The ridge map predicts the change from the window's last frame (as the heads do), so a strong penalty
shrinks it towards identity rather than towards zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from distributed.tune.data import PairSet
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.data import WindowSet

CHUNK = 8192
RIDGE_LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def identity_loss(windows: WindowSet) -> float:
    """MSE of the unchanged source frame against the target (the head-less pipeline)."""
    return F.mse_loss(windows.windows[:, -1], windows.targets).item()


def ridge_features(windows: WindowSet) -> Tensor:
    """[N, L*64 + 2*E + 1] float64: flat window, emotion one-hot, intensity * one-hot, constant 1."""
    onehot = F.one_hot(windows.emotion, len(EMOTIONS)).double()  # [N, E]
    return torch.cat(
        [
            windows.windows.flatten(1).double(),
            onehot,
            windows.intensity[:, None].double() * onehot,
            onehot.new_ones(len(windows), 1),
        ],
        dim=1,
    )


@dataclass(frozen=True)
class Ridge:
    """A fitted ridge map from ``ridge_features`` of a ``frame_len`` window to target - last frame."""

    frame_len: int
    lam: float
    weight: Tensor  # [D, 64] float64

    def loss(self, windows: WindowSet) -> float:
        """MSE over ``windows`` (chunked, so the float64 features never all sit in memory)."""
        total = 0.0
        for batch in windows.batches(CHUNK):
            pred = batch.windows[:, -1].double() + ridge_features(batch) @ self.weight  # [n, 64]
            total += F.mse_loss(pred, batch.targets.double(), reduction="sum").item()
        return total / (len(windows) * windows.targets.shape[1])


def fit_ridge(train: WindowSet, frame_len: int, lambdas: Sequence[float]) -> list[Ridge]:
    """One ridge solution per lambda from one pass of normal equations (X'X and X'Y accumulated in chunks).

    The constant column is not penalised.
    """
    gram, cross = None, None
    for batch in train.batches(CHUNK):
        x = ridge_features(batch)
        y = (batch.targets - batch.windows[:, -1]).double()
        gram = x.T @ x if gram is None else gram + x.T @ x
        cross = x.T @ y if cross is None else cross + x.T @ y
    penalty = torch.ones(gram.shape[0], dtype=gram.dtype)
    penalty[-1] = 0.0
    scale = len(train)  # lambda is per example, so it means the same for any data size
    return [
        Ridge(frame_len, lam, torch.linalg.solve(gram + lam * scale * torch.diag(penalty), cross))
        for lam in lambdas
    ]


@dataclass(frozen=True)
class Baselines:
    """Validation and test MSE of identity and of the ridge chosen on validation."""

    identity_val: float
    identity_test: float
    ridge_val: float
    ridge_test: float
    ridge_frame_len: int
    ridge_lambda: float

    def as_dict(self) -> dict:
        return {
            "identity": {"val_loss": self.identity_val, "test_loss": self.identity_test},
            "ridge": {
                "val_loss": self.ridge_val,
                "test_loss": self.ridge_test,
                "frame_len": self.ridge_frame_len,
                "lambda": self.ridge_lambda,
            },
        }


def fit_baselines(pairs: PairSet, frame_lens: Sequence[int], test_split: str) -> Baselines:
    """Identity, and ridge with FRAME_LEN and lambda chosen on val over ``frame_lens`` x RIDGE_LAMBDAS."""
    best: tuple[float, Ridge] | None = None
    for frame_len in frame_lens:
        val = pairs.windows("val", frame_len)
        for ridge in fit_ridge(pairs.windows("train", frame_len), frame_len, RIDGE_LAMBDAS):
            loss = ridge.loss(val)
            if best is None or loss < best[0]:
                best = (loss, ridge)
    val_loss, ridge = best
    val1, test1 = pairs.windows("val", 1), pairs.windows(test_split, 1)
    return Baselines(
        identity_val=identity_loss(val1),
        identity_test=identity_loss(test1),
        ridge_val=val_loss,
        ridge_test=ridge.loss(pairs.windows(test_split, ridge.frame_len)),
        ridge_frame_len=ridge.frame_len,
        ridge_lambda=ridge.lam,
    )
