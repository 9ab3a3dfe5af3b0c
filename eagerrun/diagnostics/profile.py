"""`--profile START:STOP`: a TensorBoard profile of those steps, with a step marker for each, and its top ops.

TensorFlow's Profiler needs step markers to find steps ("No step marker observed" for custom loops:
tensorboard#6210): a `tf.profiler.experimental.Trace("train", step_num=n, _r=1)` around each step, the
iterator's `next` inside it. eagerrun knows where steps are for every loop, so it places them itself.

A step here is one call of the loop's step function: the first tf.function whose outermost calls repeat (a
custom loop's `train_step`, Keras fit's train function, eagerrun's trainer's step or chunk of steps); any
other call (a GAN's second function, validation) falls inside the step of the call around it. Each marker
runs from the end of the step before to the end of the step, so the batch's `next` and the Python between
are in it, as the Profiler's input-pipeline page expects. The capture is read back with TensorFlow's own
converter (`xspace_to_tools_data`, what TensorBoard's profile plugin runs) for the top ops.
"""

from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eagerrun import _tf_compat as private

log = logging.getLogger("eagerrun")


@dataclass(frozen=True)
class ProfiledOp:
    name: str
    op_type: str
    occurrences: int
    self_s: float
    share: float  # of the profiled self time on the host


@dataclass(frozen=True)
class Capture:
    """What `--profile` wrote: where, which steps it marked, and the ops that took the time."""

    logdir: Path
    steps: tuple[int, ...]
    top_ops: tuple[ProfiledOp, ...]

    def as_json(self) -> dict[str, Any]:
        return {"logdir": str(self.logdir), "steps": list(self.steps),
                "top_ops": [op.__dict__ for op in self.top_ops]}


class StepProfiler:
    """Starts TensorFlow's profiler at step START's call, marks each step, stops after step STOP."""

    def __init__(self, start: int, stop: int, logdir: Path) -> None:
        self.start, self.stop, self.logdir = start, stop, logdir
        self._calls: dict[int, int] = {}
        self._pace: int | None = None  # id of the step function
        self._marker: Any = None
        self._running = False
        self._done = False
        self.marked: list[int] = []

    def call_started(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """An outermost tf.function call begins (autolog/hooks.py)."""
        if self._done:
            return
        key = id(function)
        self._calls[key] = count = self._calls.get(key, 0) + 1
        if self._pace is None and (count == 2 or self.start == 1):
            self._pace = key
        if key != self._pace:
            return
        if not self._running and count >= self.start:
            self._begin()
        if self._running and self._marker is None:
            self._mark(count)

    def call_returned(self, function: Any) -> None:
        if not self._running or id(function) != self._pace:
            return
        count = self._calls[id(function)]
        self._unmark()
        if count >= self.stop:
            self.finish()
        else:
            self._mark(count + 1)  # the next step starts now: its batch's `next` is in it

    def finish(self) -> None:
        """Stop the capture (the run's end stops one still going)."""
        self._unmark()
        if self._running:
            import tensorflow as tf

            self._running = False
            try:
                tf.profiler.experimental.stop()
            except Exception as exc:  # noqa: BLE001 - the script's run stands; the capture is lost
                log.warning("--profile: TensorFlow's profiler did not stop (%s); no profile written", exc)
        self._done = True

    def _begin(self) -> None:
        import tensorflow as tf

        try:
            tf.profiler.experimental.start(str(self.logdir))
        except Exception as exc:  # noqa: BLE001 - another profiler is running (the script's own)
            log.warning("--profile: TensorFlow's profiler did not start (%s); going on without it", exc)
            self._done = True
            return
        self._running = True

    def _mark(self, step: int) -> None:
        import tensorflow as tf

        self._marker = tf.profiler.experimental.Trace("train", step_num=step, _r=1)
        self._marker.__enter__()
        self.marked.append(step)

    def _unmark(self) -> None:
        if self._marker is not None:
            self._marker.__exit__(None, None, None)
            self._marker = None

    def capture(self, top: int = 10) -> Capture | None:
        """What the capture holds, read back from its files; None where nothing was written."""
        paths = sorted(glob.glob(str(self.logdir / "**" / "*.xplane.pb"), recursive=True))
        if not paths:
            return None
        latest = [p for p in paths if Path(p).parent == Path(paths[-1]).parent]
        return Capture(self.logdir, tuple(step_markers(latest)), tuple(top_ops(latest, top)))


def step_markers(paths: list[str]) -> list[int]:
    """The step numbers of the capture's `train` markers, as TensorBoard reads them."""
    xplane = private.get("xplane_pb2")
    steps = []
    for path in paths:
        space = xplane.XSpace()
        space.ParseFromString(Path(path).read_bytes())
        for plane in space.planes:
            train = {key for key, meta in plane.event_metadata.items() if meta.name == "train"}
            step_stat = {key for key, meta in plane.stat_metadata.items() if meta.name == "step_num"}
            for line in plane.lines:
                for event in line.events:
                    if event.metadata_id in train:
                        steps += [stat.int64_value or stat.uint64_value for stat in event.stats
                                  if stat.metadata_id in step_stat]
    return sorted(steps)


def top_ops(paths: list[str], top: int) -> list[ProfiledOp]:
    """The ops with the most self time, from TensorFlow's framework-op statistics of the capture."""
    converter = private.get("profiler_plugin")
    data, ok = converter.xspace_to_tools_data(paths, "framework_op_stats", {})
    if not ok or not data:
        return []
    tables = json.loads(data)
    table = tables[0] if isinstance(tables, list) else tables
    columns = [column["id"] for column in table["cols"]]
    rows = [dict(zip(columns, (cell.get("v") if cell else None for cell in row["c"]))) for row in table["rows"]]
    ops = [row for row in rows if row.get("type") not in (None, "IDLE")]
    total = sum(row.get("total_self_time") or 0.0 for row in ops) or 1.0
    ops.sort(key=lambda row: row.get("total_self_time") or 0.0, reverse=True)
    return [ProfiledOp(name=row.get("operation") or "", op_type=row.get("type") or "",
                       occurrences=int(row.get("occurrences") or 0), self_s=(row.get("total_self_time") or 0.0) / 1e6,
                       share=(row.get("total_self_time") or 0.0) / total) for row in ops[:top]]
