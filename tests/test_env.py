"""`eagerrun env`: the bug-report block and its JSON, in this process (env applies no mode)."""

from __future__ import annotations

import json

from eagerrun import __version__, report
from eagerrun.diagnostics.environment import HIDDEN, mode_from_environment, relevant_variables
from tests.conftest import run_in_process, run_python

JSON_KEYS = {"eagerrun", "tensorflow", "keras", "python", "numpy", "platform", "cpus", "cpus_usable", "ram_bytes",
             "cuda_build", "cuda", "cudnn", "gpu_driver", "gpus", "mode", "mode_source", "mode_error", "variables",
             "private_api_missing"}


def test_env_prints_one_block_with_versions_machine_mode_and_variables() -> None:
    """Every line a bug report needs, the mode EAGERRUN_MODE gives and the variables set; exit 0."""
    import keras
    import numpy
    import tensorflow as tf

    result = run_in_process("env", env={"EAGERRUN_MODE": "eager", "XLA_FLAGS": "--xla_dump_to=/tmp/dump"})
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if not line.startswith(" "))
    assert lines["eagerrun"] == __version__
    assert lines["TensorFlow"].startswith(tf.__version__)
    assert lines["Keras"] == keras.__version__
    assert lines["NumPy"] == numpy.__version__
    assert {"Python", "platform", "CPUs", "RAM", "GPUs"} <= set(lines)
    assert lines["mode"] == "eager (from EAGERRUN_MODE)"
    assert "XLA_FLAGS=--xla_dump_to=/tmp/dump" in result.stdout
    assert "EAGERRUN_MODE=eager" in result.stdout
    assert result.stderr == ""


def test_env_json_has_every_key_and_reports_a_bad_mode_without_failing() -> None:
    """--json: one object with the documented keys; a bad EAGERRUN_MODE is reported, still exit 0."""
    result = run_in_process("env", "--json", env={"EAGERRUN_MODE": "fast", "TF_VAR_db_password": "hunter2"})
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert set(facts) == JSON_KEYS
    assert facts["mode"] is None and "EAGERRUN_MODE='fast'" in facts["mode_error"]
    assert isinstance(facts["cpus"], int) and isinstance(facts["gpus"], list)
    assert facts["private_api_missing"] == []  # this TensorFlow and Keras have every private name the hooks use
    assert "TF_VAR_db_password" not in facts["variables"] and "hunter2" not in result.stdout


def test_env_without_mode_variable_names_the_default() -> None:
    """No EAGERRUN_MODE: graph, from the default."""
    assert mode_from_environment(None) == {"mode": "graph", "mode_source": "default", "mode_error": None}


def test_variables_kept_are_tensorflow_eagerrun_xla_and_cuda_ones_with_secrets_hidden() -> None:
    """TF_*, EAGERRUN_*, XLA_FLAGS, CUDA_VISIBLE_DEVICES kept; Terraform's TF_VAR_/TF_TOKEN_ left out."""
    environ = {"TF_CPP_MIN_LOG_LEVEL": "1", "EAGERRUN_MODE": "graph", "XLA_FLAGS": "--x", "CUDA_VISIBLE_DEVICES": "0",
               "TF_VAR_region": "eu", "TF_TOKEN_app_terraform_io": "t", "TF_API_KEY": "k", "HOME": "/root"}
    assert relevant_variables(environ) == {"CUDA_VISIBLE_DEVICES": "0", "EAGERRUN_MODE": "graph",
                                           "TF_API_KEY": HIDDEN, "TF_CPP_MIN_LOG_LEVEL": "1", "XLA_FLAGS": "--x"}


def test_env_block_lists_each_gpu_with_driver_and_cuda(capsys) -> None:
    """A GPU machine's facts: one line per GPU, the driver, the CUDA and cuDNN TensorFlow was built for."""
    gpu = {"name": "NVIDIA H100 80GB HBM3", "device": "/physical_device:GPU:0", "compute_capability": "9.0"}
    facts = {"eagerrun": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.1", "python": "3.11.7 (CPython)",
             "numpy": "2.4.6", "platform": "Linux", "cpus": 16, "cpus_usable": 8, "ram_bytes": 2**37,
             "cuda_build": True, "cuda": "12.5.1", "cudnn": "9", "gpu_driver": "580.159.03", "gpus": [gpu, gpu],
             "mode": "graph", "mode_source": "default", "mode_error": None, "variables": {}}
    report.show(report.environment(facts, as_json=False), console=report.stdout)
    out = capsys.readouterr().out
    assert "TensorFlow  2.21.0 (built for CUDA 12.5.1, cuDNN 9)" in out
    assert out.count("NVIDIA H100 80GB HBM3 (compute 9.0)") == 2
    assert "GPU driver  580.159.03" in out and "16 (8 usable by this process)" in out and "128.0 GiB" in out
    assert "variables   none set" in out


def test_env_help_does_not_import_tensorflow() -> None:
    """`eagerrun env --help` answers without importing TensorFlow."""
    result = run_python("""
        import sys
        from eagerrun.cli import cli
        try:
            cli.main(["env", "--help"], prog_name="eagerrun")
        except SystemExit as exc:
            print("EXIT", exc.code, "TF", "tensorflow" in sys.modules)
    """)
    assert result.stdout.strip().splitlines()[-1] == "EXIT 0 TF False", result.stderr
