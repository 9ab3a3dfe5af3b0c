"""Every `eagerrun` command the README shows runs on the shipped samples and exits as the README says.

A command is a line of a ```sh block (or a part of an `&&` chain) that starts with `eagerrun`, after
optional `VAR=value` assignments; a trailing `\\` joins the next line. Its trailing comment says what to
expect: `# exit N: ...` means exit N, `# not run: ...` skips it, anything else means exit 0. ```text blocks
are output, never commands.

Each command runs in a folder of its own holding a copy of `sample_scripts/`, so the outputs it writes
(`m.jsonl`, `ck/`) are its own. Graph-mode commands that change nothing process-global run in this process
through Click's runner (conftest's `run_in_process`: one TensorFlow import per test worker); the others
(eager mode, a strategy, compare and launch, which start processes of their own) run as subprocesses,
the slow ones first so that pytest-xdist's workers overlap them with the rest.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from tests.conftest import ROOT, SAMPLES, run_eagerrun, run_in_process

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\S*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
COMMENT = re.compile(r"\s#\s(.*)$")
EXPECT = re.compile(r"^exit (\d+)\b")
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}
# anything that switches a process-global TensorFlow setting for good, or starts processes of its own
SLOW = {"compare", "launch"}
GLOBAL = {"--eager", "--script-decides", "--strategy", "--cpu-replicas"}


@dataclass(frozen=True)
class Command:
    line: str  # as the README shows it
    args: tuple[str, ...]  # after `eagerrun`
    env: dict[str, str] = field(default_factory=dict, hash=False)
    expected: int = 0
    skipped: str | None = None

    @property
    def subprocess(self) -> bool:
        words = [word for arg in own_options(self.args) for word in arg.split("=", 1)]
        eager = "--mode eager" in " ".join(words) or self.env.get("EAGERRUN_MODE") == "eager"
        return self.slow or eager or any(word in GLOBAL for word in words)

    @property
    def slow(self) -> bool:
        return bool(self.args) and self.args[0] in SLOW


def own_options(args: tuple[str, ...]) -> tuple[str, ...]:
    """eagerrun's own part of `args`: up to SCRIPT (or -m MODULE), as Click reads it; what follows is the
    script's (`custom_loop.py --eager` hands --eager to the script)."""
    from eagerrun.cli import cli

    command = cli.commands.get(args[0]) if args else None
    words = list(args[1:] if command is not None else args)
    takes_value = {name for param in (command or cli.commands["run"]).params if isinstance(param, click.Option)
                   and not param.is_flag and not param.count for name in param.opts}
    own = []
    while words and words[0].startswith("-"):
        word = words.pop(0)
        own.append(word)
        if word in takes_value and words:
            own.append(words.pop(0))
    return tuple(own)


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """The README's fenced blocks: (info string, lines)."""
    blocks, info, lines = [], None, []
    for line in text.splitlines():
        fence = FENCE.match(line)
        if fence and info is None:
            info, lines = fence.group(1), []
        elif line.startswith("```") and info is not None:
            blocks.append((info, lines))
            info = None
        elif info is not None:
            lines.append(line)
    assert info is None, "a code block is not closed"
    return blocks


def logical_lines(lines: list[str]) -> list[str]:
    joined, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return joined


def parse(line: str) -> list[Command]:
    """The eagerrun commands of one shell line (one, or each `eagerrun` part of an `&&` chain)."""
    text = line.strip().removeprefix("$ ")
    comment = COMMENT.search(" " + text)
    note = comment.group(1).strip() if comment else ""
    text = (" " + text)[:comment.start()].strip() if comment else text
    expected = EXPECT.match(note)
    commands = []
    for part in text.split("&&"):
        words = shlex.split(part)
        env = {}
        while words and ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words[:1] == ["eagerrun"]:
            commands.append(Command(line=line.strip(), args=tuple(words[1:]), env=env,
                                    expected=int(expected.group(1)) if expected else 0,
                                    skipped=note if note.startswith("not run") else None))
    return commands


def readme_commands() -> list[Command]:
    found: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], Command] = {}
    for info, lines in code_blocks(README.read_text(encoding="utf-8")):
        if info not in SHELL_BLOCKS:
            continue
        for line in logical_lines(lines):
            for command in parse(line):
                found.setdefault((command.args, tuple(sorted(command.env.items()))), command)  # each once
    return sorted(found.values(), key=lambda c: (not c.slow, not c.subprocess))  # the slow ones start first


COMMANDS = readme_commands()


def test_the_readme_shows_commands_and_no_command_hides_in_an_output_block() -> None:
    """The extraction finds the README's commands; ```text blocks hold output only, and no indented block
    (which the extraction would miss) shows a command."""
    assert len(COMMANDS) >= 20, [c.line for c in COMMANDS]
    subcommands = {c.args[0] for c in COMMANDS if c.args}
    assert {"run", "compare", "launch", "check", "env", "--help", "--version"} <= subcommands
    text = README.read_text(encoding="utf-8")
    for info, lines in code_blocks(text):
        if info not in SHELL_BLOCKS:
            assert not any(re.match(r"^(\$ )?([A-Z_]+=\S+ )*eagerrun [-a-z]", line) for line in lines), info
    assert not re.search(r"^ {4}(\$ )?eagerrun ", text, re.MULTILINE)


def test_the_readme_test_command_is_what_ci_runs() -> None:
    """The README's first screen ends in the test command `.ci/run` runs (less pip's -q, and the linter and
    type checker CI runs before it)."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-4:] == ["pip install -q '.[test]'", "ruff check .", "mypy", "pytest"], ci
    first_block = next(lines for info, lines in code_blocks(README.read_text(encoding="utf-8")) if info == "sh")
    assert any(line.endswith("pip install '.[test]' && pytest") and line.startswith("python3 -m venv .venv && ")
               for line in first_block), first_block


def test_every_option_is_in_the_reference() -> None:
    """docs/reference.md names every option of every command, and each exit code of errors.py once in its
    table."""
    from eagerrun import errors
    from eagerrun.cli import cli

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    commands = {"": cli, **cli.commands}
    for name, command in commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                for option in (*param.opts, *param.secondary_opts):
                    assert f"`{option}" in reference or f" {option}`" in reference, f"{name} {option}"
    table = reference.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    codes = [getattr(errors, name) for name in dir(errors) if name.startswith("EXIT_")]
    for code in codes:
        assert rows.count(str(code)) == 1, (code, rows)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with its own copy of the samples: what the README's commands run from."""
    shutil.copytree(SAMPLES, tmp_path / "sample_scripts", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def lane(command: Command) -> str:
    return "slow" if command.slow else "subprocess" if command.subprocess else "in-process"


@pytest.mark.parametrize("command", [pytest.param(c, id=f"{lane(c)}: eagerrun {shlex.join(c.args)}"[:120])
                                     for c in COMMANDS])
def test_readme_command(command: Command, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if command.skipped:
        pytest.skip(command.skipped)
    if command.subprocess:
        result = run_eagerrun(*command.args, cwd=workdir, env=command.env, timeout=300)
    else:
        monkeypatch.chdir(workdir)
        monkeypatch.syspath_prepend(str(workdir))  # `-m sample_scripts.x` as python -m finds it: from here
        result = run_in_process(*command.args, env=command.env)
    assert result.returncode == command.expected, (
        f"{command.line}\nexit {result.returncode}, the README says {command.expected}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation but `-` and `_` dropped,
    spaces as `-`."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_between_the_docs_resolves(doc: Path) -> None:
    """Each relative link of the README and docs/ names a file that exists, and a heading it has."""
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, broken


def test_no_document_holds_a_merge_conflict() -> None:
    """No conflict marker left by a merge in any document (one once sat in design.md's layout table)."""
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if line.startswith(("<<<<<<< ", ">>>>>>> "))], path
