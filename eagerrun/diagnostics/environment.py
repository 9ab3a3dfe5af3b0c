"""`eagerrun env`: the facts a bug report needs, gathered as one dict (report/environment.py builds what shows it).

Nothing here may fail on an ordinary machine: a CPU-only machine, a TensorFlow built without CUDA, a
platform without a RAM count or without `nvidia-smi` each give a missing value (None), never an error.
The environment variables are read before TensorFlow is imported, because eagerrun's quiet import sets
TF_CPP_MIN_LOG_LEVEL itself where the user did not.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from typing import Any

from eagerrun import __version__, _tf_compat
from eagerrun.config import MODE_ENV_VAR, MODES, resolve_mode
from eagerrun.errors import EagerrunError
from eagerrun.modes import import_tensorflow

VARIABLE_NAMES = ("XLA_FLAGS", "CUDA_VISIBLE_DEVICES")
VARIABLE_PREFIXES = ("TF_", "EAGERRUN_")
# Terraform shares the TF_ prefix; its TF_VAR_*, TF_TOKEN_* and TF_CLI_* variables can hold secrets and
# never concern TensorFlow, so a pasted report leaves them out.
FOREIGN_PREFIXES = ("TF_VAR_", "TF_TOKEN_", "TF_CLI_")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY", re.IGNORECASE)
HIDDEN = "<hidden>"
NVIDIA_SMI_TIMEOUT_S = 10


def gather_environment() -> dict[str, Any]:
    """Versions, machine, GPUs, the mode EAGERRUN_MODE gives, and the variables that shape a run.

    Keys (README: `eagerrun env`): eagerrun, tensorflow, keras, python, numpy, platform, cpus,
    cpus_usable, ram_bytes, cuda_build, cuda, cudnn, gpu_driver, gpus, mode, mode_source, mode_error,
    variables, private_api_missing (the private TensorFlow and Keras names eagerrun's hooks need that these
    versions lack: _tf_compat.py; null when TensorFlow is not importable).
    """
    variables = relevant_variables(os.environ)  # before TensorFlow's import sets TF_CPP_MIN_LOG_LEVEL
    facts: dict[str, Any] = {
        "eagerrun": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "ram_bytes": total_ram_bytes(),
    }
    facts.update(library_versions())
    facts.update(gpu_facts())
    facts.update(mode_from_environment(os.environ.get(MODE_ENV_VAR) or None))  # empty is unset, as to Click
    facts["variables"] = variables
    facts["private_api_missing"] = _tf_compat.missing() if facts["tensorflow"] is not None else None
    return facts


def relevant_variables(environ: Any) -> dict[str, str]:
    """The set variables that change what TensorFlow or eagerrun does, sorted; secret-looking values hidden."""
    chosen = {}
    for name in sorted(environ):
        if name.startswith(FOREIGN_PREFIXES):
            continue
        if name in VARIABLE_NAMES or name.startswith(VARIABLE_PREFIXES):
            chosen[name] = HIDDEN if SECRET_NAME.search(name) else environ[name]
    return chosen


def usable_cpus() -> int | None:
    """CPUs this process may run on (a container or `taskset` can allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def total_ram_bytes() -> int | None:
    """The machine's physical memory, where the platform says (Linux, macOS); None elsewhere."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def library_versions() -> dict[str, str | None]:
    """TensorFlow (imported quietly), Keras and NumPy; a library that cannot be imported is None."""
    versions: dict[str, str | None] = {"tensorflow": None, "keras": None, "numpy": None}
    try:
        versions["tensorflow"] = import_tensorflow().__version__
    except EagerrunError:
        pass
    for name in ("keras", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions


def gpu_facts() -> dict[str, Any]:
    """What TensorFlow was built for (CUDA, cuDNN) and the GPUs it sees, with the NVIDIA driver's version.

    `list_physical_devices` does not initialise the runtime, so asking costs no GPU memory.
    """
    facts: dict[str, Any] = {"cuda_build": None, "cuda": None, "cudnn": None, "gpu_driver": None, "gpus": []}
    try:
        tf = import_tensorflow()
    except EagerrunError:
        return facts
    build = dict(tf.sysconfig.get_build_info())
    facts["cuda_build"] = bool(build.get("is_cuda_build"))
    facts["cuda"] = build.get("cuda_version")
    facts["cudnn"] = build.get("cudnn_version")
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
        except Exception:  # noqa: BLE001 - details are a nicety; the device itself is the fact
            details = {}
        capability = details.get("compute_capability")
        facts["gpus"].append({
            "name": details.get("device_name") or device.name,
            "device": device.name,
            "compute_capability": None if capability is None else ".".join(str(part) for part in capability),
        })
    if facts["gpus"]:
        facts["gpu_driver"] = nvidia_driver_version()
    return facts


def nvidia_driver_version() -> str | None:
    """The NVIDIA driver's version: from `nvidia-smi` when it is installed, else the kernel module's file."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            answer = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
            if answer.returncode == 0 and answer.stdout.strip():
                return answer.stdout.split()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as file:
            found = re.search(r"Kernel Module\s+(\S+)", file.read())
    except OSError:
        return None
    return found.group(1) if found else None


def mode_from_environment(value: str | None) -> dict[str, str | None]:
    """The mode `eagerrun run` would use with no mode flag: EAGERRUN_MODE's, else the default. A value
    that is no mode is reported (run would stop on it with exit 2), not raised."""
    if value is not None and value not in MODES:
        return {"mode": None, "mode_source": "env",
                "mode_error": f"{MODE_ENV_VAR}={value!r} is not one of {', '.join(MODES)}: run would exit 2"}
    choice = resolve_mode(eager=False, graph=False, mode_option=value,
                          option_source="env" if value is not None else "default")
    return {"mode": choice.mode, "mode_source": choice.source, "mode_error": None}
