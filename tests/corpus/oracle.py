"""The corpus oracle protocol and checks, shared by the runner (`python -m tests.corpus`) and test_corpus.py.

A corpus script prints, to stdout, exactly one line per outermost training call, with the values it computed
itself, named as eagerrun should name them:

    ORACLE <name> <value> [<name> <value> ...]

and, once, `ORACLE_STEPS_PER_CALL <k>` where one outermost call runs k batches. What each step is (README
"What a step is"): a custom-loop call is one step whatever it runs (a whole epoch in one tf.function too:
one record, `batches_per_call: k`); a Keras `fit` call of `steps_per_execution=K` is K steps, each
carrying that call's values and `batches_per_call: K`. So the records of a run are read as calls: a fit
record with `batches_per_call: b` opens a call of b records, any other record is a call of its own; each
call must match one ORACLE line, in order, and every call (under fit: but an epoch's last, which may run
fewer batches) must say `batches_per_call` k (1 where the script declares no k).

Each cell is computed by a small function over processes already run (`check_python`, `check_run`,
`check_compare`); `run_python`, `run_mode` and `run_compare` run the processes.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent
ROOT = CORPUS.parent.parent
NOT_SCRIPTS = {"__init__", "__main__", "oracle"}
RECORD_KEYS = frozenset({"step", "phase", "epoch", "time_s", "mode", "traced", "source", "batch_size", "replicas",
                         "retraced", "batches_per_call", "validation_s", "non_finite", "finite", "skipped",
                         "input_s", "trace_s", "run_s", "python_s", "host_reads"})  # the step's breakdown
RTOL, ATOL = 1e-5, 1e-6  # an oracle value against what eagerrun recorded, and graph's stdout against python's
COMPARE_RTOL, COMPARE_ATOL = 1e-4, 1e-6  # `eagerrun compare`'s defaults (config.CompareOptions)
TIMEOUT_S = 300.0


# ---------------------------------------------------------------------------------------------------- scripts

def scripts(only: list[str] | None = None, *, fast: bool = False) -> list[Path]:
    """The corpus scripts, sorted: every tests/corpus/*.py not starting with `_` (nor this module, the
    runner or the package), restricted to `only` (names with or without `.py`) and to `# corpus: fast`."""
    found = sorted(path for path in CORPUS.glob("*.py")
                   if not path.name.startswith("_") and path.stem not in NOT_SCRIPTS)
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        unknown = wanted - {path.stem for path in found}
        if unknown:
            raise ValueError(f"not in the corpus: {', '.join(sorted(unknown))}")
        found = [path for path in found if path.stem in wanted]
    if fast:
        found = [path for path in found if is_fast(path)]
    return found


def is_fast(path: Path) -> bool:
    """A `# corpus: fast` line among the script's first 40 lines."""
    head = path.read_text().splitlines()[:40]
    return any(line.strip() == "# corpus: fast" for line in head)


# ---------------------------------------------------------------------------------------------------- oracle

@dataclass
class Oracle:
    """What a run printed: its ORACLE lines (name -> value, in order), k, every other line, and what was
    malformed."""

    lines: list[dict[str, float]] = field(default_factory=list)
    steps_per_call: int | None = None
    other: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[tuple[str, ...]]:
        return [tuple(line) for line in self.lines]


def parse_oracle(stdout: str) -> Oracle:
    oracle = Oracle()
    for number, text in enumerate(stdout.splitlines(), 1):
        words = text.split()
        if words[:1] == ["ORACLE"]:
            pairs = words[1:]
            if not pairs or len(pairs) % 2:
                oracle.errors.append(f"line {number}: not name/value pairs: {text!r}")
                continue
            values: dict[str, float] = {}
            for name, value in zip(pairs[::2], pairs[1::2]):
                if name in values:
                    oracle.errors.append(f"line {number}: {name} twice")
                try:
                    values[name] = float(value)
                except ValueError:
                    oracle.errors.append(f"line {number}: {name} {value!r} is not a number")
            oracle.lines.append(values)
        elif words[:1] == ["ORACLE_STEPS_PER_CALL"]:
            try:
                k = int(words[1])
            except (IndexError, ValueError):
                oracle.errors.append(f"line {number}: {text!r}")
                continue
            if oracle.steps_per_call is not None:
                oracle.errors.append(f"line {number}: ORACLE_STEPS_PER_CALL twice")
            oracle.steps_per_call = k
        else:
            oracle.other.append(text)
    return oracle


def close(expected: float, actual: float, *, rtol: float = RTOL, atol: float = ATOL) -> bool:
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    return abs(actual - expected) <= atol + rtol * abs(expected)


def short(value: float | None) -> str:
    return "null" if value is None else f"{value:.6g}"


# ---------------------------------------------------------------------------------------------------- cells

@dataclass
class Cell:
    """One cell of the table: right or not, a short text for the table, and every problem found."""

    ok: bool
    text: str
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, problems: list[str], *, missing: int = 0) -> Cell:
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            return cls(False, problems[0][:60] + more, problems)
        if missing:
            return cls(False, f"✓ ({missing} missing)", [f"{missing} values recorded as null (missing)"])
        return cls(True, "✓")

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "text": self.text, "problems": self.problems}


@dataclass
class Run:
    """A finished process: its exit code (None when it ran past its timeout), output, and files read back."""

    command: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    records: list[dict[str, Any]] = field(default_factory=list)  # the metrics file, one dict a line

    @property
    def oracle(self) -> Oracle:
        return parse_oracle(self.stdout)

    def last_error(self) -> str:
        """The exception stderr ends with (its last `...Error: ...` line), else its last line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", line)
                  or line.startswith("eagerrun: error:")]
        return (errors or lines or ["(no stderr)"])[-1]


def check_python(run: Run) -> Cell:
    """Plain `python script.py`: exit 0, at least one ORACLE line, each one well formed."""
    if run.exit_code is None:
        return Cell.of([f"timeout after {run.wall_s:.0f} s"])
    problems = []
    if run.exit_code != 0:
        problems.append(f"exit {run.exit_code}: {run.last_error()}")
    oracle = run.oracle
    problems += [f"oracle {error}" for error in oracle.errors]
    if not oracle.lines:
        problems.append("no ORACLE line")
    return Cell.of(problems)


def check_stdout(reference: Oracle, actual: Oracle, *, values: bool) -> list[str]:
    """The run's stdout against python's. The ORACLE lines and the other lines are compared as two streams
    (tf.print writes from TensorFlow's runtime, print through Python's buffer: how the two interleave in a
    pipe is not the script's output). Other lines exactly; ORACLE lines by count and names, and with
    `values` their values too, to RTOL."""
    problems = []
    if actual.other != reference.other:
        index = next((i for i, (a, b) in enumerate(zip(actual.other, reference.other)) if a != b),
                     min(len(actual.other), len(reference.other)))
        got = actual.other[index] if index < len(actual.other) else "(end)"
        want = reference.other[index] if index < len(reference.other) else "(end)"
        problems.append(f"stdout line {index + 1} {got[:40]!r}, python {want[:40]!r}")
    if len(actual.lines) != len(reference.lines):
        problems.append(f"{len(actual.lines)} ORACLE lines, python {len(reference.lines)}")
    for number, (got, want) in enumerate(zip(actual.lines, reference.lines), 1):
        if list(got) != list(want):
            problems.append(f"ORACLE line {number} names {' '.join(got)}, python {' '.join(want)}")
            break
        if values:
            bad = [name for name in want if not close(want[name], got[name])]
            if bad:
                name = bad[0]
                problems.append(f"ORACLE line {number} {name} {short(got[name])}, python {short(want[name])}")
                break
    if actual.steps_per_call != reference.steps_per_call:
        problems.append(f"ORACLE_STEPS_PER_CALL {actual.steps_per_call}, python {reference.steps_per_call}")
    return problems


def batches(record: dict[str, Any]) -> int:
    return max(1, int(record.get("batches_per_call") or 1))


def calls_of(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The records grouped by outermost call: a fit record with `batches_per_call: b` opens a group of b
    records (Keras' K batches of one call, each a step); any other record is one call."""
    calls, index = [], 0
    while index < len(records):
        size = batches(records[index]) if records[index].get("source") == "fit" else 1
        calls.append(records[index:index + size])
        index += size
    return calls


def check_records(oracle: Oracle, records: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The metrics file against the run's own ORACLE lines: one call per line, each oracle value recorded
    under its name to RTOL/ATOL, or null (counted as missing); a name the record lacks, a non-finite flag on a
    finite value and a wrong value are problems. Returns (problems, how many values were null)."""
    problems: list[str] = []
    calls = calls_of(records)
    k = oracle.steps_per_call or 1
    if len(calls) != len(oracle.lines):
        steps = f"{len(records)} steps" + (f" in {len(calls)} calls" if len(calls) != len(records) else "")
        problems.append(f"{steps}, {len(oracle.lines)} ORACLE lines")
    for number, call in enumerate(calls, 1):
        fit = call[0].get("source") == "fit"
        ends_epoch = number == len(calls) or calls[number][0].get("epoch") != call[0].get("epoch")
        if fit and ends_epoch and len(call) == batches(call[0]) <= k:
            continue  # an epoch's last fit call may run fewer batches
        if batches(call[0]) != k or (fit and len(call) != k):
            problems.append(f"step {call[0].get('step')}: batches_per_call {batches(call[0])}"
                            + (f" over {len(call)} steps" if fit else "") + f", ORACLE_STEPS_PER_CALL {k}")
            break
    missing = 0
    wrong: dict[str, list[str]] = {}  # name -> the problems with it, the first shown
    for call, values in zip(calls, oracle.lines):
        for record in call:
            flagged = record.get("non_finite") or {}
            for name, expected in values.items():
                where = f"step {record.get('step')}"
                if name not in record:
                    names = sorted(key for key in record if key not in RECORD_KEYS)
                    wrong.setdefault(name, []).append(f"{where}: no {name} (has {', '.join(names) or 'none'})")
                    continue
                got = record[name]
                if name in flagged:
                    if math.isfinite(expected):
                        wrong.setdefault(name, []).append(
                            f"{where}: {name} flagged non-finite {flagged[name]}, oracle {short(expected)}")
                    elif not close(expected, float(flagged[name])):
                        wrong.setdefault(name, []).append(f"{where}: {name} {flagged[name]}, oracle {expected}")
                    continue
                if got is None:
                    if math.isfinite(expected):
                        missing += 1
                    else:
                        wrong.setdefault(name, []).append(f"{where}: {name} null, not flagged, oracle {expected}")
                    continue
                if isinstance(got, bool) or not isinstance(got, (int, float)):
                    wrong.setdefault(name, []).append(f"{where}: {name} is {got!r}")
                elif not close(expected, float(got)):
                    wrong.setdefault(name, []).append(f"{where}: {name} {short(got)}, oracle {short(expected)}")
    for found in wrong.values():
        problems.append(found[0] + (f" ({len(found)} steps)" if len(found) > 1 else ""))
    return problems, missing


def check_run(mode: str, python: Run, run: Run) -> Cell:
    """`eagerrun --<mode> --metrics-out … script.py` against `python script.py`: the same exit code, the same
    stdout (graph: ORACLE values to RTOL too; eager: ORACLE names and count only, its float results may differ
    slightly), and a metrics file that holds the run's own ORACLE values, step by step."""
    if run.exit_code is None:
        return Cell.of([f"timeout after {run.wall_s:.0f} s"])
    problems = []
    if run.exit_code != python.exit_code:
        problems.append(f"exit {run.exit_code} (python {python.exit_code}): {run.last_error()}")
    oracle = run.oracle
    problems += check_stdout(python.oracle, oracle, values=(mode == "graph"))
    record_problems, missing = check_records(oracle, run.records)
    return Cell.of(problems + record_problems, missing=missing)


@dataclass(frozen=True)
class Verdict:
    match: bool
    first_divergent_line: int | None  # 1-based ORACLE line (outermost call)
    counts: tuple[int, int]  # (eager, graph) ORACLE lines


def truth(eager: Oracle, graph: Oracle, *, rtol: float = COMPARE_RTOL, atol: float = COMPARE_ATOL) -> Verdict:
    """What `eagerrun compare` should say, from the two runs' own ORACLE streams, with compare's rule: a value
    diverges where |graph - eager| > atol + rtol·|eager|; a value one run has and the other lacks diverges;
    runs of different lengths never match (the steps both have are still compared)."""
    first = None
    for index, (e, g) in enumerate(zip(eager.lines, graph.lines)):
        if set(e) != set(g) or any(not within(e[name], g[name], rtol=rtol, atol=atol) for name in e):
            first = index + 1
            break
    counts = (len(eager.lines), len(graph.lines))
    return Verdict(match=first is None and counts[0] == counts[1] and counts[0] > 0, first_divergent_line=first,
                   counts=counts)


def step_of_line(line: int, records: list[dict[str, Any]]) -> int:
    """The step number eagerrun gives the first batch of the line-th call (a fit call of k batches is k
    steps), from the run's own records where they reach that far."""
    calls = calls_of(records)
    if line <= len(calls):
        return int(calls[line - 1][0].get("step", line))
    return line


def within(expected: float, actual: float, *, rtol: float, atol: float) -> bool:
    if math.isfinite(expected) and math.isfinite(actual):
        return abs(actual - expected) <= atol + rtol * abs(expected)
    return (math.isnan(expected) and math.isnan(actual)) or expected == actual


def check_compare(run: Run, eager: Run, graph: Run) -> Cell:
    """`eagerrun compare --json script.py`: its verdict (match, first divergent step) must be the truth from
    the eager and graph runs' own ORACLE streams, and its exit code 0 exactly when it says they match."""
    if run.exit_code is None:
        return Cell.of([f"timeout after {run.wall_s:.0f} s"])
    expected = truth(eager.oracle, graph.oracle)
    first_step = None if expected.first_divergent_line is None else \
        step_of_line(expected.first_divergent_line, eager.records)
    try:
        said = json.loads(run.stdout)
    except json.JSONDecodeError:
        return Cell.of([f"no JSON (exit {run.exit_code}): {run.last_error()}"])
    problems = []
    if said.get("failed"):
        problems += [f"{mode} failed: {why}" for mode, why in said["failed"].items()]
    want = "match" if expected.match else f"differ at step {first_step}"
    if expected.counts[0] != expected.counts[1]:
        want += f" ({expected.counts[0]} vs {expected.counts[1]} steps)"
    if said.get("match") != expected.match:
        got = "match" if said.get("match") else f"differ at step {said.get('first_divergent_step')}"
        detail = f" ({said.get('steps_compared')} steps compared" + (
            f", {said.get('divergent_value')}" if said.get("divergent_value") else "") + ")"
        problems.append(f"says {got}{detail}; truth: {want}")
    elif not expected.match and said.get("first_divergent_step") != first_step:
        problems.append(f"says differ at step {said.get('first_divergent_step')} "
                        f"({said.get('divergent_value')}); truth: {want}")
    if (run.exit_code == 0) != bool(said.get("match")):
        problems.append(f"exit {run.exit_code} with match={said.get('match')}")
    return Cell.of(problems)


# ---------------------------------------------------------------------------------------------------- processes

def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EAGERRUN_")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def eagerrun_command() -> list[str]:
    """The console script beside this Python, else `python -m eagerrun`."""
    script = Path(sys.executable).parent / "eagerrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "eagerrun"]


def start_process(command: list[str], *, cwd: Path, env: dict[str, str],
                  timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def execute(command: list[str], cwd: Path, *, timeout: float = TIMEOUT_S, start: Any = start_process) -> Run:
    """`command` in `cwd`, by `start` (a new process; the tests pass one that forks eagerrun's runs)."""
    import time

    began = time.monotonic()
    try:
        done = start(command, cwd=cwd, env=environment(), timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        def text(data: Any) -> str:
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
        return Run(command, None, text(expired.stdout), text(expired.stderr), time.monotonic() - began)
    return Run(command, done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def run_python(script: Path, folder: Path, *, timeout: float = TIMEOUT_S) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    return execute([sys.executable, str(script)], folder, timeout=timeout)


def run_mode(script: Path, mode: str, folder: Path, *, timeout: float = TIMEOUT_S, start: Any = start_process) -> Run:
    """`eagerrun --<mode> --metrics-out <folder>/m.jsonl script.py`, cwd `folder`, its metrics read back."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = folder / f"{mode}.jsonl"
    run = execute([*eagerrun_command(), f"--{mode}", "--metrics-out", str(metrics), str(script)], folder,
                  timeout=timeout, start=start)
    if metrics.exists():
        run.records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return run


def run_compare(script: Path, folder: Path, *, timeout: float = 2 * TIMEOUT_S) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    return execute([*eagerrun_command(), "compare", "--json", str(script)], folder, timeout=timeout)
