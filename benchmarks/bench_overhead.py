"""What eagerrun costs, end to end, over plain `python` running the same unchanged script.

    python benchmarks/bench_overhead.py [--repeats 5] [--short 200] [--long 3200] [--quick] [--json out.json]

bench_steps.py measures eagerrun's own training loop (`--train`). This measures the other way in: a user's
script, not changed in any way, run as `eagerrun --graph script.py N` instead of `python script.py N`, with
eagerrun hooking the script's loop to record every step and printing its table at exit. Two workloads, each
a script this benchmark writes to a temporary folder, on bench_model.py's MLP and data (batches of 64, a
repeated tf.data dataset), whose step takes about 1 ms on a small CPU, so a cost per step would show:

    custom loop  an @tf.function GradientTape train_step in `for step, (x, y) in zip(range(N), dataset)`,
                 printing nothing per step
    Keras fit    model.fit(dataset, steps_per_epoch=N, epochs=1, verbose=0)

Each run is a fresh process, timed from start to exit, so eagerrun is charged for everything it does: its
hooks, its records and its table. The cost of a step is (wall(long) - wall(short)) / (long - short), which
leaves out what happens once per run (importing TensorFlow, tracing); that once-per-run difference is shown
apart, as the fixed cost. Every repeat runs, for each workload, both runners at the short length and then
both at the long one, the first runner alternating from one repeat to the next (ABAB, then BABA), so drift
in the machine's speed falls on both; the ratio eagerrun / python is taken within a repeat. The table gives
the median ratio over repeats and, in brackets, the lowest and highest; the targets (custom loop <= 1.03,
Keras fit <= 1.05) are judged on the median. On a small shared machine one process's step time can differ
from the next one's by 10-40%: read the brackets before reading a 2% difference. Two steadier estimates
follow: the ratio from each runner's fastest short and fastest long run (what a step costs when nothing
else interferes), and paired_script.py, which alternates hooked and plain blocks of steps in one process,
with an A/A control.
The environment is passed on as it is to both runners (eagerrun hides TensorFlow's start-up log itself, as
a user would see it do). Before measuring, each runner runs each workload once untimed, so neither pays
alone for a cold disk cache, and both final losses are shown: the same script in the same mode should end
at the same loss under either runner.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_steps import eagerrun_executable, machine
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RUNNERS = ("python", "eagerrun")
WARMUP_STEPS = 10

SCRIPT_HEAD = '''import sys

import keras
import tensorflow as tf

sys.path.insert(0, {benchmarks!r})
from bench_model import BATCH, make_data, make_model  # noqa: E402

steps = int(sys.argv[1])
keras.utils.set_random_seed(0)
model = make_model()
optimizer = keras.optimizers.Adam(1e-3)
dataset = tf.data.Dataset.from_tensor_slices(make_data(4096)).batch(BATCH, drop_remainder=True).repeat()
'''

CUSTOM_LOOP_BODY = '''loss_fn = keras.losses.MeanSquaredError()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


for step, (x, y) in zip(range(steps), dataset):
    loss = train_step(x, y)
print(f"final loss {float(loss):.6f}")
'''

KERAS_FIT_BODY = '''model.compile(optimizer=optimizer, loss="mse")
history = model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
print(f"final loss {history.history['loss'][-1]:.6f}")
'''


@dataclass(frozen=True)
class Workload:
    key: str  # the script's file name, and its key in the JSON
    label: str
    target: float  # the highest median ratio eagerrun / python that meets the target
    body: str  # the script after SCRIPT_HEAD's model, optimizer and dataset


WORKLOADS = (
    Workload("custom_loop", "custom loop", 1.03, CUSTOM_LOOP_BODY),
    Workload("keras_fit", "Keras fit", 1.05, KERAS_FIT_BODY),
)


@dataclass(frozen=True)
class Lengths:
    short: int
    long: int


def write_scripts(folder: Path) -> dict[str, Path]:
    """Each workload as a script in `folder` that a user could run with either runner."""
    scripts = {}
    for workload in WORKLOADS:
        script = folder / f"{workload.key}.py"
        script.write_text(SCRIPT_HEAD.format(benchmarks=str(HERE)) + "\n" + workload.body)
        scripts[workload.key] = script
    return scripts


def runner_command(runner: str, script: Path, steps: int) -> list[str]:
    if runner == "eagerrun":
        return [eagerrun_executable(), "--graph", str(script), str(steps)]
    return [sys.executable, str(script), str(steps)]


def run_timed(command: list[str]) -> tuple[float, str]:
    """The process's wall time from start to exit, and what it printed on stdout."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_overhead: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout


def warm_up(scripts: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Each runner once on each workload, untimed; returns the final loss each printed."""
    losses: dict[str, dict[str, str]] = {}
    for workload in WORKLOADS:
        losses[workload.key] = {}
        for runner in RUNNERS:
            _, stdout = run_timed(runner_command(runner, scripts[workload.key], WARMUP_STEPS))
            losses[workload.key][runner] = final_loss(stdout)
    return losses


def final_loss(stdout: str) -> str:
    return next((line.removeprefix("final loss ") for line in stdout.splitlines()
                 if line.startswith("final loss ")), "missing")


def log_final_losses(console: Console, losses: dict[str, dict[str, str]]) -> None:
    for key, by_runner in losses.items():
        differ = len(set(by_runner.values())) > 1
        console.log(f"  {key}: final loss " + ", ".join(f"{runner} {loss}" for runner, loss in by_runner.items())
                    + ("  [bold red]differ: the runners did not run the same script the same way[/]" if differ else ""))


def measure_repeat(repeat: int, scripts: dict[str, Path], lengths: Lengths) -> dict:
    """One repeat: per workload, both runners short, then both long; who goes first alternates per repeat."""
    order = RUNNERS if repeat % 2 == 0 else RUNNERS[::-1]
    walls: dict[str, dict[str, dict[str, float]]] = {}
    for workload in WORKLOADS:
        walls[workload.key] = {runner: {} for runner in RUNNERS}
        for length, steps in (("short", lengths.short), ("long", lengths.long)):
            for runner in order:
                wall, _ = run_timed(runner_command(runner, scripts[workload.key], steps))
                walls[workload.key][runner][length] = wall
    return {"order": list(order), "wall_s": walls}


def per_step_s(walls: dict[str, float], lengths: Lengths) -> float:
    """What one more step costs: the long run's extra wall time over its extra steps."""
    return (walls["long"] - walls["short"]) / (lengths.long - lengths.short)


def fixed_cost_s(walls: dict[str, float], lengths: Lengths) -> float:
    """What a run costs whatever its length: the short run's wall time less its steps."""
    return walls["short"] - lengths.short * per_step_s(walls, lengths)


def summarize(repeats: list[dict], lengths: Lengths) -> dict[str, dict]:
    """Per workload: median ms per step of each runner, the ratios per repeat, and whether the target is met."""
    rows = {}
    for workload in WORKLOADS:
        walls = [repeat["wall_s"][workload.key] for repeat in repeats]
        step = {runner: [per_step_s(w[runner], lengths) for w in walls] for runner in RUNNERS}
        ratios = [mine / theirs for mine, theirs in zip(step["eagerrun"], step["python"])]
        extra_fixed = [fixed_cost_s(w["eagerrun"], lengths) - fixed_cost_s(w["python"], lengths) for w in walls]
        ratio = statistics.median(ratios)
        fastest = {runner: per_step_s({length: min(w[runner][length] for w in walls) for length in ("short", "long")},
                                      lengths) for runner in RUNNERS}
        measured = all(seconds > 0 for runner in RUNNERS for seconds in step[runner])
        rows[workload.key] = {
            "label": workload.label,
            "python_ms": 1e3 * statistics.median(step["python"]),
            "eagerrun_ms": 1e3 * statistics.median(step["eagerrun"]),
            "ratios": ratios,
            "ratio": ratio,
            "ratio_range": [min(ratios), max(ratios)],
            # each runner's fastest short and fastest long run: what a step costs when nothing else interferes
            "fastest_ratio": fastest["eagerrun"] / fastest["python"] if fastest["python"] > 0 else None,
            "extra_fixed_s": statistics.median(extra_fixed),
            "target": workload.target,
            "measured": measured,  # false when some long run took no longer than its short one: noise won
            "met": measured and ratio <= workload.target,
        }
    return rows


def print_results(results: dict) -> None:
    console = Console(width=max(110, Console().width))
    lengths = results["lengths"]
    table = Table(title=f"eagerrun --graph script.py N over python script.py N, end to end "
                        f"({results['machine']}, {results['date']})")
    for column in ("workload", "python ms/step", "eagerrun ms/step", "eagerrun / python", "fastest runs",
                   "target", "fixed cost, eagerrun - python"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for row in results["workloads"].values():
        low, high = row["ratio_range"]
        table.add_row(row["label"], f"{row['python_ms']:.3f}", f"{row['eagerrun_ms']:.3f}",
                      f"{row['ratio']:.3f} [{low:.3f}-{high:.3f}]",
                      "—" if row["fastest_ratio"] is None else f"{row['fastest_ratio']:.3f}", f"<= {row['target']:.2f}",
                      f"{row['extra_fixed_s']:+.2f} s")
    table.caption = (f"{len(results['repeats'])} repeat(s), N = {lengths['short']} and {lengths['long']}; "
                     "ms/step = (wall(long) - wall(short)) / (long - short), median over repeats; "
                     "ratio: median per repeat \\[lowest-highest]; fastest runs: per step from each runner's "
                     "fastest short and fastest long run")
    console.print(table)
    for row in results["workloads"].values():
        if not row["measured"]:
            console.print(f"UNMEASURED  {row['label']}: a long run took no longer than its short one; "
                          "give it more steps (--long) or more repeats")
        else:
            console.print(f"{'met   ' if row['met'] else 'MISSED'}  {row['label']} <= {row['target']:.2f}")
    paired = results.get("paired")
    if paired:
        table = Table(title="the same, paired in one process (paired_script.py): hooked / plain blocks of steps")
        for column in ("workload", "plain ms/step", "hooked ms/step", "hooked / plain", "A/A control",
                       "hooked / same copy unhooked", "hooks alone µs/call"):
            table.add_column(column, justify="left" if column == "workload" else "right")
        for key, row in paired.items():
            table.add_row(key.replace("_", " "), f"{row['plain_ms']:.3f}", f"{row['hooked_ms']:.3f}",
                          f"{row['ratio']:.3f} ({row['hooked_us']:+.0f} µs)",
                          f"{row['control_ratio']:.3f} ({row['control_us']:+.0f} µs)",
                          f"{row['same_copy_ratio']:.3f} ({row['same_copy_us']:+.0f} µs)",
                          f"{row['hooks_alone_us']:.1f}" if "hooks_alone_us" in row else "—")
        console.print(table)
    if results["quick"]:
        console.print("--quick: one repeat of short runs, a smoke test; its verdicts say nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--short", type=int, default=200, help="steps in the short run")
    parser.add_argument("--long", type=int, default=3200, help="steps in the long run")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat of 50 and 400 steps: a smoke test, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the raw numbers and the results here")
    args = parser.parse_args()
    repeats, lengths = (1, Lengths(50, 400)) if args.quick else (args.repeats, Lengths(args.short, args.long))
    if not 0 < lengths.short < lengths.long:
        parser.error(f"--short ({lengths.short}) must be at least 1 and less than --long ({lengths.long})")
    if repeats < 1:
        parser.error(f"--repeats ({repeats}) must be at least 1")
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        scripts = write_scripts(Path(tmp))
        console.log(f"warm-up: each runner once on each workload, {WARMUP_STEPS} steps")
        losses = warm_up(scripts)
        log_final_losses(console, losses)
        walls_by_repeat = []
        for repeat in range(repeats):
            console.log(f"repeat {repeat + 1}/{repeats}: N = {lengths.short} and {lengths.long}")
            walls_by_repeat.append(measure_repeat(repeat, scripts, lengths))
    console.log("paired in one process: paired_script.py")
    paired = subprocess.run([sys.executable, str(HERE / "paired_script.py"), "--blocks", "8" if args.quick else "40"],
                            capture_output=True, text=True)
    results = {
        "paired": json.loads(paired.stdout.strip().splitlines()[-1]) if paired.returncode == 0 else None,
        "quick": args.quick,
        "lengths": {"short": lengths.short, "long": lengths.long},
        "warm_up_final_loss": losses,
        "repeats": walls_by_repeat,
        "workloads": summarize(walls_by_repeat, lengths),
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
    }
    print_results(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
