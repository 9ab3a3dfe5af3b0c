"""Execution modes: which one the user asked for, applying it before any user code runs, and proving it.

This module is the only caller of `tf.config.run_functions_eagerly` and
`tf.data.experimental.enable_debug_mode`. TensorFlow 2 always executes eagerly at top level; what a mode
changes is whether `tf.function` bodies (Keras `fit` included) run as traced graphs or op by op, and, for
eager, whether `tf.data` functions run op by op too (debug mode, which must be on before a dataset is built
and can never be turned off again in the process).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from eagerrun import _tf_compat as private
from eagerrun.config import MODE_ENV_VAR, Mode, ModeChoice, ModeSource
from eagerrun.errors import EXIT_FAILURE, EagerrunError
from eagerrun.startup_log import quiet_tensorflow_startup
from eagerrun.switches import ProcessSwitches, kept, tensorflow_check_numerics

if TYPE_CHECKING:
    from eagerrun.records import StepRecord

log = logging.getLogger("eagerrun")


_tf: ModuleType | None = None


def import_tensorflow(*, show_tf_log: bool = False, switches: ProcessSwitches | None = None) -> ModuleType:
    """Import TensorFlow once, quietly, or say in one line how to install it.

    TensorFlow's C++ INFO and WARNING lines are hidden unless the user set TF_CPP_MIN_LOG_LEVEL themselves,
    and so are the start-up lines its runtime prints before it reads that setting (`startup_log`); errors
    still show. The devices are looked up here too, because the first look prints one of those lines
    (cuInit failing on a machine without a GPU). `list_physical_devices` does not initialise the runtime,
    so the user's script and `--cpu-replicas` can still configure devices afterwards. `show_tf_log` hides
    nothing and leaves TensorFlow's log level as it is. Only the first call imports: later ones return
    the module whatever they pass.
    """
    global _tf
    if _tf is None:
        if not show_tf_log:
            (switches or kept()).environ_default("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with quiet_tensorflow_startup(show=show_tf_log):
                import tensorflow as tf

                tf.config.list_physical_devices()
        except ImportError as exc:
            raise EagerrunError(
                f"TensorFlow is not installed ({exc}); install it with: pip install 'tensorflow>=2.16'",
                exit_code=EXIT_FAILURE,
            ) from None
        _tf = tf
    return _tf


def data_debug_mode_enabled() -> bool:
    """Whether tf.data debug mode is on; TensorFlow exposes no public getter, so read its module flag."""
    return bool(private.get("debug_mode").DEBUG_MODE)


def apply_mode(choice: ModeChoice, *, switches: ProcessSwitches, show_tf_log: bool = False,
               check_numerics: bool = False) -> None:
    """Put TensorFlow in the chosen mode. Call before the user's code is imported.

    Eager also turns on tf.data debug mode, because `run_functions_eagerly` alone leaves `Dataset.map`
    functions traced. Graph cannot undo an earlier debug mode in this process; nothing here needs it to,
    since every eagerrun process applies exactly one mode. `show_tf_log`: see `import_tensorflow`. What the
    run's `switches` hold (check-numerics, TensorFlow's log level) is put back when it ends.
    """
    tf = import_tensorflow(show_tf_log=show_tf_log, switches=switches)
    tf.config.run_functions_eagerly(choice.eager)
    if choice.eager and not data_debug_mode_enabled():
        tf.data.experimental.enable_debug_mode()
    if check_numerics:  # before the script builds any graph: every op it makes is checked (diagnostics/numerics.py)
        tensorflow_check_numerics(switches, tf)


def script_mode_guard(choice: ModeChoice, *, script_decides: bool,
                      step_modes: StepModes | None = None) -> Callable[[bool], None]:
    """What a script's own `tf.config.run_functions_eagerly(...)` call does under eagerrun (autolog/hooks.py puts it
    in place of TensorFlow's).

    Tutorials often switch the mode in the script; with an explicit `--eager`/`--graph` (or EAGERRUN_MODE)
    the command line wins and eagerrun warns once per call site, naming its file:line. When the mode only
    came from the default, or with `script_decides`, the script decides: its call goes through, as under
    plain python, and `step_modes` (when given) learns the mode now in force and the line that chose it.
    """
    tf_run_functions_eagerly = import_tensorflow().config.run_functions_eagerly
    if script_decides or choice.source == "default":

        def script_decides_mode(run_eagerly: bool) -> None:
            tf_run_functions_eagerly(run_eagerly)
            if step_modes is not None:
                caller = sys._getframe(1)
                step_modes.switched("eager" if run_eagerly else "graph", caller.f_code.co_filename, caller.f_lineno)

        return script_decides_mode
    warned: set[tuple[str, int]] = set()

    def run_functions_eagerly(run_eagerly: bool) -> None:
        if bool(run_eagerly) == choice.eager:
            return
        caller = sys._getframe(1)
        site = (caller.f_code.co_filename, caller.f_lineno)
        if site not in warned:
            warned.add(site)
            log.warning(
                "%s:%d: the script calls tf.config.run_functions_eagerly(%s); ignored, %s mode stays "
                "(requested by %s; pass --script-decides to let the script switch)",
                *site, bool(run_eagerly), choice.mode, _describe_source(choice.source),
            )

    return run_functions_eagerly


class StepModes:
    """The mode the steps actually ran in, and who decided it, for the run's report.

    The command line's choice holds until a script allowed to decide (`script_mode_guard`) switches it;
    each step is then in the mode in force when it was recorded (the recorder stamps it on the record), and
    the first step in each mode says who had decided that mode: "flag", "env", "default", or "the script,
    train.py:12". A script that switches back after its steps (a tutorial resetting the mode at its end)
    does not change what its steps ran in.
    """

    def __init__(self, choice: ModeChoice, *, on_switch: Callable[[Mode], None] | None = None) -> None:
        self.mode: Mode = choice.mode
        self.decided_by: str = choice.source
        self.ran: dict[str, str] = {}  # each mode steps ran in -> who decided it, in the order they ran
        self.on_switch = on_switch

    def switched(self, mode: Mode, filename: str, line: int) -> None:
        self.mode, self.decided_by = mode, f"the script, {short_path(filename)}:{line}"
        if self.on_switch is not None:
            self.on_switch(mode)

    def step(self, record: StepRecord) -> None:
        """A recorder listener: note the mode `record` ran in, and who decided it, at its first step."""
        self.ran.setdefault(record.mode, self.decided_by)

    def modes(self) -> list[tuple[str, str]]:
        """(mode, who decided) for each mode the steps ran in, in order; without steps, the mode in force
        at the end."""
        return list(self.ran.items()) or [(self.mode, self.decided_by)]


def short_path(filename: str) -> str:
    """A file as a person at this shell would name it: relative to the working directory, when inside it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith(os.pardir) else relative


def _describe_source(source: ModeSource) -> str:
    return {"flag": "the command line", "env": MODE_ENV_VAR, "default": "default"}[source]


def probe_mode(choice: ModeChoice) -> dict[str, Any]:
    """Prove the mode by running code, not by reading flags back: a tf.function body and a Dataset.map
    function each record whether they executed eagerly."""
    tf = import_tensorflow()
    import keras

    body_eager: list[bool] = []

    @tf.function
    def probe_function(x: Any) -> Any:
        body_eager.append(tf.executing_eagerly())
        return x + 1

    probe_function(tf.constant(1))
    probe_function(tf.constant(2))  # the second call shows what steady steps do, past the first trace

    map_eager: list[bool] = []

    def probe_map(x: Any) -> Any:
        map_eager.append(tf.executing_eagerly())
        return x

    list(tf.data.Dataset.range(1).map(probe_map))
    devices = [device.name for device in tf.config.list_logical_devices()]
    return {
        "mode": choice.mode,
        "source": choice.source,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "executing_eagerly": tf.executing_eagerly(),
        "functions_run_eagerly": tf.config.functions_run_eagerly(),
        "function_body_eager": body_eager[-1],
        "data_function_eager": map_eager[-1],
        "data_debug_mode": data_debug_mode_enabled(),
        "devices": devices,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "xla_jit": tf.config.optimizer.get_jit() or "off",
    }


def probe_agrees(report: dict[str, Any]) -> bool:
    """Whether what ran matches what was asked: both kinds of function eager in eager mode, graphs in graph."""
    want_eager = report["mode"] == "eager"
    return report["function_body_eager"] == want_eager and report["data_function_eager"] == want_eager
