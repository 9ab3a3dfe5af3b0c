"""The package's layout holds (docs/design.md, "The layout"): no import circle, and each folder imports only
what the map says. Read from the source (imports under TYPE_CHECKING are for type hints and run never)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "eagerrun"

# area: what it never imports (an area is a subpackage, or a top-level module)
NEVER = {
    "autolog": ("train", "cluster", "report", "session", "cli"),
    "train": ("autolog", "report", "session", "cli"),
    "cluster": ("autolog", "train", "session", "cli"),
    "diagnostics": ("autolog", "train", "session", "cli"),
    "records": ("autolog", "train", "cluster", "diagnostics", "report", "session", "cli"),
    "report": ("autolog", "train", "cluster", "session", "cli"),
    "session": ("cli",),
}
LEAVES = ("config", "errors", "switches", "user_code", "_tf_compat", "startup_log")  # import only errors.py
REPORT_LEAVES = ("console", "numbers")  # in report/: import no other part of it


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(sub) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for sub in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module.startswith("eagerrun"):
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                where = ROOT / whole.replace(".", "/")
                is_module = where.with_suffix(".py").exists() or where.is_dir()
                found.add(whole if is_module else node.module)
    return found - {"eagerrun", "eagerrun.__version__"}


def graph() -> dict[str, set[str]]:
    return {module_name(path): runtime_imports(path) for path in PACKAGE.rglob("*.py")}


def area(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_no_module_imports_itself_through_others() -> None:
    imports = graph()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in imports.get(module, ()):
            if imported in path:
                circles.append(" -> ".join([*path[path.index(imported):], imported]))
            else:
                visit(imported, [*path, imported])

    for module in imports:
        visit(module, [module])
    assert circles == []


def test_each_area_imports_only_what_the_map_allows() -> None:
    broken = [f"{module} imports {imported}" for module, imported_set in graph().items()
              for imported in imported_set if area(imported) in NEVER.get(area(module), ())]
    assert broken == []


def test_the_leaves_import_nothing_of_eagerrun_but_its_errors() -> None:
    imports = graph()
    beyond_errors = {leaf: imports[f"eagerrun.{leaf}"] - {"eagerrun.errors"} for leaf in LEAVES}
    assert beyond_errors == {leaf: set() for leaf in LEAVES}


def test_the_reports_consoles_and_numbers_import_no_other_part_of_it() -> None:
    imports = graph()
    inside = {leaf: {m for m in imports[f"eagerrun.report.{leaf}"] if area(m) == "report"} for leaf in REPORT_LEAVES}
    assert inside == {leaf: set() for leaf in REPORT_LEAVES}
