"""Each finished job keeps the model's mask beside its output (and which model made it), and a
re-render of a job from that mask is a row of `renders`: what was asked, by whom, at what price."""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField, UUIDField
from playhouse.migrate import migrate

from core.models import utcnow


def apply(database, migrator) -> None:
    migrate(
        migrator.add_column("jobs", "mask_key", CharField(max_length=128, null=True)),
        migrator.add_column("jobs", "model", CharField(max_length=64, null=True)),
    )

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

    class Render(Base):
        job = ForeignKeyField(Job, on_delete="RESTRICT", index=True)
        user = ForeignKeyField(User, on_delete="RESTRICT")
        options = TextField()
        price = IntegerField()
        created_at = DateTimeField(default=utcnow, index=True)
        refunded_at = DateTimeField(null=True)

        class Meta:
            table_name = "renders"

    database.bind([User, Job, Render])
    database.create_tables([Render])
