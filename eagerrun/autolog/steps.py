"""A custom loop's steps while they are made: the units a step is made of (`Unit`), the step still
gathering them (`OpenStep`), its losses (`step_losses`), and the closed steps held until their values are
read at the flush (`ClosedSteps`). The collector (autolog/collector.py) decides where a step ends."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eagerrun.autolog.plans import BatchCount, CallPlan, Loss, LossTarget, Updates, matching_target, returned_values
from eagerrun.autolog.values import Clock


@dataclass(slots=True)
class Unit:
    """One training call, optimizer update or gradient call: what a step is made of."""

    key: Hashable  # its kind: the same function, optimizer or gradient call site
    start: Clock
    end: Clock
    losses: list[Loss] = field(default_factory=list)  # a training call's, resolved when it returned ...
    targets: list[LossTarget] = field(default_factory=list)  # a gradient call's, outside any tf.function
    optimizer: int | None = None  # an optimizer update's, outside any tf.function
    returned: dict[str, Any] = field(default_factory=dict)
    plan: CallPlan | None = None  # ... or, graph mode, read through its trace's plan when its step closes
    result: Any = None  # what the call returned, where the plan reads from it
    call_number: int | None = None  # its ring row's call number, where the plan reads from the ring
    batches: int | BatchCount = 1  # the batches a training call trained (a loop inside the function)

    def resolve(self) -> None:
        """A graph-mode call's losses and returned values, taken out of what it returned."""
        if self.plan is not None:
            self.losses = self.plan.losses(self.result, self.call_number, None)
            self.returned = returned_values(self.losses, self.result)
            self.plan = self.result = None


@dataclass(slots=True)
class OpenStep:
    """A step still gathering units: it ends when one of its units' kinds comes round again."""

    phase: int
    start: Clock
    units: list[Unit] = field(default_factory=list)
    by_gradient: dict[int, LossTarget] = field(default_factory=dict)  # id of a loose target's first gradient

    def keys(self) -> list[Hashable]:
        return [unit.key for unit in self.units]

    def match_update(self, optimizer: int, grads: list[Any]) -> None:
        """An update outside tf.function takes its gradient call's target: by the gradients' identity, else
        the oldest target of this step no optimizer took yet."""
        target = matching_target(self.by_gradient, [t for unit in self.units for t in unit.targets], grads)
        if target is not None:
            target.optimizer = optimizer


def step_losses(units: list[Unit]) -> list[Loss]:
    """The losses of a step's units: each training call's, then the loose updates' (each optimizer's last
    target; without optimizers, every gradient target)."""
    for unit in units:
        unit.resolve()
    if len(units) == 1 and not units[0].targets:  # one training call: its losses as they are
        return units[0].losses
    loose = Updates(targets=[t for unit in units for t in unit.targets],
                    optimizers=list(dict.fromkeys(u.optimizer for u in units if u.optimizer is not None)))
    return [loss for unit in units for loss in unit.losses] + [Loss(t.name, t.value) for t in loose.losses()]


class ClosedSteps:
    """The closed custom-loop steps whose values are not read yet, in flat lists: a step held here is its
    two clocks (its start is the step before's end), its phase, and either its values by name or the plan,
    result and ring call number they will be read from. Nothing is made for a step that lives until the
    flush but its end clock: measured, a tuple, a dict and two objects a step kept until the flush made
    Python's garbage collector run every 128 steps and a full collection (130 ms) every 20000."""

    __slots__ = ("batches", "call_numbers", "ends", "phases", "plans", "starts", "values")

    def __init__(self) -> None:
        self.starts: list[Clock] = []
        self.ends: list[Clock] = []
        self.phases: list[int] = []
        self.plans: list[CallPlan | None] = []
        self.values: list[Any] = []  # the values by name; with a plan, the call's result
        self.call_numbers: list[int | None] = []
        self.batches: list[int | BatchCount] = []

    def __len__(self) -> int:
        return len(self.ends)

    def add(self, start: Clock, end: Clock, phase: int, plan: CallPlan | None, values: Any,
            call_number: int | None = None, batches: int | BatchCount = 1) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.phases.append(phase)
        self.plans.append(plan)
        self.values.append(values)
        self.call_numbers.append(call_number)
        self.batches.append(batches)

    def __iter__(self) -> Iterator[tuple[Clock, Clock, int, CallPlan | None, Any, int | None, int | BatchCount]]:
        return zip(self.starts, self.ends, self.phases, self.plans, self.values, self.call_numbers, self.batches)

