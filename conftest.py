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

# The fake platforms listen on 127.0.0.1: let channels point there, in this process and in the
# workers and commands it starts (they inherit the environment).
os.environ.setdefault("DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS", "1")
# A landing's visit is written straight to the database in tests (and in the servers they start),
# so it can be read back at once; tests/handoff/test_journal.py turns the journal on.
os.environ.setdefault("DUSK_VISIT_JOURNAL", "0")


@pytest.fixture(autouse=True)
def _private_platform_hosts_allowed(settings):
    """Settings were read before this file: turn the switch on for them too. A test of the
    refusals turns it off again."""
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = True


@pytest.fixture(autouse=True)
def _visits_stored_directly(settings):
    """Landings commit their visit themselves, so a test reads it back at once (the journal's
    own tests turn it on)."""
    settings.DUSK_VISIT_JOURNAL = False


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
    """A real `celery worker` process in its own process group: by default with an embedded beat
    and consuming every queue (as `make run`), or on the given queues only (`queues="cutover"`);
    given argv, any process (`deploy/run-process <name>` in the deploy tests)."""

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        name: str,
        argv: list[str] | None = None,
        queues: str = "",
        beat: bool = True,
    ) -> None:
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            argv
            or [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                *(["-B", "-s", str(workdir / f"{name}-beat-schedule")] if beat else []),
                *(["-Q", queues] if queues else []),
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

    def wait_ready(self, timeout: float = 60, marker: str = " ready.") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()}")


class Processes:
    """Real processes on the test database and broker, stopped at the end of the test."""

    def __init__(self, base_env, workdir: Path) -> None:
        self.base_env = base_env
        self.workdir = workdir
        self.started: list[Worker] = []

    def start(self, name: str = "w1", queues: str = "", beat: bool = True, **overrides: str) -> Worker:
        """A `celery worker`, by default with an embedded beat and consuming every queue."""
        worker = Worker({**self.base_env(), **overrides}, self.workdir, name, queues=queues, beat=beat)
        self.started.append(worker)
        return worker

    def run_process(self, process: str, name: str | None = None, **overrides: str) -> Worker:
        """`deploy/run-process <process>`: the deployed command itself (web, worker, beat...)."""
        env = {**self.base_env(), "DUSK_PYTHON": sys.executable, **overrides}
        argv = [str(ROOT / "deploy" / "run-process"), process]
        worker = Worker(env, self.workdir, name or process, argv=argv)
        self.started.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.started:
            worker.stop()
        if os.environ.get("DUSK_SHOW_WORKER_LOGS"):
            for worker in self.started:
                print(worker.log())


@pytest.fixture
def processes(transactional_db, tmp_path, settings):
    """Real processes (workers, beat, gunicorn) on the test database and the real broker:
    CELERY_BROKER_URL's, Redis or RabbitMQ (.ci/run runs the worker tests on both)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("worker tests need PostgreSQL: set DATABASE_URL (make test does)")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "amqp://")):
        pytest.skip("worker tests need a real broker: set CELERY_BROKER_URL (make test does)")
    if broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    else:
        # RabbitMQ (CELERY_BROKER_URL=amqp://...): empty every queue of settings.DUSK_QUEUES.
        from celery import current_app

        current_app.control.purge()
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

    started = Processes(base_env, tmp_path)
    yield started
    started.stop()


@pytest.fixture
def celery_workers(processes):
    """Start real workers on the test database and the real broker.

    Yields a function `start(name, queues="", beat=True, **env_overrides) -> Worker`.
    """
    return processes.start


@pytest.fixture
def deployed(processes):
    """Start the deployed commands: `deployed("beat")` runs `deploy/run-process beat`."""
    return processes.run_process


@pytest.fixture
def administrator(db, django_user_model):
    return _person(django_user_model, "ada", "admin")
