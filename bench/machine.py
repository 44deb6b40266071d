"""The machine a benchmark ran on, in one line, with the CPU flags that decide whether
TensorFlow turns its oneDNN graph rewrites on by default (AVX512_VNNI, AVX512_BF16, AMX): on those
CPUs TensorFlow 2.21's Grappler remapper has miscompiled graphs (posedata's graph tripwire)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_flags() -> set[str]:
    """The flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """E.g. `AMD EPYC, 2 cores; AVX512_VNNI/BF16/AMX: none (oneDNN off by default);
    TF_ENABLE_ONEDNN_OPTS=1`."""
    flags = cpu_flags()
    present = [f.upper() for f in ONEDNN_FLAGS if f in flags]
    default = "on" if present else "off"
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, load {load}; "
        f"{'/'.join(present) or 'no AVX512_VNNI/AVX512_BF16/AMX'} -> oneDNN {default} by "
        f"default; TF_ENABLE_ONEDNN_OPTS={setting}"
    )


if __name__ == "__main__":
    print(describe_machine())
