"""Accounts that hold: a first admin's generated password must be changed at first sign-in, and
API keys get a version of their own, so signing out of the browser does not revoke them."""

from peewee import BooleanField, IntegerField
from playhouse.migrate import migrate


def apply(database, migrator) -> None:
    migrate(
        migrator.add_column("users", "must_change_password", BooleanField(default=False)),
        migrator.add_column("users", "key_version", IntegerField(default=0)),
    )
