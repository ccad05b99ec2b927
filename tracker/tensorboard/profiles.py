"""Profile traces in the layouts TensorBoard's profile plugins read.

JAX/TF xplanes: ``<run>/plugins/profile/<session>/<host>.xplane.pb`` (tensorboard-plugin-profile).
Torch chrome traces: ``<run>/<worker>.<ns>.pt.trace.json.gz`` (torch-tb-profiler).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Container

from ..profile import Profile
from .paths import safe_part


def profile_file(
    profile: Profile, profile_id: int, created: float, taken: Container[str]
) -> tuple[str, bytes] | None:
    """Where one profile's raw trace goes under its run folder (a '/'-separated relative path)
    and the bytes to write there; None when it has none we can place.

    The place depends only on the profile and on ``taken`` (paths earlier exports wrote), so an
    export killed after writing it and run again writes the same file, never a second copy.
    """
    if not profile.trace:
        return None
    if profile.trace_format == "xplane":
        session = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(created))
        host = safe_part(profile.trace_name or "localhost", "localhost")
        path = f"plugins/profile/{session}/{host}.xplane.pb"
        if path in taken:  # two captures in one second: keep both
            path = f"plugins/profile/{session}_{profile_id}/{host}.xplane.pb"
        return path, profile.trace
    if profile.trace_format == "torch_chrome_json":
        worker = safe_part(profile.trace_name or "worker0", "worker0")
        path = f"{worker}.{int(created * 1e9) + profile_id}.pt.trace.json.gz"
        return path, gzip.compress(profile.trace, compresslevel=6, mtime=0)
    return None
