"""The house rules that tools check: every module imports on its own (no import cycle hidden by
the order Django happens to load things in), and import-linter's contracts hold."""

import ast
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "channels_app"

# Django is set up once, with the admin's autodiscovery switched off (it imports most of the app
# first and would hide a cycle); then each module is imported in a forked child of that process,
# so it meets nothing of the app but what django.setup() itself loaded.
SETUP = """
import importlib, os, sys, traceback
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
from django.contrib import admin
admin.autodiscover = lambda: None
import django
django.setup()
preloaded = sorted(m for m in sys.modules if m.startswith("channels_app."))
print("PRELOADED", " ".join(preloaded), flush=True)
"""
ALONE = (
    SETUP
    + """
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            print("FAILED", name, traceback.format_exc().strip().splitlines()[-1], flush=True)
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)
"""
)
TOGETHER = (
    SETUP
    + """
for name in sys.argv[1:]:
    importlib.import_module(name)
"""
)


def app_modules() -> list[str]:
    names = []
    for path in APP.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if {"tests", "migrations"} & set(rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return sorted(names)


def _run(script: str, *names: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", script, *names], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_app_has_the_modules_this_test_expects():
    modules = app_modules()
    assert "channels_app.plans.services.plans" in modules and "channels_app.core.zones" in modules
    assert len(modules) > 60


def test_setup_loads_only_the_models_and_what_they_need():
    """Otherwise "alone" below would not mean much."""
    result = _run(SETUP)
    assert result.returncode == 0, result.stderr[-2000:]
    preloaded = result.stdout.split("PRELOADED", 1)[1].split()
    # A feature's system checks (its checks.py, registered in apps.py) load with setup; they
    # import core only, so the feature's package itself is all else they bring.
    checks = {name for name in preloaded if name.endswith(".checks")}
    packages = {name.rsplit(".", 1)[0] for name in checks}
    assert all(
        name.startswith(("channels_app.models", "channels_app.core", "channels_app.apps")) or name in checks | packages
        for name in preloaded
    ), preloaded


def test_every_module_imports_alone_in_a_fresh_interpreter():
    modules = app_modules()
    random.shuffle(modules)
    result = _run(ALONE, *modules)
    assert result.returncode == 0, result.stderr[-2000:]
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert not failed, "\n".join(failed)


def test_all_modules_import_together_in_a_random_order():
    modules = app_modules()
    seed = random.randrange(1 << 30)
    random.Random(seed).shuffle(modules)
    result = _run(TOGETHER, *modules)
    assert result.returncode == 0, f"seed {seed}: {result.stderr[-2000:]}"


@pytest.mark.parametrize("bad_import", ["from channels_app.plans import views"])
def test_import_linter_holds_and_catches_a_forbidden_import(tmp_path, bad_import):
    lint = Path(sys.executable).with_name("lint-imports")
    kept = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert kept.returncode == 0, kept.stdout[-3000:]
    # The same contracts over a copy of the app in which a service imports a view: refused.
    copy = tmp_path / "repo"
    copy.mkdir()
    subprocess.run(["cp", "-r", str(APP), str(ROOT / "pyproject.toml"), str(copy)], check=True)
    target = copy / "channels_app" / "audit" / "services.py"
    target.write_text(target.read_text() + f"\n{bad_import}  # deliberately forbidden\n")
    broken = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(copy)},
    )
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "channels_app.audit is not allowed to import channels_app.plans" in broken.stdout


def test_no_module_of_the_app_imports_another_modules_private_name():
    """An underscore name is its module's business: another module that needs it needs a public
    name (ruff's import-private-name rule does not look inside one package, so this test does)."""
    found = []
    for module in app_modules():
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("channels_app")):
                found += [
                    f"{module}: {alias.name} from {node.module}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not found, found
