"""`python -m tests.corpus [--only NAME ...] [--fast] [--json out.json] [--jobs N]`: every corpus script under
plain python, `eagerrun --graph`, `eagerrun --eager` and `eagerrun compare --json`, checked against the
script's own ORACLE lines (tests/corpus/oracle.py), as one table: script x {python, graph, eager, compare},
each cell `✓` or what was wrong. Exit 0 only when every cell is `✓`.

`--fast` runs the scripts marked `# corpus: fast`, in python, graph and eager (no compare). A run over the
whole corpus (no --only, no --fast) also writes tests/corpus/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tests.corpus.oracle import (
    CORPUS,
    TIMEOUT_S,
    Cell,
    Run,
    check_compare,
    check_python,
    check_run,
    environment,
    run_compare,
    run_mode,
    run_python,
    scripts,
)

COLUMNS = ("python", "graph", "eager", "compare")
SKIPPED = Cell(True, "—")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these scripts (names, .py optional)")
    parser.add_argument("--fast", action="store_true", help="the `# corpus: fast` scripts, graph and eager only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every cell, with its problems, here")
    parser.add_argument("--jobs", type=int, default=2, help="processes at once (default 2)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per process (compare: twice)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="run in DIR/<script>/<column> and keep each run's files (metrics, stdout, stderr)")
    options = parser.parse_args(argv)
    try:
        chosen = scripts(options.only, fast=options.fast)
    except ValueError as error:
        parser.error(str(error))
    if not chosen:
        parser.error("no script to run")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eagerrun-corpus-") as tmp:
        folder = options.keep.resolve() if options.keep else Path(tmp)
        results = run_all(chosen, folder, fast=options.fast, jobs=options.jobs, timeout=options.timeout,
                          keep=options.keep is not None)
    wall = time.monotonic() - started
    show(results, wall)
    if options.json:
        options.json.write_text(json.dumps(
            {name: {column: cell.as_json() for column, cell in cells.items()} for name, cells in results.items()},
            indent=2) + "\n")
    if not options.only and not options.fast:
        (CORPUS / "RESULTS.md").write_text(markdown(results, wall))
    return 0 if all(cell.ok for cells in results.values() for cell in cells.values()) else 1


def run_all(chosen: list[Path], tmp: Path, *, fast: bool, jobs: int, timeout: float,
            keep: bool = False) -> dict[str, dict[str, Cell]]:
    """Every process of every script through one pool (each its own temp folder as cwd), then the cells."""
    futures: dict[str, dict[str, Future[Run]]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for script in chosen:
            folder = tmp / script.stem
            runs = futures[script.stem] = {
                "python": pool.submit(run_python, script, folder / "python", timeout=timeout),
                "graph": pool.submit(run_mode, script, "graph", folder / "graph", timeout=timeout),
                "eager": pool.submit(run_mode, script, "eager", folder / "eager", timeout=timeout),
            }
            if not fast:
                runs["compare"] = pool.submit(run_compare, script, folder / "compare", timeout=2 * timeout)
        results = {}
        for name, runs in futures.items():
            done = {column: future.result() for column, future in runs.items()}
            if keep:
                for column, run in done.items():
                    (tmp / name / column / "stdout.txt").write_text(run.stdout)
                    (tmp / name / column / "stderr.txt").write_text(run.stderr)
            cells = {"python": check_python(done["python"]),
                     "graph": check_run("graph", done["python"], done["graph"]),
                     "eager": check_run("eager", done["python"], done["eager"]),
                     "compare": check_compare(done["compare"], done["eager"], done["graph"])
                     if "compare" in done else SKIPPED}
            results[name] = cells
            print(f"{name}: " + "  ".join(f"{column} {cells[column].text}" for column in COLUMNS)
                  + "  (" + ", ".join(f"{column} {run.wall_s:.0f} s" for column, run in done.items()) + ")",
                  file=sys.stderr, flush=True)
    return results


def show(results: dict[str, dict[str, Cell]], wall: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"eagerrun corpus ({len(results)} scripts, {wall:.0f} s)")
    table.add_column("script")
    for column in COLUMNS:
        table.add_column(column)
    for name, cells in results.items():
        table.add_row(name, *(f"[green]{c.text}[/]" if c.ok else f"[red]{c.text}[/]" for c in cells.values()))
    console = Console(width=max(160, Console().width))
    console.print(table)
    for name, cells in results.items():
        for column, cell in cells.items():
            for problem in cell.problems:
                console.print(f"{name} {column}: {problem}", markup=False, highlight=False, soft_wrap=True)


def markdown(results: dict[str, dict[str, Cell]], wall: float) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    from importlib.metadata import version

    import eagerrun

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(CORPUS), *args], capture_output=True, text=True)
        return done.stdout.strip()

    with tempfile.TemporaryDirectory() as cwd:  # the eagerrun the runs imported (PYTHONPATH may choose another)
        found = subprocess.run([sys.executable, "-c", "import eagerrun; print(eagerrun.__file__)"], cwd=cwd,
                               env=environment(), capture_output=True, text=True).stdout.strip()
    source = Path(found).resolve().parent if found else Path(eagerrun.__file__).resolve().parent
    dirty = " + uncommitted changes" if source == CORPUS.parent.parent / "eagerrun" and git(
        "status", "--porcelain", "--", str(source)) else ""
    lines = ["# Corpus results", "",
             f"`python -m tests.corpus` on {datetime.datetime.now().isoformat(timespec='seconds')}: eagerrun "
             f"{eagerrun.__version__} from `{source}` (repository at {git('rev-parse', '--short', 'HEAD')}{dirty}), "
             f"TensorFlow {version('tensorflow')}, Python {platform.python_version()}, {wall:.0f} s. "
             "Each cell is `✓` or the first thing that was wrong; every problem is listed below.",
             "", "| script | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, cells in results.items():
        lines.append(f"| {name} | " + " | ".join(escape(cell.text) for cell in cells.values()) + " |")
    problems = [f"- **{name}** {column}: {escape(problem)}" for name, cells in results.items()
                for column, cell in cells.items() for problem in cell.problems]
    if problems:
        lines += ["", "## Problems", "", *problems]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
