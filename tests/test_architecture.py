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


def test_only_the_queue_module_imports_pika():
    application = [path for package in ("core", "bot", "worker", "admin_panel")
                   for path in (ROOT / package).rglob("*.py")]
    importers = {str(path.relative_to(ROOT)) for path in application if "pika" in imported_roots(path)}
    assert importers <= {"core/queue.py"}


def test_the_scan_sees_imports():
    # Guards the two tests above against a scanner that finds nothing.
    assert "peewee" in imported_roots(ROOT / "core" / "models.py")
    assert len(core_modules()) > 10
