"""`python -m core`: migrate, create-admin, ensure-admin, seed-demo, check-ledger, purge, storage-check,
storage-migrate."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from core import accounts, admin, audit, demo, migrations, retention, roles
from core.bootstrap import CHECK, SKIP, load_or_exit, start
from core.errors import CutoutError
from core.health import is_fresh
from core.logs import configure_logging
from core.storage import check_store, copy_store, open_storage, storage_location


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description="Cutout administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations (safe to run twice)")
    create = commands.add_parser("create-admin", help="create an admin (ADMIN_PASSWORD or a prompt)")
    create.add_argument("--email", required=True)
    create.add_argument("--promote-existing", action="store_true",
                       help="make an existing account an admin, with a new password; its sign-ins end")
    commands.add_parser("ensure-admin", help="on a database without an admin, create the first one "
                                             "(ADMIN_EMAIL, ADMIN_PASSWORD or a one-time password)")
    commands.add_parser("seed-demo", help="add three demo users with a ledger history")
    commands.add_parser("check-ledger", help="verify the ledger's invariants for every user")
    purge = commands.add_parser("purge", help="delete the files of old finished jobs")
    purge.add_argument("--older-than", default=None, help="an age such as 30d, 12h or 90m")
    commands.add_parser("storage-check", help="write, read and delete one object in STORAGE_URL; say what is wrong")
    copy = commands.add_parser("storage-migrate", help="copy job files from one store to another (resumable)")
    copy.add_argument("--from", dest="source", help="a directory or s3://bucket/prefix (default: STORAGE_DIR)")
    copy.add_argument("--to", dest="target", help="a directory or s3://bucket/prefix (default: STORAGE_URL)")
    health = commands.add_parser("healthcheck", help="exit 0 when a process's heartbeat file is fresh")
    health.add_argument("--heartbeat", required=True, help="the file the process touches")
    health.add_argument("--max-age", type=float, default=120, help="seconds")
    args = parser.parse_args(argv)

    if args.command == "healthcheck":  # needs neither settings nor the database
        return 0 if is_fresh(args.heartbeat, args.max_age) else 1
    if args.command in STORE_COMMANDS:  # the files only, not the database
        settings = load_or_exit()
        configure_logging(settings)
        return STORE_COMMANDS[args.command](args, settings)
    settings = start(schema=SKIP if args.command == "migrate" else CHECK)
    try:
        return COMMANDS[args.command](args, settings)
    except CutoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _migrate(args, settings) -> int:  # start() skipped the schema check for this command
    applied = migrations.migrate()
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date")
    if roles.ensure_app_role(settings.database_app_role, settings.database_app_password or None):
        print(f"the application role {settings.database_app_role} may read and write rows, and nothing more")
    return 0


def _create_admin(args, settings) -> int:
    email = accounts.normalize_email(args.email)
    if accounts.admin_candidate(email, promote_existing=args.promote_existing) == "admin":
        print(f"{email} is already an admin")
        return 0
    password = settings.admin_password or getpass.getpass(f"New password for {email}: ")
    made, created = admin.create_admin(email, password, promote_existing=args.promote_existing)
    print(f"created admin {made.email}" if created
          else f"{made.email} is now an admin with the new password; its earlier sign-ins are revoked")
    return 0


def _ensure_admin(args, settings) -> int:
    announce_first_admin(settings)
    return 0


def announce_first_admin(settings) -> None:
    """On a database without an admin, make one (ADMIN_EMAIL/ADMIN_PASSWORD, or a one-time password
    printed here, to be changed at the first sign-in); `make run` and compose's migrate run it
    before the panel takes registrations."""
    made = admin.ensure_first_admin(settings.admin_email or None, settings.admin_password or None)
    if made is None:
        return
    email = made.user.email
    if made.generated_password is None:
        print(f"\n  Admin created: {email} (password from ADMIN_PASSWORD)\n", flush=True)
    else:
        # Printed to the terminal once, never logged.
        print(f"\n  Admin created: {email}\n  One-time password: {made.generated_password}\n"
              f"  Sign in at {settings.public_url}/admin/login: it asks for a new password first.\n", flush=True)


def _seed_demo(args, settings) -> int:
    for user in demo.seed_demo(settings, open_storage(settings)):
        print(f"user {user.id} {user.display_name}: {user.balance.bonus} bonus + {user.balance.paid} paid credits")
    return 0


def _check_ledger(args, settings) -> int:
    problems = audit.check_ledger()
    for problem in problems:
        print(f"user {problem.user_id}: {problem.message}")
    if problems:
        users = sorted({p.user_id for p in problems})
        print(f"ledger check FAILED for {len(users)} user(s): {', '.join(map(str, users))}")
        return 1
    print(f"ledger OK for {accounts.count_users()} user(s)")
    return 0


def _purge(args, settings) -> int:
    try:
        age = retention.parse_age(args.older_than or f"{settings.purge_older_than_days}d")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = retention.purge_files(open_storage(settings), age)
    print(f"purged the files of {count} job(s)")
    return 0


def _storage_check(args, settings) -> int:
    store, started = open_storage(settings), time.monotonic()  # STORAGE_URL was checked with the settings
    try:
        size = check_store(store)
    except Exception as exc:  # the operator gets the cause in one line, whatever it is
        print(f"storage FAILED ({storage_location(settings)}): {store.explain(exc)}")
        return 1
    print(f"storage OK: {store!r}: wrote, read and deleted {size} bytes in {time.monotonic() - started:.2f} s")
    return 0


def _storage_migrate(args, settings) -> int:
    source_url, target_url = args.source or settings.storage_dir, args.target or settings.storage_url
    if not target_url or source_url == target_url:
        print("error: name a store to copy to that is not the source (--to, or STORAGE_URL)", file=sys.stderr)
        return 2
    try:
        source, target = open_storage(settings, source_url), open_storage(settings, target_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def report(key, exc):
        print(f"could not copy {key}: {target.explain(exc)}", file=sys.stderr)

    copied, present, failed = copy_store(source, target, report)
    print(f"{source!r} -> {target!r}: copied {copied}, already there {present}, failed {failed}")
    return 1 if failed else 0


STORE_COMMANDS = {"storage-check": _storage_check, "storage-migrate": _storage_migrate}

COMMANDS = {
    "migrate": _migrate,
    "ensure-admin": _ensure_admin,
    "create-admin": _create_admin,
    "seed-demo": _seed_demo,
    "check-ledger": _check_ledger,
    "purge": _purge,
}


