"""The frozen options of one run, built once by the CLI and read by everything after it."""

from __future__ import annotations

from dataclasses import dataclass

from eagerrun.loader import Target
from eagerrun.modes import ModeChoice


@dataclass(frozen=True)
class RunConfig:
    """One `eagerrun run`: the mode, what to run, and how eagerrun itself behaves around it."""

    mode: ModeChoice
    target: Target
    script_decides: bool = False
    quiet: bool = False
