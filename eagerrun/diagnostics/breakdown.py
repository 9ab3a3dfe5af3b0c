"""Where a step's time goes: waiting for input, tracing, running the step's functions, and the host's own
Python between them.

The hooks (autolog/hooks.py) note each interval as it ends, on the run's thread: a tf.data iterator's
`next` (input), a trace (`tracing_compilation`: trace), an outermost tf.function call (run), and each host
read of a tensor by the user's code (`.numpy()`, `float()`, `int()`, `bool()`: read, with its line). A
step source records a step with its span (start, end); the step's breakdown is what the intervals inside
that span add up to, and the Python between is the rest of its time: the four parts sum to the step's time
by construction, and each is measured, never estimated.

What the host cannot see: inside a traced graph, input is an `IteratorGetNext` op of the graph (Keras `fit`
and eagerrun's trainer read their batches there), so a graph's own wait for its batch is part of its run
time. The run's verdict (`verdict`) times the input pipeline alone for those, as `tfds.benchmark` does.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from eagerrun.records import Breakdown, StepRecord

# the kinds of intervals, in the order the breakdown shows them
INPUT, TRACE, RUN, READ = "input", "trace", "run", "read"


class Interval(NamedTuple):
    kind: str
    start: float
    end: float
    inside_call: bool  # within an outermost tf.function call (its run time holds it already)
    site: str | None = None  # a host read: the user's file:line


class Timeline:
    """The run's intervals, kept until the steps they fall in are recorded (steps are recorded in order, so
    what ended before a recorded step's start is never asked for again)."""

    def __init__(self) -> None:
        self._intervals: collections.deque[Interval] = collections.deque()  # in order of their ends
        self.call_depth = 0  # inside an outermost tf.function call
        self.trace_depth = 0
        self.read_sites: collections.Counter[str] = collections.Counter()  # file:line -> reads, whole run
        self.input_wait_s = 0.0  # the whole run's, to tell whether the loop waited on input at all
        self.waited_on: dict[int, tuple[Any, float]] = {}  # id(dataset) -> (dataset, seconds its iterators waited)
        self.iterated: Any = None  # the dataset of the run's last iterator (its Python `next` may never be called)

    def note(self, kind: str, start: float, end: float, site: str | None = None) -> None:
        self._intervals.append(Interval(kind, start, end, self.call_depth > 0 and kind != RUN, site))
        if kind == READ and site is not None:
            self.read_sites[site] += 1
        elif kind == INPUT:
            self.input_wait_s += end - start

    def waited(self, dataset: Any, start: float, end: float) -> None:
        """A tf.data iterator's `next`: an input interval, kept against the pipeline it reads."""
        self.note(INPUT, start, end)
        if dataset is not None:
            held = self.waited_on.get(id(dataset))
            self.waited_on[id(dataset)] = (dataset, (held[1] if held else 0.0) + end - start)

    def slowest_pipeline(self) -> Any:
        """The dataset the loop waited on longest, else the last one an iterator was made of (Keras fit's and
        the trainer's, read inside their graphs), or None."""
        if self.waited_on:
            return max(self.waited_on.values(), key=lambda held: held[1])[0]
        return self.iterated

    def spent(self, start: float, end: float, *, steps: int = 1) -> Breakdown:
        """The breakdown of `steps` steps that shared the span [start, end] (fit's steps_per_execution, a
        trainer chunk), per step."""
        intervals = self._intervals
        while intervals and intervals[0].end <= start:
            intervals.popleft()
        totals = dict.fromkeys((INPUT, TRACE, RUN), 0.0)
        inside = 0.0  # input and tracing within a call: already in its run time
        reads = 0
        for interval in intervals:
            overlap = min(interval.end, end) - max(interval.start, start)
            if overlap <= 0:
                continue
            if interval.kind == READ:
                reads += 1
                continue
            totals[interval.kind] += overlap
            if interval.inside_call:
                inside += overlap
        run = max(0.0, totals[RUN] - inside)
        total = (end - start) / steps
        input_s, trace_s, run_s = totals[INPUT] / steps, totals[TRACE] / steps, run / steps
        return Breakdown(input_s=input_s, trace_s=trace_s, run_s=run_s,
                         python_s=max(0.0, total - input_s - trace_s - run_s), host_reads=round(reads / steps))


@dataclass(frozen=True)
class Shares:
    """The run's steady steps (traced ones left out, as from their median) in shares of their time."""

    steps: int
    input: float
    trace: float
    run: float
    python: float
    reads_per_step: float

    def line(self) -> str:
        """`62% waiting for input, 30% in the step's functions, 8% Python between`: the parts over 0.5%."""
        parts = [(self.input, "waiting for input"), (self.trace, "tracing"), (self.run, "in the step's functions"),
                 (self.python, "Python between")]
        shown = [f"{round(share * 100)}% {what}" for share, what in parts if share >= 0.005]
        return ", ".join(shown) or "—"


def shares_of(breakdowns: Iterable[tuple[float, Breakdown, bool]], *, tracing: bool = False) -> Shares | None:
    """(time_s, breakdown, traced) of each step → the shares of their total time; steady steps only, or
    every step with `tracing` (what tracing cost the run). None without a step to go on."""
    kept = [(time_s, b) for time_s, b, traced in breakdowns if tracing or not traced]
    total = sum(time_s for time_s, _ in kept)
    if not kept or total <= 0 or not math.isfinite(total):
        return None
    return Shares(steps=len(kept), input=sum(b.input_s for _, b in kept) / total,
                  trace=sum(b.trace_s for _, b in kept) / total, run=sum(b.run_s for _, b in kept) / total,
                  python=sum(b.python_s for _, b in kept) / total,
                  reads_per_step=sum(b.host_reads for _, b in kept) / len(kept))


# -- the input pipeline alone --------------------------------------------------------------------------------

STAGE_BUDGET_S = 0.3  # per prefix of the pipeline: enough elements for a stable time, bounded whatever its cost
STAGE_ELEMENTS = 64


@dataclass(frozen=True)
class Stage:
    """One transformation of a tf.data pipeline, timed alone: what it adds to producing one batch."""

    name: str  # "map(parse)", "batch", "from_tensor_slices"
    where: str | None  # the function's file:line, for a map or filter of the user's
    adds_s: float  # seconds it adds per batch the loop reads
    parallel: bool  # a map with num_parallel_calls


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...]
    per_batch_s: float
    prefetched: bool  # the pipeline ends in a prefetch

    @property
    def slowest(self) -> Stage | None:
        named = [stage for stage in self.stages if stage.where is not None] or list(self.stages)
        return max(named, key=lambda stage: stage.adds_s, default=None)


def chain_of(dataset: Any) -> list[Any]:
    """The pipeline's datasets from its source to `dataset` itself (tf.data keeps each one's input)."""
    chain: list[Any] = []
    while dataset is not None and len(chain) < 64:
        chain.append(dataset)
        dataset = getattr(dataset, "_input_dataset", None)
    return chain[::-1]


def stage_name(dataset: Any) -> tuple[str, str | None, bool]:
    """("map(parse)", "train.py:41", parallel?) for one dataset of a chain, from its class and function."""
    kind = type(dataset).__name__.strip("_").removesuffix("Dataset")
    parallel = kind.startswith("Parallel")
    kind = kind.removeprefix("Parallel")
    kind = "".join(f"_{c.lower()}" if c.isupper() else c for c in kind).strip("_")
    function = getattr(getattr(dataset, "_map_func", None) or getattr(dataset, "_predicate", None), "_func", None)
    code = getattr(function, "__code__", None)
    if code is None:
        return kind, None, parallel
    from eagerrun.user_code import is_library_file

    where = None if is_library_file(code.co_filename) else f"{code.co_filename}:{code.co_firstlineno}"
    return f"{kind}({getattr(function, '__name__', '?')})", where, parallel


def time_pipeline(dataset: Any) -> Pipeline | None:
    """Each prefix of the pipeline iterated alone for a moment (its output silenced: a map's print runs
    again here), as seconds per batch the loop reads; each stage's cost is what it adds to its input's."""
    chain = chain_of(dataset)
    # elements are counted against the batches the loop reads: the last finite stage (a repeat is not)
    final = next((n for n in (int(d.cardinality()) for d in reversed(chain)) if n > 0), -1)
    times: list[float] = []
    with silenced():
        for prefix in chain:
            per_element = seconds_per_element(prefix)
            if per_element is None:
                return None
            elements = int(prefix.cardinality())
            scale = elements / final if final > 0 and elements > 0 else 1.0  # elements per batch the loop reads
            times.append(per_element * scale)
    stages = []
    for index, (prefix, seconds) in enumerate(zip(chain, times)):
        name, where, parallel = stage_name(prefix)
        stages.append(Stage(name, where, max(0.0, seconds - (times[index - 1] if index else 0.0)), parallel))
    return Pipeline(tuple(stages), per_batch_s=times[-1], prefetched=stages[-1].name == "prefetch")


def seconds_per_element(dataset: Any, *, budget_s: float = STAGE_BUDGET_S) -> float | None:
    import time

    try:
        iterator = iter(dataset)
        next(iterator)  # the first element pays for starting the pipeline: not counted
        count, start = 0, time.perf_counter()
        end = start
        for _ in iterator:  # a short pipeline runs out first: what it took for what it gave
            count += 1
            end = time.perf_counter()
            if count >= STAGE_ELEMENTS or end - start >= budget_s:
                break
        return (end - start) / count if count else None
    except Exception:  # noqa: BLE001 - a pipeline that cannot run again here (exhausted, a generator's): no timing
        return None


class silenced:
    """fd 1 and 2 and Python's sys.stdout/stderr to /dev/null for the block."""

    def __enter__(self) -> None:
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        self._streams = (sys.stdout, sys.stderr)
        self._null = open(os.devnull, "w")
        os.dup2(self._null.fileno(), 1)
        os.dup2(self._null.fileno(), 2)
        sys.stdout = sys.stderr = self._null

    def __exit__(self, *exc: object) -> None:
        import os
        import sys

        sys.stdout, sys.stderr = self._streams
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        self._null.close()


# -- the verdict ---------------------------------------------------------------------------------------------

INPUT_ALONE = 0.5  # the pipeline alone takes half a step or more: a loop reading inside its graph waits on it
INPUT_BOUND = 0.3  # of the steady steps' time waiting for input, and at least their time in the step's functions
HOST_BOUND = 0.5  # of the steady steps' time in Python between the step's functions
TRACING = 0.2  # of every step's time spent tracing


@dataclass(frozen=True)
class Verdict:
    kind: str  # input-bound | host-bound | tracing | compute-bound
    text: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


def fixes_for(slowest: Stage, pipeline: Pipeline) -> list[str]:
    fixes = []
    if slowest.name.startswith("map") and not slowest.parallel:
        fixes.append("num_parallel_calls=tf.data.AUTOTUNE")
    if not pipeline.prefetched:
        fixes.append(".prefetch(tf.data.AUTOTUNE) at its end")
    if slowest.name.startswith("map"):
        fixes.append(".cache() after it if its output is the same every epoch")
    return fixes


def verdict(steady: Shares, every: Shares, *, timeline: Timeline, most_traced: tuple[str, int] | None,
            pipeline: Callable[[], Pipeline | None], source: str = "autolog",
            read_in_graph: tuple[float, float] | None = None) -> Verdict:
    """What the step's time is mostly spent on, with its cause and the fix. `pipeline` times the input
    pipeline alone, asked only for an input-bound verdict; `source` is where the steps came from (Keras
    fit's own loop is the Python between its calls). `read_in_graph`: (the pipeline's seconds a batch
    alone, the median steady step) for a loop that reads its batches inside its graph (fit, the trainer),
    whose wait for input the host cannot see."""
    if every.trace >= TRACING and most_traced is not None:
        name, count = most_traced
        return Verdict("tracing", f"tracing: {name} traced {count} times ({round(every.trace * 100)}% of the time "
                                  "of the steps after the first); the retrace report below says why")
    if steady.input >= INPUT_BOUND and steady.input >= steady.run:
        text = f"input-bound: {round(steady.input * 100)}% of each step waits for the next batch"
        timed = pipeline()
        slowest = timed.slowest if timed is not None else None
        if timed is not None and slowest is not None:
            where = f" at {slowest.where}" if slowest.where else ""
            text += (f"; the slowest transformation is Dataset.{slowest.name}{where} "
                     f"({slowest.adds_s * 1000:.3g} ms a batch, the pipeline alone {timed.per_batch_s * 1000:.3g} ms)")
            fixes = fixes_for(slowest, timed)
            text += ": " + ", ".join(fixes) if fixes else ""
        return Verdict("input-bound", text)
    if read_in_graph is not None:
        alone, step_s = read_in_graph
        timed = pipeline() if alone >= INPUT_ALONE * step_s else None
        slowest = timed.slowest if timed is not None else None
        if timed is not None and slowest is not None:
            where = f" at {slowest.where}" if slowest.where else ""
            return Verdict("input-bound", f"input-bound: the input pipeline alone takes {alone * 1000:.3g} ms a batch, "
                           f"{round(100 * alone / step_s)}% of a step's {step_s * 1000:.3g} ms (this loop reads its "
                           f"batches inside the step's graph); the slowest transformation is Dataset.{slowest.name}"
                           f"{where} ({slowest.adds_s * 1000:.3g} ms a batch): " + ", ".join(fixes_for(slowest, timed)))
    reads = timeline.read_sites.most_common(1)
    if steady.python >= HOST_BOUND:
        text = f"host-bound: {round(steady.python * 100)}% of each step is Python between the step's functions"
        if reads:
            site, count = reads[0]
            text += f"; a tensor's value is read on the host at {site}{source_at(site)} ({count} times)"
        elif source == "fit":
            text += (" (Keras fit's own loop and callbacks): compile(..., steps_per_execution=N) runs N batches "
                     "a call")
        return Verdict("host-bound", text)
    return Verdict("compute-bound", f"compute-bound: {round(steady.run * 100)}% of each step runs the step's "
                                    "functions")


def source_at(site: str) -> str:
    """` (float(loss))`: the code at a file:line, where it can be read."""
    import linecache

    file, _, line = site.rpartition(":")
    code = linecache.getline(file, int(line)).strip() if line.isdigit() else ""
    return f" ({code})" if code else ""


@dataclass(frozen=True)
class TimeReport:
    """The run's steps, where their time went: the steady steps' shares and the verdict."""

    shares: Shares
    verdict: Verdict

    def as_json(self) -> dict[str, Any]:
        shares = self.shares
        return {"steps": shares.steps, "input": shares.input, "trace": shares.trace, "run": shares.run,
                "python": shares.python, "host_reads_per_step": shares.reads_per_step, **self.verdict.as_json()}


def where_time_went(records: list[StepRecord], timeline: Timeline, functions: Iterable[dict[str, Any]], *,
                    time_pipelines: bool = True) -> TimeReport | None:
    """The run's time report, from its records' breakdowns (None where none has one). `time_pipelines`
    False: the input pipeline is never run again alone (a strategy's distributed dataset, read again from
    the main thread after the run, blocked: measured)."""
    measured = [(r.time_s, r.breakdown, r.traced) for r in records if r.breakdown is not None]
    firsts = {min(r.step for r in records if r.phase == phase) for phase in {r.phase for r in records}}
    after_first = [(r.time_s, r.breakdown, r.traced) for r in records
                   if r.breakdown is not None and r.step not in firsts]  # a first trace is no retrace's cost
    steady, every = shares_of(measured), shares_of(after_first, tracing=True) or shares_of(measured, tracing=True)
    if every is None:
        return None
    steady = steady or every
    def costly(function: dict[str, Any]) -> int:  # traces beyond the first: retraces and re-creations
        return len(function.get("retraces") or ()) + (function.get("recreated") or 0)

    traced = max((f for f in functions if costly(f)), key=costly, default=None)
    most_traced = (traced["name"], costly(traced) + 1) if traced else None

    def pipeline() -> Pipeline | None:
        dataset = timeline.slowest_pipeline() if time_pipelines else None
        return time_pipeline(dataset) if dataset is not None else None

    source = collections.Counter(r.source for r in records).most_common(1)[0][0]
    read_in_graph = None
    steady_times = sorted(time_s for time_s, _, traced in measured if not traced)
    dataset = timeline.slowest_pipeline() if time_pipelines else None
    if source in ("fit", "trainer") and steady.input < INPUT_BOUND and steady_times and dataset is not None:
        with silenced():
            alone = seconds_per_element(dataset, budget_s=0.1)  # its whole pipeline, a moment: cheap
        if alone is not None:
            read_in_graph = (alone, steady_times[len(steady_times) // 2])
    return TimeReport(steady, verdict(steady, every, timeline=timeline, most_traced=most_traced, pipeline=pipeline,
                                      source=source, read_in_graph=read_in_graph))
