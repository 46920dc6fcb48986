"""Head-search throughput: trials per minute with 1 (the baseline) and 2 concurrent trials, one run.

    .venv/bin/python benchmarks/tune_speed.py                    # 8 trials x 3 epochs each setting
    .venv/bin/python benchmarks/tune_speed.py --trials 16 --epochs 4 --concurrency 1 2 4

Both settings search the same planted head_pairs table (``distributed.tune.planted``) with the same
seed, ASHA off (grace period = max epochs, so every trial trains the same number of epochs) and one CPU
per trial, in one local Ray instance started here. The time is ``run_search``'s wall clock, pairs
loading and baselines included; prints one JSON line per setting and the speed-up over 1 concurrent.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from distributed.runtime import init_ray
from distributed.tune import HeadSearchConfig, run_search
from distributed.tune.planted import planted_pairs
from storage.tables import write_table_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    init_ray(num_cpus=max(4, max(args.concurrency)))
    with tempfile.TemporaryDirectory(prefix="tune-speed-") as tmp:
        pairs = str(Path(tmp) / "pairs.parquet")
        write_table_atomic(planted_pairs(), pairs)
        rates = {}
        for concurrency in args.concurrency:
            config = HeadSearchConfig(
                out=str(Path(tmp) / f"c{concurrency}"),
                pairs=pairs,
                num_samples=args.trials,
                max_concurrent_trials=concurrency,
                max_epochs=args.epochs,
                grace_period=args.epochs,
            )
            start = time.perf_counter()
            summary = run_search(config, pairs)
            seconds = time.perf_counter() - start
            rates[concurrency] = summary["trials"] / seconds * 60
            print(
                json.dumps(
                    {
                        "concurrent_trials": concurrency,
                        "trials": summary["trials"],
                        "seconds": round(seconds, 1),
                        "trials_per_minute": round(rates[concurrency], 2),
                    }
                )
            )
    base = rates[args.concurrency[0]]
    for concurrency, rate in rates.items():
        print(
            f"{concurrency} concurrent: {rate:.2f} trials/min ({rate / base:.2f}x of {args.concurrency[0]})"
        )
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
