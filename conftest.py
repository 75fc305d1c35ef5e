"""Shared fixtures: named people, a real SMTP server, real Celery workers."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import translation

from channels_app.core.permissions import ensure_roles

ROOT = Path(__file__).resolve().parent


def _person(django_user_model, username: str, *roles: str):
    ensure_roles()
    user = django_user_model.objects.create_user(
        username=username, email=f"{username}@example.com", password="correct horse battery staple"
    )
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


@pytest.fixture(scope="session", autouse=True)
def platform_sandbox():
    """The platforms every channel plays against unless a test gives it its own fake: a channel
    the factories make names a DUSK_CHANNEL_TEST_* token and the sandbox's URL for its kind, so
    the preflight's connection test (submission, approval, the freeze step) reaches a platform."""
    from channels_app.tests.support.factories import TEST_TOKEN_ENV, TEST_URL_ENV
    from channels_app.tests.support.sandbox import DEMO_TOKEN_ENV, SANDBOX_URL_ENV, Sandbox

    with Sandbox(token_env=TEST_TOKEN_ENV, url_env=TEST_URL_ENV) as sandbox:
        values = sandbox.environment()
        # The demo (seed_demo) plays against the same fakes in tests.
        values |= Sandbox(token_env=DEMO_TOKEN_ENV, url_env={}).environment()
        values |= {SANDBOX_URL_ENV[kind]: fake.base_url for kind, fake in sandbox.fakes.items()}
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)  # before any worker process starts: they inherit it
        yield sandbox
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """LocaleMiddleware activates the request's language for the whole thread and never resets
    it: after a test that asked for French, text built outside a request (services, the solver)
    would come out in French in the next test."""
    yield
    translation.deactivate()


@pytest.fixture
def manager(db, django_user_model):
    return _person(django_user_model, "maya", "manager")


@pytest.fixture
def other_manager(db, django_user_model):
    return _person(django_user_model, "mo", "manager")


@pytest.fixture
def approver(db, django_user_model):
    return _person(django_user_model, "arjun", "approver")


@pytest.fixture
def hr_coordinator(db, django_user_model):
    return _person(django_user_model, "hana", "hr_coordinator")


@pytest.fixture
def viewer(db, django_user_model):
    return _person(django_user_model, "vic", "viewer")


@pytest.fixture
def outsider(db, django_user_model):
    return _person(django_user_model, "olga")


@pytest.fixture
def smtp_server():
    from channels_app.tests.support.fakeplatforms import FakeSMTP

    with FakeSMTP() as sink:
        yield sink


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    return smtp_server


class Worker:
    """A real `celery worker -B` process in its own process group."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-B",
                "-s",
                str(workdir / f"{name}-beat-schedule"),
                "--concurrency=1",
                "--pool=prefork",
                "-n",
                f"{name}@%h",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole group: main process, pool child and beat."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()}")


@pytest.fixture
def celery_workers(transactional_db, tmp_path, settings):
    """Start real workers on the test database and the real broker.

    Yields a function `start(name, **env_overrides) -> Worker`.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("worker tests need PostgreSQL: set DATABASE_URL (make test does)")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "amqp://")):
        pytest.skip("worker tests need a real broker: set CELERY_BROKER_URL (make test does)")
    if broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    db = connection.settings_dict

    def base_env() -> dict[str, str]:
        # Read at start time so fixtures that change email settings come first.
        return {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            "DATABASE_POOL": "0",
            "DUSK_SWEEP_INTERVAL": "0.5",
            "DUSK_REAP_INTERVAL": "1",
            "DUSK_VAR_DIR": str(tmp_path / "var"),
            "EMAIL_BACKEND": settings.EMAIL_BACKEND,
            "EMAIL_HOST": str(settings.EMAIL_HOST),
            "EMAIL_PORT": str(settings.EMAIL_PORT),
            "PYTHONUNBUFFERED": "1",
        }

    workers: list[Worker] = []

    def start(name: str = "w1", **overrides: str) -> Worker:
        worker = Worker({**base_env(), **overrides}, tmp_path, name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    if os.environ.get("DUSK_SHOW_WORKER_LOGS"):
        for worker in workers:
            print(worker.log())


@pytest.fixture
def administrator(db, django_user_model):
    return _person(django_user_model, "ada", "admin")
