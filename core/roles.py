"""PostgreSQL roles: the owner migrates (DDL); the services connect as an application role that
may read and write rows and nothing else, and may not delete from or rewrite the ledger and the
audit log (the append-only triggers of migration 0012 hold for the owner too)."""

from __future__ import annotations

import logging

from psycopg2 import sql

from core.db import db, is_postgres

logger = logging.getLogger(__name__)

# Tables whose rows the application only adds (and, for the ledger, moves a charge's status).
APPEND_ONLY = {"transactions": ("DELETE",), "admin_actions": ("UPDATE", "DELETE")}


def ensure_app_role(role: str, password: str | None = None) -> bool:
    """Create `role` (with LOGIN and `password`) if it is missing, and give it exactly what the
    application needs on every table and sequence there is now; run after each migration. Nothing
    on SQLite (no roles). True when it did something."""
    if not is_postgres() or not role:
        return False
    name = sql.Identifier(role)
    with db.atomic():
        exists = db.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            db.execute_sql(_text(sql.SQL("CREATE ROLE {} LOGIN").format(name)))
            logger.info("created the application role %s", role)
        if password:
            db.execute_sql(_text(sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(name)), (password,))
        for statement in (
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
            "GRANT USAGE ON SCHEMA public TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            db.execute_sql(_text(sql.SQL(statement).format(role=name)))
        for table, privileges in APPEND_ONLY.items():
            db.execute_sql(_text(sql.SQL("REVOKE {} ON {} FROM {}").format(
                sql.SQL(", ").join(map(sql.SQL, privileges)), sql.Identifier(table), name)))
    logger.info("the application role %s may read and write rows, and nothing more", role)
    return True


def _text(composed: sql.Composable) -> str:
    """A psycopg2 composition as the text peewee's execute_sql takes."""
    connection = db.connection()
    return composed.as_string(connection)
