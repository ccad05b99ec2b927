"""What the app's reads return: plain data that the screens hand to their widgets (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..read import GraphInfo, ProfileInfo
from ..records import KeyInfo, RunInfo


@dataclass
class CurveData:
    """One run's curve of one key, either every point or min/max/mean buckets."""

    run_id: str
    key: str
    steps: np.ndarray  # float64 x in steps (bucket centres when reduced)
    values: np.ndarray  # values, or bucket means
    walls: np.ndarray | None  # wall times (None when reduced)
    mins: np.ndarray | None = None
    maxs: np.ndarray | None = None
    count: int = 0  # points stored when read
    reduced: bool = False
    last_step: float = float("-inf")  # live tailing asks for the points after this step


@dataclass
class RunDetail:
    """What the run screen shows besides curves: its keys, graphs and profiles."""

    run: RunInfo
    keys: list[KeyInfo] = field(default_factory=list)
    graphs: list[GraphInfo] = field(default_factory=list)
    profiles: list[ProfileInfo] = field(default_factory=list)


@dataclass
class ChartKeys:
    """The scalar keys of the charted runs, and the curves of the chart that opens first."""

    keys: dict[str, list[KeyInfo]]  # run id -> its scalar keys
    first: str | None  # the key of the first chart (None: no scalar logged yet)
    curves: list[CurveData]  # ``first``'s curve for each run that logged it


class TailMark(NamedTuple):
    """Where a live curve stands: its run, its key and the last step it holds."""

    run_id: str
    key: str
    after: float
