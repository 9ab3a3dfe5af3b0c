"""`--pdb`: the post-mortem debugger in the script's own frame, driven through a pseudo-terminal; and the
note, and an ordinary run, without a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import numpy as np

from eagerrun.diagnostics.postmortem import up_to_innermost_script_frame
from tests.conftest import eagerrun_command, run_in_process

FAILING_STEP = """
    import eagerrun
    import tensorflow as tf

    @tf.function
    def step(x):
        total = tf.reduce_sum(x)
        if total > 5.0:
            raise ValueError("total too large")
        return total

    for i in range(3):
        eagerrun.log_step(step(tf.constant([1.0, 2.0]) * (i + 1.0)))
"""
PROMPT = b"(Pdb) "


class Terminal:
    """A process on a pseudo-terminal: read until a prompt, type a line, collect everything it wrote."""

    def __init__(self, args: list[str], cwd: str) -> None:
        self.master, slave = pty.openpty()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("EAGERRUN_")}
        environment.update(NO_COLOR="1", COLUMNS="200", TERM="dumb")
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=environment,
                                        start_new_session=True)
        os.close(slave)
        self.output = b""

    def read_until(self, token: bytes | None, *, timeout: float = 60) -> bool:
        """Read until `token` has come after what was read so far (None: until the process closes it)."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if token is not None and token in self.output[start:]:
                return True
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # Linux: EIO once the process has exited and the terminal is closed
                data = b""
            if not data:
                return token is None
            self.output += data
        return False

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


def test_pdb_opens_in_the_tf_function_body_with_real_tensors(write_script, tmp_path) -> None:
    """--eager --pdb: traceback, then pdb in step() where x is a real tensor; after `q` the table, exit 1."""
    script = write_script("fails.py", FAILING_STEP)
    terminal = Terminal([*eagerrun_command(), "--eager", "--pdb", str(script)], cwd=str(tmp_path))
    try:
        assert terminal.read_until(PROMPT), terminal.output.decode(errors="replace")
        for command in ("p x", "p float(tf.reduce_sum(x))", "p x.numpy().tolist()"):
            terminal.type(command)
            assert terminal.read_until(PROMPT, timeout=20), terminal.output.decode(errors="replace")
        terminal.type("q")
        terminal.read_until(None)
    finally:
        code = terminal.close()
    text = terminal.output.decode(errors="replace").replace("\r\n", "\n")
    assert code == 1, text
    debugger = text.index("(Pdb) ")
    assert text.index("ValueError: total too large") < debugger  # the traceback first
    assert "fails.py(9)step()" in text[:debugger + 6]  # the innermost frame: the body's raise line
    assert "numpy=array([2., 4.], dtype=float32)" in text
    assert "\n6.0\n" in text and "\n[2.0, 4.0]\n" in text
    assert text.index("1 step, eager mode") > text.rindex("(Pdb) ")  # the table after the debugger
    assert "exit 1" in text[text.rindex("(Pdb) "):]


def test_pdb_without_a_terminal_notes_it_and_runs_as_without(write_script) -> None:
    """stdin not a terminal: one note, then the same traceback and exit code as without --pdb."""
    script = write_script("fails.py", "def fail(n):\n    raise RuntimeError(f'no {n}')\n\nfail(3)\n")
    plain = run_in_process("--graph", str(script))
    with_pdb = run_in_process("--graph", "--pdb", str(script))
    note = "eagerrun: note: --pdb needs a terminal; going on without it\n"
    assert with_pdb.returncode == plain.returncode == 1
    assert note in with_pdb.stderr and "RuntimeError: no 3" in with_pdb.stderr
    assert with_pdb.stderr.index("RuntimeError: no 3") < with_pdb.stderr.index(note)
    assert with_pdb.stderr.replace(note, "").split("eagerrun │")[0] == plain.stderr.split("eagerrun │")[0]


def test_debugger_starts_in_the_scripts_frame_not_the_library_that_raised() -> None:
    """A NumPy call that raises: the chain given to pdb ends in the caller's frame, NumPy's are cut."""

    def reshape_wrongly() -> None:
        np.reshape(np.arange(4), (3, 5))

    try:
        reshape_wrongly()
    except ValueError as exc:
        error = exc
    tb = up_to_innermost_script_frame(error.__traceback__)
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "reshape_wrongly"
