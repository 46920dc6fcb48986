"""The search plot: validation loss of every trial over wall time, one panel per head family."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from distributed.tune.trainable import METRIC, WALL_TIME


def plot_search(
    histories: dict[str, pd.DataFrame], families: dict[str, str], baselines: dict[str, float], path: Path
) -> None:
    """Write a PNG to ``path``.

    ``histories``: trial id -> its reports (``wall_time``, ``val_loss``); ``families``: trial id ->
    family. Each panel draws its trials' curves, the family's best so far (black steps) and the
    ``baselines`` (name -> loss) as grey lines; time and loss axes are shared.
    """
    names = sorted(set(families.values()))
    reports = [h for h in histories.values() if len(h)]
    t0 = min((h[WALL_TIME].min() for h in reports), default=0.0)
    losses = [v for h in reports for v in h[METRIC].dropna()] or [1.0]
    # diverged trials are drawn at 3x the worst baseline, so they do not flatten the rest
    top = min(max(losses), 3 * max(baselines.values(), default=max(losses)))
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.5 * len(names), 4), sharex=True, sharey=True, squeeze=False
    )
    for ax, family in zip(axes[0], names, strict=True):
        points = []
        for trial_id, history in sorted(histories.items()):
            if families[trial_id] != family or not len(history):
                continue
            minutes = (history[WALL_TIME] - t0) / 60.0
            ax.plot(minutes, history[METRIC].clip(upper=top), marker=".", alpha=0.6, linewidth=1)
            points += list(zip(minutes, history[METRIC], strict=True))
        if points:
            points.sort()
            best, running = [], float("inf")
            for _, loss in points:
                running = min(running, loss)
                best.append(running)
            ax.step(
                [p[0] for p in points], best, where="post", color="black", linewidth=2, label="best so far"
            )
        for (name, loss), style in zip(sorted(baselines.items()), ("--", ":"), strict=False):
            ax.axhline(loss, color="gray", linestyle=style, label=name)
        ax.set_title(family)
        ax.set_xlabel("minutes since the search started")
        ax.set_yscale("log")
    axes[0][0].set_ylim(0.8 * min(min(losses), *baselines.values()), 1.1 * top)
    axes[0][0].set_ylabel("validation MSE")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
