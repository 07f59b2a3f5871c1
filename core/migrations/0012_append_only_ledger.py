"""The ledger and the admins' audit log are append-only in PostgreSQL itself, for every role (the
tables' owner included): a trigger refuses DELETE, and every UPDATE but the one the design needs,
a pending charge becoming completed or refunded, once, with nothing else changed. A deliberate
correction is a new row. (TRUNCATE is a DDL-like privilege the application role does not hold.)
SQLite, the single-machine default, has no roles to separate; the rule is PostgreSQL's."""

from peewee import SqliteDatabase

LEDGER_GUARD = """
CREATE OR REPLACE FUNCTION cutout_ledger_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND NEW.status IN ('completed', 'refunded')
       AND (NEW.id, NEW.user_id, NEW.kind, NEW.amount, NEW.bucket, NEW.balance_after, NEW.job_id,
            NEW.payment_id, NEW.note, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.user_id, OLD.kind, OLD.amount, OLD.bucket, OLD.balance_after, OLD.job_id,
            OLD.payment_id, OLD.note, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: %% of transaction %% refused (a correction is a new row)',
        TG_OP, OLD.id USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""

AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION cutout_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%% is append-only: %% refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


# "%%": psycopg2 reads a lone % as a parameter; PL/pgSQL gets "%", its own placeholder.


def apply(database, migrator) -> None:
    if isinstance(database, SqliteDatabase):
        return
    database.execute_sql(LEDGER_GUARD)
    database.execute_sql(AUDIT_GUARD)
    database.execute_sql("DROP TRIGGER IF EXISTS ledger_append_only ON transactions")
    database.execute_sql("CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON transactions "
                         "FOR EACH ROW EXECUTE FUNCTION cutout_ledger_guard()")
    database.execute_sql("DROP TRIGGER IF EXISTS audit_append_only ON admin_actions")
    database.execute_sql("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON admin_actions "
                         "FOR EACH ROW EXECUTE FUNCTION cutout_append_only()")
