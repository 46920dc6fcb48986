"""Report figures as PNG bytes (matplotlib, headless Agg backend)."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

matplotlib.use("Agg")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def pca_2d(groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Project every group's [N, D] rows onto the first two principal axes of all rows together."""
    stacked = np.concatenate([np.asarray(v, np.float64) for v in groups.values()])
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2].T  # [D, 2]
    if axes.shape[1] < 2:  # a single direction of variance: pad with zeros
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    mean = stacked.mean(0)
    return {name: (np.asarray(v, np.float64) - mean) @ axes for name, v in groups.items()}


def betas_scatter(exp_by_emotion: dict[str, np.ndarray]) -> bytes:
    """Scatter of the expression coefficients by emotion in a shared 2-D PCA projection."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for emotion, points in sorted(pca_2d(exp_by_emotion).items()):
        ax.scatter(points[:, 0], points[:, 1], s=8, alpha=0.6, label=f"{emotion} ({len(points)})")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("expression coefficients (64-d exp), PCA")
    ax.legend(fontsize=8, markerscale=2)
    return _png(fig)


def training_curves(curves: dict[str, list[dict]]) -> bytes:
    """One panel per model: train and validation loss per epoch."""
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.5), squeeze=False)
    for ax, (name, epochs) in zip(axes[0], curves.items(), strict=True):
        for key in ("train_loss", "val_loss"):
            points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", ms=3, label=key.replace("_", " "))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    return _png(fig)
