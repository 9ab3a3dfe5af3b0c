"""How much eagerrun costs per training step and at start-up, measured side by side in one run.

    python benchmarks/bench_steps.py [--repeats 3] [--quick] [--json results.json]

Every configuration trains the same MLP on the same data (bench_model.py), each in a fresh process:

    (a) a hand-written @tf.function GradientTape loop      (d) Keras fit, Keras' defaults
    (b) eagerrun --graph --train                           (e) eagerrun --eager --train
    (c) eagerrun --graph --train --steps-per-execution 10  (f) a hand-written eager loop

Two measures, so nothing self-reported is trusted alone:
- recorded: the median steady step time each loop recorded itself (the first 10 steps are warm-up);
- end to end: (wall time of a long run - wall time of a short run) / (extra steps), process start to exit,
  which charges eagerrun for everything it does per step, recorded or not.
Each is printed as a ratio to (a), and (e) to (f). Every repeat runs every configuration once short and
once long, so the ratios are paired within a repeat (drift in the machine's speed falls on both sides);
the table gives the median ratio over repeats and, in brackets, the lowest and highest. On a small shared
machine one process's steady step time can differ from the next one's by 10%: read the brackets before
reading a 2% difference.
Because fresh processes scatter that much, (b)/(a) and (e)/(f) are also measured paired in one process
(paired.py): eagerrun's trainer and the hand-written loop alternate blocks of steps, in random order, so
both see the machine at the same moments; the targets are judged on that measure and on the median of the
fresh-process ones alike. A second copy of the hand-written loop runs in the same rotation as an A/A
control: its ratio to the first copy is the measure's own noise.
Start-up: `eagerrun --help` and `eagerrun check` against `python -c "import tensorflow"`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
SPEC = HERE / "bench_model.py"
HANDWRITTEN = HERE / "handwritten.py"
PAIRED = HERE / "paired.py"
WARMUP = 10


def eagerrun_executable() -> str:
    """The installed entry point next to this Python, as a user would run it."""
    beside = Path(sys.executable).parent / "eagerrun"
    found = str(beside) if beside.exists() else shutil.which("eagerrun")
    if found is None:
        sys.exit("bench_steps: the eagerrun command is not installed (pip install .)")
    return found


@dataclass
class Config:
    key: str
    label: str
    eager: bool  # eager steps are ~25x slower: fewer steps give the same measurable span
    kind: str  # "eagerrun" or a handwritten.py kind
    extra: tuple[str, ...] = ()
    end_to_end: list[float] = field(default_factory=list)  # s per step, one per repeat
    recorded: list[float] = field(default_factory=list)  # median steady s per step, one per repeat

    def command(self, steps: int, out: Path) -> list[str]:
        if self.kind == "eagerrun":
            mode = "--eager" if self.eager else "--graph"
            return [eagerrun_executable(), mode, "--train", "--steps", str(steps), "--seed", "0",
                    "--metrics-out", str(out), *self.extra, str(SPEC)]
        return [sys.executable, str(HANDWRITTEN), self.kind, str(steps), str(out)]

    def step_times(self, out: Path) -> list[float]:
        if self.kind == "eagerrun":
            return [json.loads(line)["time_s"] for line in out.read_text().splitlines()]
        return json.loads(out.read_text())


CONFIGS = [
    Config("a", "hand-written @tf.function loop", eager=False, kind="function"),
    Config("b", "eagerrun --graph --train", eager=False, kind="eagerrun"),
    Config("c", "eagerrun --graph --train --steps-per-execution 10", eager=False, kind="eagerrun",
           extra=("--steps-per-execution", "10")),
    Config("d", "Keras fit (defaults)", eager=False, kind="fit"),
    Config("e", "eagerrun --eager --train", eager=True, kind="eagerrun"),
    Config("f", "hand-written eager loop", eager=True, kind="eager"),
]


def timed_run(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_steps: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def measure_steps(config: Config, lengths: tuple[int, int], workdir: Path) -> None:
    """One repeat: a short and a long run, each a fresh process."""
    short, long = lengths
    out = workdir / f"{config.key}.out"
    wall_short = timed_run(config.command(short, out))
    wall_long = timed_run(config.command(long, out))
    config.end_to_end.append((wall_long - wall_short) / (long - short))
    config.recorded.append(statistics.median(config.step_times(out)[WARMUP:]))


def paired(mode: str, blocks: int, steps: int) -> dict[str, float]:
    """eagerrun's trainer over the hand-written loop, in one process (see paired.py)."""
    done = subprocess.run([sys.executable, str(PAIRED), mode, str(blocks), str(steps)], capture_output=True,
                          text=True, cwd=HERE)
    if done.returncode != 0:
        sys.exit(f"bench_steps: paired.py {mode} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    pairs = json.loads(done.stdout.strip().splitlines()[-1])["blocks"]
    eagerrun, control = paired_ratios(pairs, "eagerrun_s"), paired_ratios(pairs, "control_s")
    eagerrun["eagerrun_ms"] = eagerrun.pop("loop_ms")
    return {**eagerrun, "control_median_ratio": control["median_ratio"],
            "control_block_ratio_median": control["block_ratio_median"], "blocks": len(pairs),
            "steps_per_block": steps}


def paired_ratios(pairs: list[dict], loop: str) -> dict[str, float]:
    """`loop`'s step times over the hand-written loop's: of the medians, of the 25th percentiles, and the
    median of the per-block ratios."""
    mine = sorted(t for pair in pairs for t in pair[loop])
    handwritten = sorted(t for pair in pairs for t in pair["handwritten_s"])
    by_block = [statistics.median(p[loop]) / statistics.median(p["handwritten_s"]) for p in pairs]
    return {"loop_ms": 1e3 * statistics.median(mine), "handwritten_ms": 1e3 * statistics.median(handwritten),
            "median_ratio": statistics.median(mine) / statistics.median(handwritten),
            "p25_ratio": quantile(mine, 0.25) / quantile(handwritten, 0.25),
            "block_ratio_median": statistics.median(by_block)}


def quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[int(q * (len(sorted_values) - 1))]


def startup_times(repeats: int) -> dict[str, float]:
    eagerrun = eagerrun_executable()
    commands = {
        "eagerrun --help": [eagerrun, "--help"],
        "eagerrun check": [eagerrun, "check"],
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            walls[name].append(timed_run(command))
    return {name: statistics.median(times) for name, times in walls.items()}


def machine() -> str:
    import tensorflow as tf  # only for its version, after every measurement

    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        cpu = model
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="shorter runs: a smoke test, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    graph_lengths, eager_lengths = ((50, 550), (10, 60)) if args.quick else ((100, 3100), (20, 170))
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for config in CONFIGS:
                console.log(f"repeat {repeat + 1}/{args.repeats}: ({config.key}) {config.label}")
                measure_steps(config, eager_lengths if config.eager else graph_lengths, Path(tmp))
    console.log("paired, in one process: graph, then eager")
    pairs = {"b/a": paired("graph", 30 if args.quick else 200, 50),
             "e/f": paired("eager", 6 if args.quick else 40, 10)}
    console.log("start-up")
    startup = startup_times(max(args.repeats, 3))
    results = summarize(graph_lengths, eager_lengths, startup, pairs)
    results["machine"] = machine()
    results["date"] = datetime.date.today().isoformat()
    print_results(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def summarize(graph_lengths: tuple[int, int], eager_lengths: tuple[int, int], startup: dict[str, float],
              pairs: dict[str, dict[str, float]]) -> dict:
    by_key = {c.key: c for c in CONFIGS}
    rows = {}
    for c in CONFIGS:
        base = by_key["f" if c.key == "e" else "a"]
        rows[c.key] = {"label": c.label, "steps": list(eager_lengths if c.eager else graph_lengths),
                       "ratio_to": base.key}
        for measure in ("recorded", "end_to_end"):
            mine, theirs = getattr(c, measure), getattr(base, measure)
            ratios = sorted(m / t for m, t in zip(mine, theirs))
            rows[c.key][f"{measure}_ms"] = 1e3 * statistics.median(mine)
            rows[c.key][f"{measure}_ratio"] = statistics.median(ratios)
            rows[c.key][f"{measure}_ratio_range"] = [ratios[0], ratios[-1]]
    b, c, d, e = rows["b"], rows["c"], rows["d"], rows["e"]
    targets = {
        "(b)/(a) <= 1.02": max(b["recorded_ratio"], b["end_to_end_ratio"], pairs["b/a"]["median_ratio"]) <= 1.02,
        "(e)/(f) <= 1.02": max(e["recorded_ratio"], e["end_to_end_ratio"], pairs["e/f"]["median_ratio"]) <= 1.02,
        "(c) faster than (d)": c["recorded_ms"] < d["recorded_ms"] and c["end_to_end_ms"] < d["end_to_end_ms"],
        "eagerrun --help < 0.3 s": startup["eagerrun --help"] < 0.3,
    }
    return {"steps": rows, "paired": pairs, "startup_s": startup, "targets": targets}


def print_results(results: dict) -> None:
    console = Console(width=max(130, Console().width))
    table = Table(title=f"ms per step ({results['machine']}, {results['date']})")
    for column in ("", "configuration", "recorded ms", "ratio", "end-to-end ms", "ratio"):
        table.add_column(column, justify="left" if column in ("", "configuration") else "right")
    for key, row in results["steps"].items():
        cells = []
        for measure in ("recorded", "end_to_end"):
            low, high = row[f"{measure}_ratio_range"]
            cells += [f"{row[f'{measure}_ms']:.3f}",
                      f"{row[f'{measure}_ratio']:.3f} /({row['ratio_to']}) [{low:.2f}-{high:.2f}]"]
        table.add_row(f"({key})", row["label"], *cells)
    console.print(table)
    paired_table = Table(title="paired in one process: eagerrun's trainer / the hand-written loop")
    for column in ("", "blocks x steps", "eagerrun ms", "hand-written ms", "median ratio", "p25 ratio",
                   "median of block ratios", "A/A control: median, block"):
        paired_table.add_column(column, justify="right")
    for name, pair in results["paired"].items():
        paired_table.add_row(f"({name[0]})/({name[2]})", f"{pair['blocks']} x {pair['steps_per_block']}",
                             f"{pair['eagerrun_ms']:.3f}", f"{pair['handwritten_ms']:.3f}",
                             f"{pair['median_ratio']:.3f}", f"{pair['p25_ratio']:.3f}",
                             f"{pair['block_ratio_median']:.3f}",
                             f"{pair['control_median_ratio']:.3f}, {pair['control_block_ratio_median']:.3f}")
    console.print(paired_table)
    startup = Table(title="start-up (s, process wall time)")
    startup.add_column("command")
    startup.add_column("s", justify="right")
    for name, seconds in results["startup_s"].items():
        startup.add_row(name, f"{seconds:.2f}")
    console.print(startup)
    for name, met in results["targets"].items():
        console.print(f"{'met   ' if met else 'MISSED'}  {name}")


if __name__ == "__main__":
    main()
