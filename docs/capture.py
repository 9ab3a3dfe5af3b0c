"""Capture the step table the README shows as docs/step_table.svg, by running a sample in this process.

    python docs/capture.py                      # eagerrun --graph --log-every 4 sample_scripts/fit_mlp.py
    python docs/capture.py --train sample_scripts/mlp_spec.py    # any eagerrun command line, in graph mode

eagerrun prints everything it shows through one Rich console on stderr; here that console records what it
prints (and writes it nowhere else), and Rich saves the recording as an SVG. Run it from the repository
root; the table is the one a pipe gets (no terminal: plain curve characters, no progress bar).
"""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["--graph", "--log-every", "4", "sample_scripts/fit_mlp.py"]


def main(args: list[str]) -> int:
    from eagerrun import report
    from eagerrun.cli import cli

    console = report.stderr
    console.record = True
    console.file = io.StringIO()  # not a terminal: the table a log gets
    console.width = 100
    try:
        cli.main(args, prog_name="eagerrun")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = 0
    out = ROOT / "docs" / "step_table.svg"
    console.save_svg(str(out), title="eagerrun " + shlex.join(args))
    print(f"exit {code}; wrote {out.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEFAULT))
