"""What the benchmark tools share: the record of the machine and the run, the command-line skeleton, the JSON.

A figure from a shared or virtual machine means little without the machine beside it, so every tool records the
CPU (model, family and SIMD flags: a hypervisor often names only 'AMD EPYC'), GPUs, cores, versions, XLA flags and
the load average before and after it ran.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys

SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "sve", "asimd")  # what a CPU's peak depends on


def command_output(command) -> str | None:
    """The stripped stdout of `command`, or None when it is missing or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def cpu_model(lscpu_text: str | None = None) -> str:
    """lscpu's model name with family / model / stepping and the SIMD flags (else /proc/cpuinfo's model name, else
    `platform.processor()`): the family and flags tell a Zen 4 (family 25) from a Zen 5 (family 26) apart."""
    text = (command_output(["lscpu"]) or "") if lscpu_text is None else lscpu_text
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("Model name")
    if not name:
        try:
            with open("/proc/cpuinfo") as file:
                name = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), None)
        except OSError:
            name = None
        return name or platform.processor() or platform.machine()
    identity = ", ".join(f"{label} {fields[key]}" for key, label in
                         (("CPU family", "family"), ("Model", "model"), ("Stepping", "stepping")) if fields.get(key))
    flags = " ".join(flag for flag in SIMD_FLAGS if flag in fields.get("Flags", "").split())
    details = "; ".join(part for part in (identity, flags) if part)
    return f"{name} ({details})" if details else name


def gpu_description() -> list[str]:
    """One line per NVIDIA GPU from nvidia-smi (name, memory, driver); empty without one."""
    text = command_output(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    return [line.strip() for line in text.splitlines() if line.strip()] if text else []


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, None where the OS does not say."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def versions(with_torch: bool = False) -> dict:
    import flax
    import jax
    import jaxlib
    import numpy as np

    found = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
             "flax": flax.__version__, "numpy": np.__version__}
    if with_torch:
        import torch

        found.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return found


def machine_info(with_torch: bool = False, with_devices: bool = True) -> dict:
    """CPU model, cores, GPUs, versions and load; with `with_devices` also JAX's backend, devices and XLA flags
    (which creates the backend: tools whose worker processes own the devices pass False)."""
    info = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_description()}
    if with_devices:
        import jax

        info.update(backend=jax.default_backend(),
                    devices=[getattr(device, "device_kind", device.platform) for device in jax.devices()],
                    platform=platform.platform(), xla_flags=os.environ.get("XLA_FLAGS", ""))
    info.update(versions=versions(with_torch), load_average=load_average())
    return info


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def command_line(script: str, argv) -> str:
    """The command that ran, as the records show it: `python tools/NAME.py ARGUMENTS`."""
    return f"python tools/{pathlib.Path(script).name} " + shlex.join(sys.argv[1:] if argv is None else argv)


def summary_line(date: str, machine: dict, details: str, load_end) -> str:
    """'DATE: CPU (N cores); GPUs; DETAILS; load BEFORE -> AFTER[; XLA_FLAGS ...]' above a tool's table."""
    gpus = "".join(f"; {gpu}" for gpu in machine["gpus"])
    flags = f"; XLA_FLAGS {machine['xla_flags'] or '(none)'}" if "xla_flags" in machine else ""
    return (f"{date}: {machine['cpu_model']} ({machine['cpu_count']} cores){gpus}; {details}; "
            f"load {machine['load_average']} -> {load_end}{flags}")


def tool_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose --help is the tool's module docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def write_json(record: dict, output) -> None:
    """With an `output` path, writes `record` there as JSON and says so."""
    if output:
        pathlib.Path(output).write_text(json.dumps(record, indent=2))
        print(f"wrote {output}")
