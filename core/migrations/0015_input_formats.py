"""What a job's photo was (its format, and whether only an animation's first frame was used), and
whether a person has been told once that a photo sent as a file keeps its full resolution."""

from peewee import BooleanField, CharField
from playhouse.migrate import migrate


def apply(database, migrator) -> None:
    migrate(
        migrator.add_column("jobs", "input_format", CharField(max_length=16, null=True)),
        migrator.add_column("jobs", "first_frame_only", BooleanField(default=False)),
        migrator.add_column("users", "told_send_as_file", BooleanField(default=False)),
    )
