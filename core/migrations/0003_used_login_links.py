"""One-time sign-in links the bot hands out (`/web`): ids of those already redeemed."""

from peewee import CharField, DateTimeField, ForeignKeyField, Model

from core.models import utcnow


def apply(database, migrator) -> None:
    class Base(Model):
        class Meta:
            database = None

    class User(Base):
        class Meta:
            table_name = "users"

    class UsedLoginLink(Base):
        jti = CharField(primary_key=True, max_length=64)
        user = ForeignKeyField(User, on_delete="CASCADE")
        used_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "used_login_links"

    database.bind([User, UsedLoginLink])
    database.create_tables([UsedLoginLink])
