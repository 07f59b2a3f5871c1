"""The benchmarks' client of the Cutout API: kept-alive requests, one photo end to end, several at once."""

from __future__ import annotations

import http.client
import json
import threading
import time

from tests.support.multipart import multipart

WAIT_SECONDS = 20
JOB_DEADLINE_SECONDS = 300

_connections = threading.local()


def api(port: int, method: str, path: str, token: str | None = None, body: bytes | None = None,
        content_type: str | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    """One request to the API on this port over this thread's kept-alive connection, as an HTTP
    client library would send it; (status, body, headers)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    for attempt in (1, 2):
        connection = _connection(port, fresh=attempt == 2)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        except (http.client.HTTPException, ConnectionError):
            if attempt == 2:  # a kept connection the server closed is retried once on a new one
                raise
    raise AssertionError("unreachable")


def _connection(port: int, fresh: bool) -> http.client.HTTPConnection:
    kept = getattr(_connections, "by_port", None)
    if kept is None:
        kept = _connections.by_port = {}
    if fresh or port not in kept:
        if port in kept:
            kept[port].close()
        kept[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return kept[port]


def cut_out(port: int, token: str, data: bytes) -> float:
    """Submit a photo, wait until it is done, download the result: the seconds it all took."""
    began = time.perf_counter()
    body, content_type = multipart({"mode": "png"}, data)
    status, answer, _ = api(port, "POST", "/api/v1/jobs", token, body, content_type)
    if status != 202:
        raise SystemExit(f"submit answered {status}: {answer[:300]!r}")
    job_id = json.loads(answer)["id"]
    deadline = began + JOB_DEADLINE_SECONDS
    while True:
        status, answer, headers = api(port, "GET", f"/api/v1/jobs/{job_id}?wait={WAIT_SECONDS}", token)
        state = json.loads(answer).get("status") if status == 200 else None
        if state == "done":
            break
        if state in ("failed", "cancelled") or time.perf_counter() > deadline:
            raise SystemExit(f"job {job_id} ended {state} ({answer[:300]!r})")
        time.sleep(float(headers.get("Retry-After", 0)))
    status, result, _ = api(port, "GET", f"/api/v1/jobs/{job_id}/result", token)
    if status != 200 or not result.startswith(b"\x89PNG"):
        raise SystemExit(f"result of {job_id}: {status}, {result[:40]!r}")
    return time.perf_counter() - began


def at_once(port: int, tokens: list[str], uploads: list[bytes]) -> float:
    """AT_ONCE photos submitted together by as many clients: the makespan divided by their number."""
    barrier, errors = threading.Barrier(len(tokens) + 1), []

    def client(token: str, data: bytes) -> None:
        barrier.wait()
        try:
            cut_out(port, token, data)
        except BaseException as exc:  # cut_out raises SystemExit: reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(token, uploads[i % len(uploads)]))
               for i, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"8 at once failed: {errors[0]}")
    return (time.perf_counter() - began) / len(tokens)
