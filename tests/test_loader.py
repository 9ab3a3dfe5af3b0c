"""`eagerrun X.py args` acts like `python X.py args`: argv, sys.path, __main__, exit codes, tracebacks.

Graph-mode cases run in this process through Click's runner; `-m` cases and eager ones in a subprocess (a
package imported here would stay in `sys.modules`; eager mode would stay on)."""

from __future__ import annotations

import json

from tests.conftest import run_eagerrun, run_in_process


def test_script_sees_python_argv_path_and_main(write_script) -> None:
    """argv is [SCRIPT, *ARGS] untouched, sys.path[0] is the script's folder, __name__ is __main__."""
    write_script("pkg_dir/helper_mod.py", "VALUE = 42\n")
    script = write_script("pkg_dir/show.py", """
        import json, sys, os
        import helper_mod  # importable only because sys.path[0] is this folder
        print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "name": __name__, "value": helper_mod.VALUE}))
    """)
    result = run_in_process("--graph", str(script), "--eager", "--help", "-m", "x")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"argv": [str(script), "--eager", "--help", "-m", "x"], "path0": str(script.parent),
                    "name": "__main__", "value": 42}


def test_dash_m_runs_a_package_module_like_python(write_script, tmp_path) -> None:
    """-m pkg.mod a b: run from the current directory, argv[0] the module's file, packages included."""
    write_script("mypkg/__init__.py", "")
    write_script("mypkg/train.py", """
        import json, sys
        print(json.dumps({"argv": sys.argv, "name": __name__, "package": __package__}))
    """)
    write_script("mypkg/__main__.py", "print('package main ran')\n")
    result = run_eagerrun("--graph", "-m", "mypkg.train", "a", "--graph", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["argv"] == [str(tmp_path / "mypkg" / "train.py"), "a", "--graph"]
    assert seen["name"] == "__main__" and seen["package"] == "mypkg"
    package = run_eagerrun("-m", "mypkg", cwd=tmp_path)
    assert package.returncode == 0 and package.stdout == "package main ran\n"


def test_missing_submodule_is_one_line_exit_2(write_script, tmp_path) -> None:
    """-m pkg.nothing where pkg exists: one line, exit 2, no traceback."""
    write_script("mypkg/__init__.py", "")
    result = run_eagerrun("-m", "mypkg.nothing", cwd=tmp_path)
    assert result.returncode == 2
    assert "No module named mypkg.nothing" in result.stderr
    assert "Traceback" not in result.stderr


def test_sys_exit_code_is_the_exit_code(write_script) -> None:
    """sys.exit(7) exits 7; sys.exit('text') prints the text and exits 1, as Python does."""
    assert run_in_process(str(write_script("seven.py", "import sys; sys.exit(7)\n"))).returncode == 7
    text = run_in_process(str(write_script("text.py", "import sys; sys.exit('bad config')\n")))
    assert text.returncode == 1
    assert "bad config" in text.stderr


def test_exception_shows_only_the_scripts_frames(write_script) -> None:
    """A raise in the script: exit 1, the script's traceback, none of eagerrun's or runpy's frames."""
    script = write_script("boom.py", """
        def inner():
            raise ValueError("broken on purpose")

        inner()
    """)
    result = run_eagerrun("--eager", str(script))
    assert result.returncode == 1
    assert "ValueError: broken on purpose" in result.stderr
    assert f'File "{script}", line 5' in result.stderr and "in inner" in result.stderr
    assert "eagerrun/" not in result.stderr.replace("eagerrun │", "")
    assert "runpy" not in result.stderr


def test_syntax_error_shows_file_line_and_caret(write_script) -> None:
    """A SyntaxError: file, line and caret as Python prints them, exit 1."""
    script = write_script("bad.py", "x = 1\ndef f(:\n    pass\n")
    result = run_in_process(str(script))
    assert result.returncode == 1
    assert f'File "{script}", line 2' in result.stderr
    assert "^" in result.stderr and "SyntaxError" in result.stderr
    assert "runpy" not in result.stderr


def test_keyboard_interrupt_exits_130(write_script) -> None:
    """Ctrl-C in the script (KeyboardInterrupt) ends with exit 130, the summary still printed."""
    result = run_in_process(str(write_script("interrupt.py", "raise KeyboardInterrupt\n")))
    assert result.returncode == 130
    assert "exit 130" in result.stderr


def test_stdout_stays_the_scripts(write_script) -> None:
    """eagerrun's own output goes to stderr: stdout holds exactly what the script printed."""
    result = run_in_process("--graph", str(write_script("hello.py", "print('hello')\n")))
    assert result.stdout == "hello\n"
    assert "mode graph" in result.stderr and "exit 0" in result.stderr


def test_binary_file_is_refused_without_eagerrun_frames(tmp_path) -> None:
    """A binary file: a non-zero exit, no eagerrun traceback."""
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    result = run_in_process(str(binary))
    assert result.returncode != 0
    assert "eagerrun/" not in result.stderr
    assert "runpy" not in result.stderr
    assert str(binary) in result.stderr
