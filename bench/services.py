"""What the benchmarks share about the processes they start: a free port, CPU time, memory."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (VmRSS) or at its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def with_children(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and workers, say)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(child) for child in children.read_text().split())]


def total_cpu(pids: list[int]) -> float:
    """CPU seconds of several processes; one that has gone counts nothing."""
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu(pid)
        except FileNotFoundError:
            continue
    return total


def database_url(base_url: str, name: str) -> str:
    """base_url (a PostgreSQL URL) with its database replaced by `name`."""
    return urlunparse(urlparse(base_url)._replace(path="/" + name))


def create_database(base_url: str, name: str) -> str:
    """A new, empty database `name` on base_url's server; its URL."""
    _administer(base_url, f'CREATE DATABASE "{name}"')
    return database_url(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    """Drop the database `name`, whoever is still connected."""
    _administer(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _administer(base_url: str, statement: str) -> None:
    connection = psycopg2.connect(base_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()
