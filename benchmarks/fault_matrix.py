"""Interrupts at random moments, many times over, each run resumed: does the run still end as if nothing happened?

    python benchmarks/fault_matrix.py [--interrupts 10] [--seed 0] [--json out.json]

The reliability tests' spec (tests/specs/resumable.py: reshuffled data behind a prefetch, dropout, a sleep
in every step so a signal lands inside one) trains 8 epochs of 6 steps with `--train --graph --seed 5
--checkpoint-dir DIR --checkpoint-every 3 --metrics-out FILE`. Each attempt draws its own
`--steps-per-execution` (1, 2 or 4), lets a random number of steps finish, then sends SIGINT, SIGTERM or
SIGKILL (drawn too); the same command runs again until it exits 0. At the end the metrics file must hold
every step once, with the losses of an uninterrupted run (rel. 1e-6). Prints one line per attempt and a
JSON summary; exits 1 when the run did not end as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "tests" / "specs" / "resumable.py")
COMMON = ["--graph", "--train", "--seed", "5", "--epochs", "8"]
STEPS = 48
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def eagerrun(*args: str, sleep: float = 0.0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEST_STEP_SLEEP": str(sleep)}
    return subprocess.Popen([sys.executable, "-m", "eagerrun", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def steps_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a half-written last line is skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interrupts", type=int, default=10, help="interrupt this many times before letting it end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    draw = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        full, metrics, checkpoints = Path(tmp) / "full.jsonl", Path(tmp) / "run.jsonl", Path(tmp) / "ckpt"
        done = eagerrun(*COMMON, "--metrics-out", str(full), SPEC)
        assert done.wait() == 0, done.stderr.read().decode() if done.stderr else ""
        attempts = []
        while True:
            interrupt = len(attempts) < args.interrupts
            k = draw.choice((1, 2, 4))
            before = len(steps_in(metrics))
            process = eagerrun(*COMMON, "--steps-per-execution", str(k), "--checkpoint-dir", str(checkpoints),
                               "--checkpoint-every", "3", "--metrics-out", str(metrics), SPEC,
                               sleep=0.15 if interrupt else 0.0)
            attempt = {"k": k}
            if interrupt:
                wait_for = draw.randint(1, 4)
                while len(steps_in(metrics)) < min(before + wait_for, STEPS) and process.poll() is None:
                    time.sleep(0.02)
                time.sleep(draw.uniform(0, 0.3))  # anywhere in a step, or between two
                chosen = draw.choice(SIGNALS)
                if process.poll() is None:
                    process.send_signal(chosen)
                attempt["signal"] = chosen.name
            attempt["exit"] = process.wait()
            attempt["steps_in_file"] = len(steps_in(metrics))
            attempts.append(attempt)
            print(json.dumps(attempt), flush=True)
            if attempt["exit"] == 0:
                break
            if len(attempts) > args.interrupts + 5:
                break
        got, expected = steps_in(metrics), steps_in(full)
        same_steps = [r["step"] for r in got] == list(range(1, STEPS + 1))
        same_losses = same_steps and all(abs(a["loss"] - b["loss"]) <= 1e-6 * max(1.0, abs(b["loss"]))
                                         for a, b in zip(got, expected))
    summary = {"interrupts": sum("signal" in a for a in attempts), "attempts": len(attempts),
               "every_step_once": same_steps, "losses_equal_uninterrupted": same_losses, "runs": attempts}
    print(json.dumps({key: value for key, value in summary.items() if key != "runs"}))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if same_losses else 1


if __name__ == "__main__":
    sys.exit(main())
