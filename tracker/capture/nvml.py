"""NVIDIA GPUs through NVML (nvidia-ml-py's ``pynvml``), imported only where a driver is present.

``open_gpus()`` is the sampler's default: a ``GpuReader`` on a machine with an NVIDIA driver and at
least one GPU, None elsewhere (silently: no driver is not an error). Tests hand the sampler a fake
reader, or ``NvmlReader`` a fake ``pynvml`` module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import notices

MIB = 1024 * 1024
# Where the driver shows itself: the kernel module's /proc entry, or NVML's library (containers
# and WSL have the library without /proc/driver/nvidia).
_DRIVER_PATHS = (
    "/proc/driver/nvidia/version",
    "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
    "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
    "/usr/lib64/libnvidia-ml.so.1",
    "/usr/lib/libnvidia-ml.so.1",
    "/usr/local/nvidia/lib64/libnvidia-ml.so.1",
    "/usr/lib/wsl/lib/libnvidia-ml.so.1",
)
_NOT_AVAILABLE = 2**63  # NVML's "value not available" is ULLONG_MAX


@dataclass(frozen=True)
class GpuState:
    """One GPU at one moment; None where the GPU does not report a value."""

    index: int  # NVML's index, as nvidia-smi numbers the GPUs
    util_percent: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    # pid -> that process's memory on this GPU in MiB (None: NVML does not say)
    processes: dict[int, float | None] = field(default_factory=dict)


class GpuReader(Protocol):
    """What the sampler needs from a GPU layer."""

    def read(self) -> list[GpuState]: ...

    def close(self) -> None: ...


def driver_present() -> bool:
    """Whether an NVIDIA driver seems installed (checked before importing pynvml)."""
    return any(os.path.exists(p) for p in _DRIVER_PATHS)


def open_gpus() -> GpuReader | None:
    """NVML's reader where a driver and a GPU are present; None otherwise (a notice only when a
    driver is there but NVML cannot be used)."""
    if not driver_present():
        return None
    try:
        import pynvml
    except ImportError:
        notices.warn_once(
            "nvml-missing",
            "an NVIDIA driver is present but nvidia-ml-py is not installed, so no GPU metrics "
            "are recorded (pip install nvidia-ml-py)",
        )
        return None
    try:
        reader = NvmlReader(pynvml)
    except Exception as err:  # driver/library mismatch, no permission, ...
        notices.warn_once("nvml-init", f"NVML could not start ({err}); no GPU metrics")
        return None
    if not reader.count:
        reader.close()
        return None
    return reader


class NvmlReader:
    """GPU states from NVML. A value a GPU does not support is left out (and not asked again);
    any other NVML error propagates (the sampler then stops sampling GPUs, with one notice)."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        nvml.nvmlInit()
        try:
            count = nvml.nvmlDeviceGetCount()
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:
            self.close()
            raise
        self._unsupported: set[tuple[int, str]] = set()
        self._quiet_codes = {
            getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3),
            getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4),
            getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", 13),
        }

    @property
    def count(self) -> int:
        return len(self._handles)

    def read(self) -> list[GpuState]:
        nvml = self._nvml
        states = []
        for index, handle in enumerate(self._handles):
            util = self._value(index, "util", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu)
            memory = self._value(index, "memory", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            temperature = self._value(index, "temperature", lambda h=handle: self._temperature(h))
            power_mw = self._value(index, "power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            processes = self._value(index, "processes", lambda h=handle: self._processes(h))
            states.append(
                GpuState(
                    index=index,
                    util_percent=_float(util),
                    memory_used_mib=memory.used / MIB if memory is not None else None,
                    memory_total_mib=memory.total / MIB if memory is not None else None,
                    temperature_c=_float(temperature),
                    power_w=power_mw / 1000.0 if power_mw is not None else None,
                    processes=processes or {},
                )
            )
        return states

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass

    def _value(self, index: int, name: str, read: Any) -> Any:
        if (index, name) in self._unsupported:
            return None
        try:
            return read()
        except self._nvml.NVMLError as err:
            if getattr(err, "value", None) in self._quiet_codes:
                self._unsupported.add((index, name))
                return None
            raise

    def _temperature(self, handle: Any) -> Any:
        nvml = self._nvml
        sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        if hasattr(nvml, "nvmlDeviceGetTemperature"):  # every driver; deprecated in the bindings
            return nvml.nvmlDeviceGetTemperature(handle, sensor)
        return nvml.nvmlDeviceGetTemperatureV(handle, sensor)

    def _processes(self, handle: Any) -> dict[int, float | None]:
        found: dict[int, float | None] = {}
        for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            getter = getattr(self._nvml, name, None)
            if getter is None:
                continue
            for proc in getter(handle):
                used = getattr(proc, "usedGpuMemory", None)
                mib = used / MIB if isinstance(used, int) and 0 <= used < _NOT_AVAILABLE else None
                before = found.get(proc.pid)
                found[proc.pid] = mib if before is None else before + (mib or 0.0)
        return found


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
