"""Idempotency-Key of API job submissions: the key, the request's fingerprint and the job it made."""

from peewee import CharField, DateTimeField, ForeignKeyField, Model, UUIDField

from core.models import utcnow


def apply(database, migrator) -> None:
    class Base(Model):
        class Meta:
            database = None

    class User(Base):
        class Meta:
            table_name = "users"

    class Job(Base):
        id = UUIDField(primary_key=True)

        class Meta:
            table_name = "jobs"

    class IdempotencyKey(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        key = CharField(max_length=255)
        fingerprint = CharField(max_length=64)
        job = ForeignKeyField(Job, on_delete="CASCADE")
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "idempotency_keys"
            indexes = ((("user", "key"), True),)

    database.bind([User, Job, IdempotencyKey])
    database.create_tables([IdempotencyKey])
