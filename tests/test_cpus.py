"""Usable cores: the process's CPU affinity, capped by its container's CPU quota (cgroup v2 or v1)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import cpus
from core.cpus import cpu_quota, usable_cores
from tests.conftest import make_settings, missing

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(cpus, "affinity_cores", lambda: 8)


def cgroups(tmp_path: Path, membership: str, files: dict[str, str]) -> dict:
    """A fake /sys/fs/cgroup under tmp_path and a fake /proc/self/cgroup naming `membership`."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(membership + "\n")
    return {"cgroup_root": root, "proc_cgroup": proc}


def limits(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[float | None, int]:
    """(the CPU quota, the usable cores) as read from fake cgroup files (see `cgroups`)."""
    paths = cgroups(tmp_path, membership, files)
    return cpu_quota(**paths), usable_cores(**paths)


def test_no_quota_means_every_core_of_the_affinity(tmp_path, eight_cores):
    assert limits(tmp_path, "0::/", {"cpu.max": "max 100000"}) == (None, 8)


def test_a_cgroup_v2_quota_caps_the_cores_rounding_up(tmp_path, eight_cores):
    assert usable_cores(**cgroups(tmp_path / "a", "0::/", {"cpu.max": "300000 100000"})) == 3
    assert usable_cores(**cgroups(tmp_path / "b", "0::/", {"cpu.max": "150000 100000"})) == 2
    assert usable_cores(**cgroups(tmp_path / "c", "0::/", {"cpu.max": "20000 100000"})) == 1


def test_the_tightest_quota_on_the_way_up_the_hierarchy_wins(tmp_path, eight_cores):
    files = {"system.slice/cpu.max": "200000 100000", "system.slice/cutout.service/cpu.max": "max 100000"}
    assert limits(tmp_path, "0::/system.slice/cutout.service", files) == (2.0, 2)


def test_a_cgroup_v1_quota_is_read_too_and_a_host_path_absent_in_the_container_is_skipped(tmp_path, eight_cores):
    files = {"cpu,cpuacct/cpu.cfs_quota_us": "250000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}
    assert limits(tmp_path, "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc", files) == (2.5, 3)


def test_an_unlimited_v1_quota_is_no_limit(tmp_path, eight_cores):
    paths = cgroups(tmp_path, "1:cpu:/", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    assert usable_cores(**paths) == 8


def test_a_quota_above_the_affinity_leaves_the_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(cpus, "affinity_cores", lambda: 2)
    assert usable_cores(**cgroups(tmp_path, "0::/", {"cpu.max": "400000 100000"})) == 2


@pytest.mark.parametrize("text", ["", "garbage", "100000", "0 100000", "100000 0"])
def test_unreadable_quota_files_are_ignored(tmp_path, eight_cores, text):
    assert usable_cores(**cgroups(tmp_path, "0::/", {"cpu.max": text})) == 8


def test_a_malformed_line_in_proc_self_cgroup_is_skipped_not_fatal(tmp_path, eight_cores):
    paths = cgroups(tmp_path, "garbage\n0::/", {"cpu.max": "200000 100000"})
    assert usable_cores(**paths) == 2


def test_no_cgroup_information_at_all_means_the_affinity(tmp_path, eight_cores):
    assert usable_cores(cgroup_root=tmp_path / "none", proc_cgroup=tmp_path / "absent") == 8


def test_cpu_affinity_is_respected_in_a_real_process():
    taskset = shutil.which("taskset")
    if taskset is None:
        missing("taskset (util-linux) is not installed")
    done = subprocess.run([taskset, "-c", "0", sys.executable, "-c",
                           "from core.cpus import usable_cores; print(usable_cores())"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_worker_threads_default_to_the_usable_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(cpus, "affinity_cores", lambda: 6)
    monkeypatch.setattr(cpus, "cpu_quota", lambda **_: 2.5)
    settings = make_settings(tmp_path, worker_threads="")
    assert settings.worker_threads == 3
