"""System metrics on a background thread: host and process CPU and memory, disk and network rates,
and NVIDIA GPUs, handed to ``sink({"sys/...": value})`` every ``interval`` seconds.

Keys and units (a key is absent where its sensor is unavailable):

=================================  ==========================================================
``sys/cpu_percent``                host CPU busy, % of all cores (0-100)
``sys/memory_used_mib``            host memory in use (total - available), MiB
``sys/memory_percent``             the same as % of total
``sys/proc/cpu_percent``           this process, % of one core (400 = four cores busy)
``sys/proc/rss_mib``               this process's resident memory, MiB
``sys/disk/read_mib_s``            host disk reads, MiB/s over the last interval
``sys/disk/write_mib_s``           host disk writes, MiB/s
``sys/net/recv_mib_s``             host network received, MiB/s (all interfaces but loopback)
``sys/net/sent_mib_s``             host network sent, MiB/s
``sys/gpu{i}/util_percent``        GPU i busy (NVML's utilisation), %
``sys/gpu{i}/memory_used_mib``     GPU i memory used, MiB
``sys/gpu{i}/memory_total_mib``    GPU i memory, MiB
``sys/gpu{i}/memory_percent``      used / total, %
``sys/gpu{i}/temperature_c``       GPU i temperature, degrees Celsius
``sys/gpu{i}/power_w``             GPU i power draw, W
``sys/gpu{i}/in_use``              1 when this process runs on GPU i, else 0
``sys/gpu{i}/proc_memory_mib``     this process's memory on GPU i, MiB (0 when not in use)
=================================  ==========================================================

GPU indices are NVML's (nvidia-smi's order, which CUDA_VISIBLE_DEVICES does not renumber).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import notices
from .nvml import GpuReader, open_gpus

__all__ = ["DEFAULT_INTERVAL", "FIRST_SAMPLE_AFTER", "SystemSampler"]

DEFAULT_INTERVAL = 10.0
FIRST_SAMPLE_AFTER = 1.0  # CPU % needs a window; 1 s keeps the first sample within 2 s of start
MIB = 1024 * 1024

Values = dict[str, float]
Sensor = Callable[[], Values]


class SystemSampler:
    """Samples on its own thread from ``start()`` to ``stop()``; ``sink`` is called on that
    thread and must not block for long (a run's non-blocking ``log``)."""

    def __init__(
        self,
        sink: Callable[[Values], None],
        *,
        interval: float = DEFAULT_INTERVAL,
        first_after: float = FIRST_SAMPLE_AFTER,
        gpus: Callable[[], GpuReader | None] | None = open_gpus,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"system_interval must be a positive number of seconds, not {interval!r}")
        self._sink = sink
        self._interval = float(interval)
        self._first_after = max(0.0, float(first_after))
        self._open_gpus = gpus
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = -1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    @property
    def thread_ident(self) -> int | None:
        """The sampler thread's ident (benchmarks read its CPU clock)."""
        return self._thread.ident if self._thread is not None else None

    def start(self) -> None:
        """Start the thread and return at once (imports and NVML start-up happen on it)."""
        if self._thread is not None:
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="tracker-system", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sampling; no sample is handed over once this returns (unless the thread is stuck
        in a sensor for longer than ``timeout``). Safe twice and from a signal handler."""
        self._stop.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        sensors: dict[str, Sensor] = {}
        gpus: GpuReader | None = None
        host = _open_host()  # primes CPU % and the I/O counters: the first sample has a window
        if host is not None:
            sensors.update(host.sensors())
        if self._open_gpus is not None:
            try:
                gpus = self._open_gpus()
            except Exception as err:
                notices.warn_once("system-gpu-open", f"system metrics: GPUs unavailable ({err})")
            if gpus is not None:
                sensors["gpu"] = _gpu_sensor(gpus, os.getpid())
        try:
            next_at = started + self._first_after
            while sensors and not self._stop.wait(max(0.0, next_at - time.monotonic())):
                values = self._sample(sensors)
                if values and not self._stop.is_set():
                    try:
                        self._sink(values)
                    except Exception as err:
                        notices.warn_once(
                            "system-sink", f"system metrics: storing a sample failed ({err!r})"
                        )
                next_at = max(next_at + self._interval, time.monotonic())
        finally:
            if gpus is not None:
                gpus.close()

    def _sample(self, sensors: dict[str, Sensor]) -> Values:
        values: Values = {}
        for name, read in list(sensors.items()):
            try:
                values.update(read())
            except Exception as err:  # one notice, then this sensor is left out
                del sensors[name]
                notices.warn_once(
                    f"system-sensor-{name}",
                    f"system metrics: reading {name} failed ({err!r}); it is not sampled any more",
                )
        return values


class _Host:
    """psutil's view of the host and this process, with the last counters for rates."""

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)
        psutil.cpu_percent(None)
        self._disk = self._disk_counters()
        self._net = self._net_counters()

    def sensors(self) -> dict[str, Sensor]:
        return {
            "process": self.process,
            "cpu": self.cpu,
            "memory": self.memory,
            "disk": self.disk,
            "network": self.network,
        }

    def process(self) -> Values:
        return {
            "sys/proc/cpu_percent": self._proc.cpu_percent(None),
            "sys/proc/rss_mib": self._proc.memory_info().rss / MIB,
        }

    def cpu(self) -> Values:
        return {"sys/cpu_percent": self._ps.cpu_percent(None)}

    def memory(self) -> Values:
        vm = self._ps.virtual_memory()
        return {
            "sys/memory_used_mib": (vm.total - vm.available) / MIB,
            "sys/memory_percent": float(vm.percent),
        }

    def disk(self) -> Values:
        before, self._disk = self._disk, self._disk_counters()
        return _rates(before, self._disk, {"read_bytes": "sys/disk/read_mib_s",
                                           "write_bytes": "sys/disk/write_mib_s"})

    def network(self) -> Values:
        before, self._net = self._net, self._net_counters()
        return _rates(before, self._net, {"bytes_recv": "sys/net/recv_mib_s",
                                          "bytes_sent": "sys/net/sent_mib_s"})

    def _disk_counters(self) -> tuple[float, dict[str, int]] | None:
        counters = self._ps.disk_io_counters()
        if counters is None:  # no disks to see (some containers)
            return None
        return time.monotonic(), {"read_bytes": counters.read_bytes,
                                  "write_bytes": counters.write_bytes}

    def _net_counters(self) -> tuple[float, dict[str, int]] | None:
        per_nic = self._ps.net_io_counters(pernic=True)
        if not per_nic:
            return None
        nics = [c for name, c in per_nic.items() if name != "lo"]
        return time.monotonic(), {"bytes_recv": sum(c.bytes_recv for c in nics),
                                  "bytes_sent": sum(c.bytes_sent for c in nics)}


def _rates(
    before: tuple[float, dict[str, int]] | None,
    now: tuple[float, dict[str, int]] | None,
    keys: dict[str, str],
) -> Values:
    if before is None or now is None or now[0] <= before[0]:
        return {}
    seconds = now[0] - before[0]
    # a counter that went backwards (a device removed, a wrap) gives no rate this time
    return {
        key: (now[1][field] - before[1][field]) / MIB / seconds
        for field, key in keys.items()
        if now[1][field] >= before[1][field]
    }


def _open_host() -> _Host | None:
    try:
        import psutil

        return _Host(psutil)
    except Exception as err:  # psutil missing or /proc unreadable: GPUs may still work
        notices.warn_once(
            "system-psutil", f"system metrics: host and process metrics unavailable ({err!r})"
        )
        return None


def _gpu_sensor(gpus: GpuReader, pid: int) -> Sensor:
    def read() -> Values:
        values: Values = {}
        for gpu in gpus.read():
            prefix = f"sys/gpu{gpu.index}/"
            for name, value in (
                ("util_percent", gpu.util_percent),
                ("memory_used_mib", gpu.memory_used_mib),
                ("memory_total_mib", gpu.memory_total_mib),
                ("temperature_c", gpu.temperature_c),
                ("power_w", gpu.power_w),
            ):
                if value is not None:
                    values[prefix + name] = float(value)
            if gpu.memory_used_mib is not None and gpu.memory_total_mib:
                values[prefix + "memory_percent"] = 100.0 * gpu.memory_used_mib / gpu.memory_total_mib
            in_use = pid in gpu.processes
            values[prefix + "in_use"] = 1.0 if in_use else 0.0
            mine = gpu.processes.get(pid)
            if mine is not None or not in_use:
                values[prefix + "proc_memory_mib"] = float(mine or 0.0)
        return values

    return read
