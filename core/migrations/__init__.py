"""Numbered schema migrations: `NNNN_name.py` modules with `apply(database, migrator)`."""

from __future__ import annotations

import importlib
import logging
import pkgutil

from peewee import CharField, Database, DateTimeField, Model, SqliteDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator

from core.db import db
from core.models import utcnow

logger = logging.getLogger(__name__)


class SchemaMigration(Model):
    name = CharField(primary_key=True, max_length=128)
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = db
        table_name = "schema_migrations"


def available() -> list[str]:
    """Migration module names in the order they apply."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name[:4].isdigit())


def pending() -> list[str]:
    """Migrations not yet applied to the bound database (read only: the services' role may not
    create tables, and only needs to know)."""
    if not SchemaMigration.table_exists():
        return available()
    done = {row.name for row in SchemaMigration.select()}
    return [name for name in available() if name not in done]


def migrate() -> list[str]:
    """Apply every pending migration, each in its own transaction; return their names."""
    database: Database = db.obj
    migrator = SqliteMigrator(database) if isinstance(database, SqliteDatabase) else PostgresqlMigrator(database)
    SchemaMigration.create_table(safe=True)
    applied = []
    for name in pending():
        module = importlib.import_module(f"{__name__}.{name}")
        with database.atomic():
            module.apply(database, migrator)
            SchemaMigration.create(name=name)
        logger.info("applied migration %s", name)
        applied.append(name)
    return applied
