"""Dependencies point inward: core imports no front end and no framework but pika, in one module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_CORE = {"telegram", "flask", "rembg", "bot", "worker", "admin_panel", "onnxruntime"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def core_modules() -> list[Path]:
    return sorted((ROOT / "core").rglob("*.py"))


def test_core_imports_no_front_end_or_framework():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN_IN_CORE)
        for path in core_modules()
        if imported_roots(path) & FORBIDDEN_IN_CORE
    }
    assert offenders == {}


def test_only_the_queue_package_imports_pika():
    application = [path for package in ("core", "bot", "worker", "admin_panel")
                   for path in (ROOT / package).rglob("*.py")]
    importers = {str(path.relative_to(ROOT)) for path in application if "pika" in imported_roots(path)}
    assert {path.relative_to(ROOT).parts[0] for path in application} == {"core", "bot", "worker", "admin_panel"}
    assert importers == {"core/queue/rabbit.py", "core/queue/consumer.py"}  # equality: an empty scan must not pass


# What a front end may take from core's database module: scopes, a health check and the wait for
# an outage's end, never the database handle or the models, so every query is one of core's verbs.
FRONT_ENDS = ("bot", "worker", "admin_panel")
ALLOWED_FROM_CORE_DB = {"connection_scope", "enter_scope", "begin_scope", "exit_scope", "rest_connection",
                        "is_reachable", "wait_for_database", "through_outages"}


def core_names_imported(path: Path) -> dict[str, set[str]]:
    """For each core module a file imports from, the names it takes (`*` for the module itself)."""
    names: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core"):
            names.setdefault(node.module, set()).update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("core."):
                    names.setdefault(alias.name, set()).add("*")
    return names


def front_end_modules() -> list[Path]:
    return [*(path for package in FRONT_ENDS for path in (ROOT / package).rglob("*.py")), ROOT / "run.py"]


def test_front_ends_reach_the_data_only_through_core_verbs():
    offenders = {}
    for path in front_end_modules():
        imported = core_names_imported(path)
        wrong = set()
        if "core.models" in imported or "core.migrations" in imported:
            wrong.add("core.models/migrations")
        if imported.get("core.db", set()) - ALLOWED_FROM_CORE_DB:
            wrong.add(f"core.db: {sorted(imported['core.db'] - ALLOWED_FROM_CORE_DB)}")
        if "models" in imported.get("core", set()) or "db" in imported.get("core", set()):
            wrong.add("core.models or core.db as a module")
        if wrong:
            offenders[str(path.relative_to(ROOT))] = sorted(wrong)
    assert offenders == {}


def test_the_front_end_scan_sees_what_it_must_refuse(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from core.models import Job\nfrom core.db import db, connection_scope\nimport core.jobs\n")
    assert core_names_imported(module) == {"core.models": {"Job"}, "core.db": {"db", "connection_scope"},
                                           "core.jobs": {"*"}}
    scanned = {path.relative_to(ROOT).as_posix() for path in front_end_modules()}
    assert {"bot/photos.py", "worker/handler.py", "admin_panel/api.py", "run.py"} <= scanned


def test_the_scan_sees_imports():
    # Guards the two tests above against a scanner that finds nothing.
    assert "peewee" in imported_roots(ROOT / "core" / "models.py")
    scanned = {path.relative_to(ROOT).as_posix() for path in core_modules()}
    assert scanned >= {"core/models.py", "core/queue/base.py", "core/queue/rabbit.py", "core/jobs.py",
                       "core/billing.py", "core/settings.py"}
    assert len(scanned) > 10


def test_the_scan_catches_plain_dotted_and_from_imports(tmp_path):
    # The check above is only as good as imported_roots: it must catch each way of importing.
    module = tmp_path / "bad.py"
    module.write_text("import flask.views\nfrom telegram import Bot\nfrom .models import User\nimport os\n")
    assert imported_roots(module) & FORBIDDEN_IN_CORE == {"flask", "telegram"}
