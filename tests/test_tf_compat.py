"""_tf_compat.py is the one place that imports TensorFlow's and Keras' private names, and the installed
versions have each of them, with the attributes eagerrun patches or reads."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

from eagerrun import _tf_compat
from tests.conftest import ROOT, run_python


def test_the_installed_tensorflow_and_keras_have_every_private_name_eagerrun_uses() -> None:
    assert _tf_compat.missing() == []


def test_the_table_and_its_names_agree() -> None:
    assert set(typing.get_args(_tf_compat.PrivateName)) == set(_tf_compat.PRIVATE)
    assert set(_tf_compat.ATTRIBUTES) <= set(_tf_compat.PRIVATE)


def test_a_name_the_installed_version_lacks_is_named_as_missing(monkeypatch) -> None:
    monkeypatch.setitem(_tf_compat.PRIVATE, "ops", ("tensorflow.python.framework.no_such_module", None))
    monkeypatch.setitem(_tf_compat.ATTRIBUTES, "FuncGraph", ("no_such_attribute",))
    _tf_compat.get.cache_clear()
    try:
        assert _tf_compat.missing() == ["tensorflow.python.framework.no_such_module",
                                        "tensorflow.python.framework.func_graph.FuncGraph.no_such_attribute"]
    finally:
        _tf_compat.get.cache_clear()


def private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        found += [name for name in names if name.startswith(("tensorflow.python", "keras.src"))]
    return found


def test_no_other_module_imports_a_private_name() -> None:
    others = {path.name: private_imports(path) for path in (ROOT / "eagerrun").rglob("*.py")
              if path.name != "_tf_compat.py"}
    assert {name: found for name, found in others.items() if found} == {}


def test_importing_it_imports_neither_tensorflow_nor_keras() -> None:
    result = run_python("""
        import json, sys
        import eagerrun._tf_compat
        print(json.dumps([name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras")]))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
