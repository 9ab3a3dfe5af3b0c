"""The command line's paths, checked once, as Click converts them, before anything runs or is written.

An output path (`--metrics-out`, `--run-report`, `--tensorboard`, `--checkpoint-dir`) is made absolute here,
so a script that changes directory cannot move it, and refused here when it could not be written: a run
must not train for an hour and then fail to save what it did. A script must be Python: bytes that are
not source text are refused in one line rather than shown back raw by Python's SyntaxError.

Writability is tried, not asked: `os.access` answers yes to root for /proc and for a folder on a
read-only mount that root may write, so a probe file is created beside the output and removed at once.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import importlib.util
import io
import os
import tempfile
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import click

from eagerrun.cluster import distribute
from eagerrun.errors import EagerrunError


class OutputPath(click.ParamType):
    """A file (or, with `folder`, a folder) eagerrun will write: absolute, and writable where it points.

    A file's folder must exist; a folder's missing part is created by its writer (TensorFlow's summary
    writer and checkpoint manager make the whole path), so only its nearest existing ancestor must be a
    folder eagerrun can create in. A non-chief task of a multi-worker cluster writes none of them (its
    checkpoints go to a scratch folder of its own), so its paths are only made absolute: they may name
    folders that exist on the chief's machine alone.
    """

    name = "path"

    def __init__(self, *, folder: bool) -> None:
        self.folder = folder

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        typed = Path(value).expanduser()
        path = typed.absolute()
        problem = output_problem(typed, folder=self.folder) if writes_here() else None
        if problem is not None:
            self.fail(problem, param, ctx)
        return path


def writes_here() -> bool:
    """False in a multi-worker cluster's non-chief task (TF_CONFIG's or SLURM's), the one that writes nothing."""
    if not distribute.in_cluster():
        return True
    try:
        return distribute.is_chief(distribute.StrategyOptions("multiworker"))
    except EagerrunError:  # a cluster description that the run refuses later, with its own message
        return True


def output_problem(typed: Path, *, folder: bool) -> str | None:
    """What stops eagerrun writing `typed` (a path as the user wrote it), in a line naming it, or None.
    Paths are the user's own spelling (`train.py/m.jsonl: train.py is a file`), not their absolute form."""
    try:
        return find_output_problem(typed, folder=folder)
    except OSError as exc:  # a folder on the way that may not be looked into
        return f"{typed}: cannot look there ({exc.strerror or exc})"


def find_output_problem(typed: Path, *, folder: bool) -> str | None:
    path = typed.absolute()
    shown = dict(zip(path.parents, typed.parents))  # an ancestor, as the user typed it where they did

    def spelled(ancestor: Path) -> str:
        return str(shown.get(ancestor, ancestor))

    if path.is_dir():
        return writable_folder(str(typed), path) if folder else f"{typed} is a folder, not a file"
    if path.exists():
        if folder:
            return f"{typed} is a file, not a folder"
        return None if os.access(path, os.W_OK) else f"{typed} is not writable (permission denied)"
    ancestor = next(parent for parent in path.parents if parent.exists())
    if not ancestor.is_dir():
        return f"{typed}: {spelled(ancestor)} is a file"
    if not folder and ancestor != path.parent:
        return f"{typed}: folder {spelled(path.parent)} does not exist"
    problem = writable_folder(spelled(ancestor), ancestor)
    return None if problem is None else f"{typed}: {problem}"


def writable_folder(name: str, folder: Path) -> str | None:
    """None when a file can be created in `folder`; otherwise why not, in a few words."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".eagerrun-write-check-", dir=folder)
    except OSError as exc:
        return f"folder {name} is not writable ({exc.strerror or exc})"
    os.close(handle)
    os.unlink(probe)
    return None


class ScriptPath(click.Path):
    """An existing file that Python can run: source text, a compiled .pyc, or a zip application."""

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        problem = not_source_text(Path(os.fsdecode(path)))
        if problem is not None:
            self.fail(f"{value} is not a Python source file ({problem})", param, ctx)
        return path


def not_source_text(path: Path) -> str | None:
    """Why Python could not read `path` as a script, in words without its bytes; None when it can.

    Python's own SyntaxError for such a file quotes the bytes it choked on, and one file of random bytes
    that began with `#` compiled to an empty module and "ran" with exit 0.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if data[:4] == importlib.util.MAGIC_NUMBER or zipfile.is_zipfile(path):
        return None  # runpy runs compiled code and zip applications too
    nul = data.find(b"\0")
    if nul >= 0:
        return f"binary data: a NUL byte at offset {nul}"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # undecodable bytes in the first two lines, or a bad coding declaration
        encoding = "utf-8"
    try:
        data.decode(encoding)
    except LookupError:
        return f"it declares an unknown encoding, {encoding!r}"
    except UnicodeDecodeError as exc:
        return f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not {encoding} text"
    return None
