"""One rule for "the user's code" (user_code.py), used by the loss names, numerics, side effects, tracing
and the post-mortem debugger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import eagerrun.config
from eagerrun.user_code import is_library_file
from tests.conftest import ROOT, SAMPLES


def library_files() -> list[str]:
    import keras
    import tensorflow as tf

    return [tf.__file__, keras.__file__, os.__file__, eagerrun.config.__file__, pytest.__file__,
            "<frozen runpy>",
            ".../site-packages/tensorflow/python/ops/math_ops.py"]  # a path TensorFlow cut short in a message


@pytest.mark.parametrize("index", range(7))
def test_libraries_and_eagerrun_are_not_the_users(index: int) -> None:
    assert is_library_file(library_files()[index]), library_files()[index]


def test_a_script_anywhere_else_is_the_users(tmp_path: Path) -> None:
    for path in (tmp_path / "train.py", SAMPLES / "custom_loop.py", ROOT / "tests" / "corpus" / "tf_dcgan.py",
                 Path("relative/train.py")):
        assert not is_library_file(str(path)), path


def test_autographs_conversion_is_the_users_code_but_the_debugger_skips_it() -> None:
    from eagerrun.user_code import is_autograph_file

    converted = "/tmp/__autograph_generated_filexyz123.py"
    assert not is_library_file(converted) and is_autograph_file(converted)
    assert not is_autograph_file(str(SAMPLES / "custom_loop.py"))
