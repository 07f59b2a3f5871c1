"""Photos sent together are one album (one status message, its jobs point at it); a person's
sticker sets on Telegram, the stickers the bot put there, and the emoji of their next sticker."""

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    UUIDField,
)
from playhouse.migrate import migrate

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

    class Render(Base):
        class Meta:
            table_name = "renders"

    class Album(Base):
        user = ForeignKeyField(User, on_delete="RESTRICT")
        chat_id = BigIntegerField()
        media_group_id = CharField(max_length=64)
        status_message_id = BigIntegerField(null=True)
        photos = IntegerField()
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "albums"
            indexes = ((("chat_id", "media_group_id"), True),)

    class StickerSet(Base):
        user = ForeignKeyField(User, on_delete="RESTRICT")
        name = CharField(max_length=64, unique=True)
        title = CharField(max_length=64)
        number = IntegerField()
        stickers = IntegerField(default=0)
        full = BooleanField(default=False)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "sticker_sets"
            indexes = ((("user", "number"), True),)

    class Sticker(Base):
        sticker_set = ForeignKeyField(StickerSet, on_delete="RESTRICT")
        user = ForeignKeyField(User, on_delete="RESTRICT")
        job = ForeignKeyField(Job, on_delete="RESTRICT")
        render = ForeignKeyField(Render, null=True, on_delete="RESTRICT")
        file_id = CharField(max_length=255)
        emoji = CharField(max_length=32)
        added_at = DateTimeField(default=utcnow)
        removed_at = DateTimeField(null=True)

        class Meta:
            table_name = "stickers"

    database.bind([User, Job, Render, Album, StickerSet, Sticker])
    database.create_tables([Album, StickerSet, Sticker])
    migrate(
        migrator.add_column("users", "sticker_emoji", CharField(max_length=32, null=True)),
        migrator.add_column("jobs", "album_id", ForeignKeyField(Album, null=True, on_delete="RESTRICT",
                                                                field=Album.id)),
    )
