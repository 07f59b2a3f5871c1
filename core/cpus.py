"""How many CPU cores this process may use: its CPU affinity and its container's CPU quota."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores(*, cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The cores this process may run on (affinity), capped by its cgroup's CPU quota, at least 1.

    A fractional quota rounds up, as the JVM and .NET do: 1.5 cores run 2 threads that the
    kernel throttles to 1.5 cores' worth, which beats leaving half a core unused."""
    cores = affinity_cores()
    quota = cpu_quota(cgroup_root=cgroup_root, proc_cgroup=proc_cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def affinity_cores() -> int:
    """The cores the scheduler lets this process use (taskset, cpuset), not merely those the host has."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cpu_quota(*, cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota, in cores, over this process's cgroup and its ancestors (cgroup v2
    `cpu.max` or v1 `cpu.cfs_quota_us`); None when no quota is set or cgroups are not readable."""
    quotas = [quota for directory, reader in _quota_files(cgroup_root, proc_cgroup)
              if (quota := reader(directory)) is not None]
    return min(quotas) if quotas else None


Reader = Callable[[Path], "float | None"]


def _quota_files(root: Path, proc_cgroup: Path) -> Iterator[tuple[Path, Reader]]:
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:  # not "id:controllers:path": nothing we can use
            continue
        _, controllers, path = parts
        if controllers == "":
            yield from ((directory, _v2_quota) for directory in _ancestors(root, path))
        elif "cpu" in controllers.split(","):
            mount = root / controllers if (root / controllers).is_dir() else root / "cpu"
            yield from ((directory, _v1_quota) for directory in _ancestors(mount, path))


def _ancestors(mount: Path, path: str) -> Iterator[Path]:
    """The cgroup's directory and each parent up to the mount. Inside a container the host's path
    may not exist under the mount (the container sees its own cgroup as the root): those are skipped."""
    parts = [part for part in path.split("/") if part and part not in (".", "..")]
    for depth in range(len(parts), -1, -1):
        directory = mount.joinpath(*parts[:depth])
        if directory.is_dir():
            yield directory


def _v2_quota(directory: Path) -> float | None:
    """cgroup v2: `cpu.max` holds "<quota> <period>" in microseconds, or "max <period>"."""
    text = _read(directory / "cpu.max")
    if not text:
        return None
    quota, _, period = text.partition(" ")
    return _ratio(quota, period)


def _v1_quota(directory: Path) -> float | None:
    """cgroup v1: `cpu.cfs_quota_us` (-1 when unlimited) over `cpu.cfs_period_us`."""
    return _ratio(_read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us"))


def _ratio(quota: str | None, period: str | None) -> float | None:
    try:
        quota_us, period_us = int(quota or ""), int(period or "")
    except ValueError:  # "max", missing or garbled: no limit we can use
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
