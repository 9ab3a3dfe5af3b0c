"""`eagerrun check` and `eagerrun env`: the mode as a probe proved it, and the facts a bug report needs.
Both are answers asked for, shown on stdout."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from eagerrun.report.console import Raw


def check_report(report: dict[str, Any], *, agrees: bool, as_json: bool) -> RenderableType:
    """`eagerrun check`: one JSON line when asked for, otherwise a table with the verdict under it."""
    if as_json:
        return Raw(json.dumps({**report, "agrees": agrees}) + "\n")
    table = Table(title="eagerrun check", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column()
    rows = {
        "mode requested": f"{report['mode']} (from {report['source']})",
        "tf.function bodies": _eager_or_graph(report["function_body_eager"]),
        "tf.data functions": _eager_or_graph(report["data_function_eager"]),
        "tf.executing_eagerly() at top level": str(report["executing_eagerly"]),
        "tf.config.functions_run_eagerly()": str(report["functions_run_eagerly"]),
        "tf.data debug mode": str(report["data_debug_mode"]),
        "XLA JIT (global)": str(report["xla_jit"]),
        "devices": ", ".join(report["devices"]),
        "TensorFlow / Keras / Python": f"{report['tensorflow']} / {report['keras']} / {report['python']}",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    verdict = (
        Text(f"✓ the probe ran in {report['mode']} mode, as requested", style="green")
        if agrees
        else Text(f"✗ the probe did not run in {report['mode']} mode", style="bold red")
    )
    return Group(table, verdict)


def _eager_or_graph(eager: bool) -> str:
    return "eager (op by op, proven by a probe)" if eager else "graph (traced, proven by a probe)"


def environment(facts: dict[str, Any], *, as_json: bool) -> Raw:
    """`eagerrun env`: one plain block to paste into a bug report (no colour, box or wrapping, so a copy
    keeps every value whole), or the same facts as one JSON object."""
    if as_json:
        return Raw(json.dumps(facts) + "\n")
    tensorflow = facts["tensorflow"] or "not importable"
    if facts["cuda_build"]:
        tensorflow += f" (built for CUDA {facts['cuda'] or '?'}, cuDNN {facts['cudnn'] or '?'})"
    elif facts["cuda_build"] is False:
        tensorflow += " (CPU build)"
    cpus = str(facts["cpus"])
    if facts["cpus_usable"] is not None and facts["cpus_usable"] != facts["cpus"]:
        cpus += f" ({facts['cpus_usable']} usable by this process)"
    ram = facts["ram_bytes"]
    if facts["mode_error"]:
        mode = facts["mode_error"]
    else:
        mode = facts["mode"] + (" (from EAGERRUN_MODE)" if facts["mode_source"] == "env" else " (default)")
    gpus = [gpu["name"] + (f" (compute {gpu['compute_capability']})" if gpu["compute_capability"] else "")
            for gpu in facts["gpus"]]
    variables = [f"{name}={value}" for name, value in facts["variables"].items()]
    rows = [("eagerrun", [facts["eagerrun"]]), ("TensorFlow", [tensorflow]),
            ("Keras", [facts["keras"] or "not importable"]), ("Python", [facts["python"]]),
            ("NumPy", [facts["numpy"] or "not importable"]), ("platform", [facts["platform"]]), ("CPUs", [cpus]),
            ("RAM", ["unknown" if ram is None else f"{ram / 2**30:.1f} GiB"]),
            ("GPUs", gpus or ["none visible to TensorFlow"])]
    if facts["gpu_driver"]:
        rows.append(("GPU driver", [facts["gpu_driver"]]))
    rows += [("mode", [mode]), ("variables", variables or ["none set"])]
    if facts.get("private_api_missing"):  # eagerrun's hooks need these (_tf_compat.py): a report should say
        missing = facts["private_api_missing"]
        rows.append(("missing", [f"{name} (private API eagerrun's hooks use)" for name in missing]))
    width = max(len(key) for key, _ in rows) + 2
    lines = [f"{key if index == 0 else '':<{width}}{value}" for key, values in rows
             for index, value in enumerate(values)]
    return Raw("\n".join(lines) + "\n")
