"""What each --precision policy does to eagerrun's step time, measured side by side in one run.

    python benchmarks/bench_precision.py [--repeats 5] [--steps 600] [--json out.json]

`eagerrun --graph --train benchmarks/bench_model.py --precision P` for float32, mixed_bfloat16 and
mixed_float16, each repeat running the three in a new random order (fresh processes; the machine's drift
falls on all three alike). Each run's steady step time is the median of the times it recorded, its first 20
steps (tracing, warm-up) left out. Prints each policy's median over the repeats, the lowest and highest,
and its ratio to float32 within the same repeat.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from eagerrun.train.precision import POLICIES

HERE = Path(__file__).resolve().parent
WARM_UP = 20


def steady_step_ms(policy: str, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "steps.jsonl"
        subprocess.run([sys.executable, "-m", "eagerrun", "--graph", "--train", "--quiet", "--precision", policy,
                        "--steps", str(steps), "--seed", "0", "--metrics-out", str(metrics),
                        str(HERE / "bench_model.py")], check=True, capture_output=True)
        times = [json.loads(line)["time_s"] for line in metrics.read_text().splitlines()][WARM_UP:]
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    for _ in range(args.repeats):
        order = random.sample(POLICIES, len(POLICIES))
        runs.append({policy: steady_step_ms(policy, args.steps) for policy in order})
    print(f"{'policy':16} {'ms/step':>8} {'(range)':>16} {'/ float32':>10}")
    for policy in POLICIES:
        times = [run[policy] for run in runs]
        ratio = statistics.median(run[policy] / run["float32"] for run in runs)
        print(f"{policy:16} {statistics.median(times):8.3f} {f'({min(times):.3f}-{max(times):.3f})':>16} "
              f"{ratio:10.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"steps": args.steps, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
