"""The system sampler: its keys from psutil and from a fake GPU layer, failing sensors, start/stop."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tracker.capture.nvml import GpuState, NvmlReader
from tracker.capture.system import SystemSampler

HOST_KEYS = {
    "sys/cpu_percent", "sys/memory_used_mib", "sys/memory_percent",
    "sys/proc/cpu_percent", "sys/proc/rss_mib",
    "sys/disk/read_mib_s", "sys/disk/write_mib_s", "sys/net/recv_mib_s", "sys/net/sent_mib_s",
}


class Samples:
    """A sink that keeps every sample and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.values: list[dict[str, float]] = []
        self._cond = threading.Condition()

    def __call__(self, values: dict[str, float]) -> None:
        with self._cond:
            self.values.append(values)
            self._cond.notify_all()

    def wait(self, n: int) -> list[dict[str, float]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.values) >= n, timeout=60), self.values
            return list(self.values[:n])


class FakeGpus:
    """Two GPUs; this process runs on GPU 0, another process on GPU 1."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.reads = 0
        self.closed = False
        self.fail_after = fail_after

    def read(self) -> list[GpuState]:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise RuntimeError("GPU is lost")
        return [
            GpuState(0, util_percent=87.0, memory_used_mib=30_000.0, memory_total_mib=80_000.0,
                     temperature_c=61.0, power_w=310.5, processes={os.getpid(): 29_000.0}),
            GpuState(1, util_percent=3.0, memory_used_mib=500.0, memory_total_mib=80_000.0,
                     temperature_c=35.0, power_w=None, processes={999_999: 480.0}),
        ]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def samples() -> Iterator[Samples]:
    yield Samples()


def sampler(samples: Samples, **kwargs: Any) -> SystemSampler:
    kwargs.setdefault("interval", 0.05)
    kwargs.setdefault("first_after", 0.0)
    kwargs.setdefault("gpus", None)
    return SystemSampler(samples, **kwargs)


def test_host_and_process_keys_with_plausible_values(samples: Samples) -> None:
    s = sampler(samples)
    s.start()
    first, second = samples.wait(2)
    s.stop()
    assert set(first) == set(second) == HOST_KEYS
    assert all(isinstance(v, float) and v >= 0 for v in second.values())
    assert 0 <= second["sys/cpu_percent"] <= 100 and 0 < second["sys/memory_percent"] < 100
    with open("/proc/self/status") as f:
        rss_kib = next(int(r.split()[1]) for r in f if r.startswith("VmRSS:"))
    assert 0.5 < second["sys/proc/rss_mib"] / (rss_kib / 1024) < 2


def test_process_cpu_percent_sees_this_process_working(samples: Samples) -> None:
    s = sampler(samples, interval=0.2)
    s.start()
    n = len(samples.wait(1))
    while len(samples.values) < n + 1:  # busy for the whole window of the next sample
        sum(range(10_000))
    s.stop()
    assert samples.values[n]["sys/proc/cpu_percent"] > 10


def test_gpu_keys_come_from_the_gpu_layer(samples: Samples) -> None:
    gpus = FakeGpus()
    s = sampler(samples, gpus=lambda: gpus)
    s.start()
    values = samples.wait(1)[0]
    s.stop()
    assert gpus.closed
    gpu_keys = {k: v for k, v in values.items() if k.startswith("sys/gpu")}
    assert gpu_keys == {
        "sys/gpu0/util_percent": 87.0,
        "sys/gpu0/memory_used_mib": 30_000.0,
        "sys/gpu0/memory_total_mib": 80_000.0,
        "sys/gpu0/memory_percent": 37.5,
        "sys/gpu0/temperature_c": 61.0,
        "sys/gpu0/power_w": 310.5,
        "sys/gpu0/in_use": 1.0,
        "sys/gpu0/proc_memory_mib": 29_000.0,
        "sys/gpu1/util_percent": 3.0,
        "sys/gpu1/memory_used_mib": 500.0,
        "sys/gpu1/memory_total_mib": 80_000.0,
        "sys/gpu1/memory_percent": 0.625,
        "sys/gpu1/temperature_c": 35.0,
        "sys/gpu1/in_use": 0.0,  # another process's GPU: shown, not ours
        "sys/gpu1/proc_memory_mib": 0.0,
    }  # GPU 1 reports no power: no key, no error
    assert HOST_KEYS <= set(values)


def test_no_gpu_means_no_gpu_keys_and_no_notice(
    samples: Samples, caplog: pytest.LogCaptureFixture
) -> None:
    s = sampler(samples, gpus=lambda: None)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        s.start()
        values = samples.wait(2)
        s.stop()
    assert not [k for v in values for k in v if k.startswith("sys/gpu")]
    assert caplog.records == []


def _open_gpus_where(driver_paths: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nimport tracker.capture.nvml as nvml\n"
        f"nvml._DRIVER_PATHS = {driver_paths!r}\n"
        "print(nvml.driver_present(), nvml.open_gpus(), 'pynvml' in sys.modules)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_without_a_driver_pynvml_is_not_even_imported() -> None:
    out = _open_gpus_where(("/nonexistent/libnvidia-ml.so.1",))
    assert out.stdout.split() == ["False", "None", "False"] and out.stderr == ""


def test_a_driver_whose_nvml_cannot_start_gives_one_notice_and_no_gpus() -> None:
    # a driver marker exists, but no libnvidia-ml can be loaded (as on this machine)
    out = _open_gpus_where((__file__,))
    assert out.stdout.split() == ["True", "None", "True"]
    assert out.stderr.startswith("tracker: NVML could not start (")
    assert out.stderr.strip().endswith("; no GPU metrics") and out.stderr.count("\n") == 1


def test_a_failing_sensor_is_reported_once_and_left_out(
    samples: Samples, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("cannot read /proc/diskstats")

    s = sampler(samples)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        s.start()
        samples.wait(1)
        monkeypatch.setattr(psutil, "disk_io_counters", broken)
        n = len(samples.values)
        values = samples.wait(n + 3)
        s.stop()
    after = values[n + 1 :]
    assert all("sys/disk/read_mib_s" not in v and "sys/cpu_percent" in v for v in after)
    warnings = [r.getMessage() for r in caplog.records if "disk" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("tracker: system metrics: reading disk")


def test_a_failing_gpu_layer_leaves_the_host_metrics(
    samples: Samples, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = FakeGpus(fail_after=1)
    s = sampler(samples, gpus=lambda: gpus)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        s.start()
        first, second, third = samples.wait(3)
        s.stop()
    assert "sys/gpu0/util_percent" in first
    assert not [k for k in (*second, *third) if k.startswith("sys/gpu")]
    assert HOST_KEYS <= set(third)
    assert [r.getMessage() for r in caplog.records if "gpu" in r.getMessage()] == [
        "tracker: system metrics: reading gpu failed (RuntimeError('GPU is lost')); "
        "it is not sampled any more"
    ]


def test_a_failing_sink_does_not_stop_the_sampler(caplog: pytest.LogCaptureFixture) -> None:
    calls = Samples()

    def flaky(values: dict[str, float]) -> None:
        calls(values)
        raise RuntimeError("store is closed")

    s = SystemSampler(flaky, interval=0.05, first_after=0.0, gpus=None)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        s.start()
        calls.wait(3)
        s.stop()
    assert [r.getMessage() for r in caplog.records] == [
        "tracker: system metrics: storing a sample failed (RuntimeError('store is closed'))"
    ]


def test_the_first_sample_does_not_wait_for_the_interval(samples: Samples) -> None:
    s = SystemSampler(samples, interval=3600.0, gpus=None)  # the default first_after (1 s)
    s.start()
    samples.wait(1)  # would take an hour if the first sample waited for the interval
    s.stop()
    assert not s.running


def test_start_returns_while_the_gpu_layer_is_still_opening(samples: Samples) -> None:
    opened = threading.Event()
    release = threading.Event()

    def slow_open() -> FakeGpus:
        opened.set()
        release.wait()  # NVML's start-up can take seconds without the persistence daemon
        return FakeGpus()

    s = sampler(samples, gpus=slow_open)
    s.start()
    assert opened.wait(60) and samples.values == []
    release.set()
    values = samples.wait(1)[0]
    s.stop()
    assert "sys/gpu0/in_use" in values


def test_stop_ends_the_thread_hands_over_nothing_after_and_is_safe_twice(samples: Samples) -> None:
    s = sampler(samples)
    s.start()
    samples.wait(2)
    s.stop()
    s.stop()
    n = len(samples.values)
    assert not s.running and not any(t.name == "tracker-system" for t in threading.enumerate())
    s2 = sampler(samples)  # a second sampler starts fresh
    s2.start()
    samples.wait(n + 1)
    s2.stop()


def test_an_interval_must_be_positive(samples: Samples) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        SystemSampler(samples, interval=0)


# -- NvmlReader against a fake pynvml module (no driver here) ---------------------------------


class FakeNvmlError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def fake_pynvml(pid: int) -> SimpleNamespace:
    mib = 1024 * 1024
    calls: list[str] = []

    def power(handle: int) -> int:
        calls.append(f"power{handle}")
        if handle == 1:
            raise FakeNvmlError(3)  # NOT_SUPPORTED
        return 250_000  # mW

    return SimpleNamespace(
        calls=calls,
        NVMLError=FakeNvmlError,
        NVML_ERROR_NOT_SUPPORTED=3,
        NVML_ERROR_NO_PERMISSION=4,
        NVML_ERROR_FUNCTION_NOT_FOUND=13,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=[55, 0][h], memory=10),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=[2048, 0][h] * mib,
                                                          total=4096 * mib, free=0),
        nvmlDeviceGetTemperature=lambda h, sensor: [70, 30][h],
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetComputeRunningProcesses=lambda h: (
            [SimpleNamespace(pid=pid, usedGpuMemory=1024 * mib)] if h == 0 else []
        ),
        nvmlDeviceGetGraphicsRunningProcesses=lambda h: (
            [SimpleNamespace(pid=4242, usedGpuMemory=None)] if h == 1 else []
        ),
    )


def test_nvml_reader_maps_nvml_values_and_skips_unsupported_ones() -> None:
    nvml = fake_pynvml(pid=1234)
    reader = NvmlReader(nvml)
    first = reader.read()
    second = reader.read()
    reader.close()
    assert first == second == [
        GpuState(0, util_percent=55.0, memory_used_mib=2048.0, memory_total_mib=4096.0,
                 temperature_c=70.0, power_w=250.0, processes={1234: 1024.0}),
        GpuState(1, util_percent=0.0, memory_used_mib=0.0, memory_total_mib=4096.0,
                 temperature_c=30.0, power_w=None, processes={4242: None}),
    ]
    assert nvml.calls.count("power1") == 1  # not supported: not asked again
    assert nvml.calls[0] == "init" and nvml.calls[-1] == "shutdown"


def test_nvml_reader_lets_other_errors_through() -> None:
    nvml = fake_pynvml(pid=1)

    def lost(handle: int) -> Any:
        raise FakeNvmlError(15)  # GPU_IS_LOST

    nvml.nvmlDeviceGetUtilizationRates = lost
    with pytest.raises(FakeNvmlError):
        NvmlReader(nvml).read()


def test_sampler_on_nvml_reader_marks_the_gpu_this_process_uses(samples: Samples) -> None:
    nvml = fake_pynvml(pid=os.getpid())
    s = sampler(samples, gpus=lambda: NvmlReader(nvml))
    s.start()
    values = samples.wait(1)[0]
    s.stop()
    assert (values["sys/gpu0/in_use"], values["sys/gpu1/in_use"]) == (1.0, 0.0)
    assert values["sys/gpu0/proc_memory_mib"] == 1024.0 and "sys/gpu1/power_w" not in values
