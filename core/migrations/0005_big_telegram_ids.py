"""Telegram ids as 64-bit integers: user ids have up to 52 significant bits (newer accounts are
past 2**31) and group chat ids look like -100xxxxxxxxxx. SQLite's INTEGER is 64-bit already."""

from peewee import SqliteDatabase

COLUMNS = (("users", "telegram_id"), ("jobs", "chat_id"), ("jobs", "message_id"), ("jobs", "status_message_id"))


def apply(database, migrator) -> None:
    if isinstance(database, SqliteDatabase):
        return
    for table, column in COLUMNS:
        database.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE BIGINT')
