"""Job claims with a lease: the worker holding a job and until when, and when its publish was
confirmed, so the sweeper re-publishes only jobs whose worker is gone or whose publish never
happened, not jobs waiting in a long backlog. Jobs already waiting count as published."""

from peewee import CharField, DateTimeField
from playhouse.migrate import migrate


def apply(database, migrator) -> None:
    migrate(
        migrator.add_column("jobs", "worker", CharField(max_length=128, null=True)),
        migrator.add_column("jobs", "lease_until", DateTimeField(null=True)),
        migrator.add_column("jobs", "published_at", DateTimeField(null=True)),
    )
    database.execute_sql("UPDATE jobs SET published_at = queued_at WHERE status IN ('queued', 'processing')")
