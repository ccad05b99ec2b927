"""Profile traces in the layouts TensorBoard's profile plugins read.

JAX/TF xplanes: ``<run>/plugins/profile/<session>/<host>.xplane.pb`` (tensorboard-plugin-profile).
Torch chrome traces: ``<run>/<worker>.<ns>.pt.trace.json.gz`` (torch-tb-profiler).
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

from ..profile import Profile
from .paths import safe_part


def write_profile(run_dir: Path, profile: Profile, profile_id: int, created: float) -> Path | None:
    """Write one profile's raw trace under ``run_dir``; None when it has none we can place."""
    if not profile.trace:
        return None
    if profile.trace_format == "xplane":
        session = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(created))
        folder = run_dir / "plugins" / "profile" / session
        if folder.exists():  # two captures in one second: keep both
            folder = folder.with_name(f"{session}_{profile_id}")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_part(profile.trace_name or 'localhost', 'localhost')}.xplane.pb"
        path.write_bytes(profile.trace)
        return path
    if profile.trace_format == "torch_chrome_json":
        worker = safe_part(profile.trace_name or "worker0", "worker0")
        path = run_dir / f"{worker}.{int(created * 1e9) + profile_id}.pt.trace.json.gz"
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(profile.trace, compresslevel=6, mtime=0))
        return path
    return None
