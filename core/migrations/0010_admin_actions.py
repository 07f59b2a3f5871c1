"""The admins' audit log: who did what, to whom, when and why (append-only, see 0011)."""

from peewee import CharField, DateTimeField, ForeignKeyField, Model, TextField

from core.models import utcnow


def apply(database, migrator) -> None:
    class Base(Model):
        class Meta:
            database = None

    class User(Base):
        class Meta:
            table_name = "users"

    class AdminAction(Base):
        admin = ForeignKeyField(User, null=True, on_delete="RESTRICT")
        action = CharField(max_length=32, index=True)
        user = ForeignKeyField(User, null=True, on_delete="RESTRICT")
        subject = CharField(max_length=255, null=True)
        reason = TextField(null=True)
        detail = TextField(null=True)
        created_at = DateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "admin_actions"

    database.bind([User, AdminAction])
    database.create_tables([AdminAction])
