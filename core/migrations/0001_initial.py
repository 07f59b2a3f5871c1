"""Users, jobs and the ledger, as first released (a frozen copy, not core.models)."""

import uuid

from peewee import (
    BooleanField,
    CharField,
    Check,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)

from core.models import utcnow


def apply(database, migrator) -> None:
    class Base(Model):
        class Meta:
            database = None

    class User(Base):
        telegram_id = IntegerField(null=True, unique=True)
        username = CharField(max_length=64, null=True)
        first_name = CharField(max_length=128, null=True)
        last_name = CharField(max_length=128, null=True)
        email = CharField(max_length=254, null=True, unique=True)
        password_hash = CharField(max_length=255, null=True)
        is_admin = BooleanField(default=False)
        is_blocked = BooleanField(default=False)
        language = CharField(max_length=8, default="en")
        bonus_credits = IntegerField(default=0, constraints=[Check("bonus_credits >= 0")])
        paid_credits = IntegerField(default=0, constraints=[Check("paid_credits >= 0")])
        settings = TextField(default="{}")
        token_version = IntegerField(default=0)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "users"

    class Job(Base):
        id = UUIDField(primary_key=True, default=uuid.uuid4)
        user = ForeignKeyField(User, on_delete="RESTRICT")
        source = CharField(max_length=16)
        chat_id = IntegerField(null=True)
        message_id = IntegerField(null=True)
        status_message_id = IntegerField(null=True)
        options = TextField(default="{}")
        status = CharField(max_length=16, default="queued", index=True)
        attempts = IntegerField(default=0)
        error = TextField(null=True)
        price = IntegerField(constraints=[Check("price >= 0")])
        input_key = CharField(max_length=128, null=True)
        output_key = CharField(max_length=128, null=True)
        input_name = CharField(max_length=255, null=True)
        input_bytes = IntegerField(null=True)
        output_content_type = CharField(max_length=64, null=True)
        width = IntegerField(null=True)
        height = IntegerField(null=True)
        created_at = DateTimeField(default=utcnow, index=True)
        queued_at = DateTimeField(default=utcnow)
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        delivered_at = DateTimeField(null=True)
        delivery_error = TextField(null=True)
        purged_at = DateTimeField(null=True)

        class Meta:
            table_name = "jobs"
            indexes = ((("user", "created_at"), False),)

    class Transaction(Base):
        user = ForeignKeyField(User, on_delete="RESTRICT")
        kind = CharField(max_length=16)
        amount = IntegerField()
        bucket = CharField(max_length=8, constraints=[Check("bucket IN ('bonus', 'paid')")])
        status = CharField(max_length=16, default="completed")
        balance_after = IntegerField()
        job = ForeignKeyField(Job, null=True, on_delete="RESTRICT")
        payment_id = CharField(max_length=255, null=True, unique=True)
        note = TextField(null=True)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "transactions"

    models = [User, Job, Transaction]
    database.bind(models)
    database.create_tables(models)
    # Identity is the lower-cased address whatever a caller stored.
    database.execute_sql("CREATE UNIQUE INDEX users_email_lower ON users (lower(email))")
