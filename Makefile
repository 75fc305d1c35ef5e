# Dusk: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Tests run on real PostgreSQL and Redis; override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dusk
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run install install-dev check test bench-cutover bench-lag faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The official twitter-text (npm), run by the tests as the oracle for X's weighted length.
TWITTER_TEXT := channels_app/tests/support/twitter_text

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(TWITTER_TEXT)/package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	cd $(TWITTER_TEXT) && npm ci --no-audit --no-fund --ignore-scripts --silent
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: set up on embedded defaults (SQLite, filesystem broker), load the demo,
## and serve the portal on http://127.0.0.1:$(PORT) with a worker and beat, and the
## platform sandbox (the tests' fakes) on 127.0.0.1:$(SANDBOX_PORT)-$(SANDBOX_PORT)+4,
## which the demo's channels talk to (docs/preflight-and-sandbox.md). The worker consumes every
## queue in CELERY_TASK_QUEUES; docs/scaling.md splits them over workers.
SANDBOX_PORT ?= 8100
# What the sandbox accepts, and the secrets the demo's webhooks are signed with; the demo's
# channels name these variables (seed_demo, docs/preflight-and-sandbox.md).
DEMO_ENV := DJANGO_DEBUG=1 DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS=1 DUSK_SANDBOX_PORT=$(SANDBOX_PORT) \
  DUSK_CHANNEL_DEMO_X_TOKEN=x-bearer-token DUSK_CHANNEL_DEMO_YOUTUBE_TOKEN=yt-oauth-token \
  DUSK_CHANNEL_DEMO_DISCOURSE_TOKEN=discourse-key DUSK_CHANNEL_DEMO_MESSENGER_TOKEN=page-token \
  DUSK_CHANNEL_X_SECRET=demo-x-consumer-secret DUSK_CHANNEL_DISCOURSE_SECRET=demo-discourse-secret \
  DUSK_CHANNEL_MESSENGER_SECRET=demo-messenger-app-secret \
  DUSK_CHANNEL_MESSENGER_SECRET_VERIFY_TOKEN=demo-messenger-verify-token \
  DUSK_CHANNEL_EMAIL_SECRET=demo-mailgun-signing-key DUSK_PUBLIC_URL=http://127.0.0.1:$(PORT)
run: $(VENV)/.installed
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	@$(DEMO_ENV) bash -c 'trap "kill 0" EXIT INT TERM; \
	  $(BIN)/python manage.py serve_sandbox & \
	  sleep 1; $(BIN)/python manage.py seed_demo || exit 1; \
	  echo "Portal: http://127.0.0.1:$(PORT)/  Sandbox: http://127.0.0.1:$$(($(SANDBOX_PORT)+4))/  (Ctrl-C stops all)"; \
	  $(BIN)/celery -A portal worker -B --loglevel=INFO --concurrency=2 & \
	  $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)'

## check: lint, format, the import contracts (docs/architecture.md), Django checks, migrations up to date.
check: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

## test: install, check, then run the whole suite on PostgreSQL and Redis.
test: check
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	DUSK_FAST_PASSWORD_HASHER=1 \
	$(BIN)/pytest $(PYTEST_ARGS)

## test-rabbitmq: the worker tests (real Celery workers) again with RabbitMQ as the broker, on its
## `dusk_test` virtual host (.ci/run creates it); the fault harness ran on both brokers in `make test`.
TEST_RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672/dusk_test
.PHONY: test-rabbitmq
test-rabbitmq: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$(TEST_RABBITMQ_URL) \
	DUSK_FAST_PASSWORD_HASHER=1 \
	$(BIN)/pytest -m worker -k "not injected_faults and not cluster" $(PYTEST_ARGS)

## bench-cutover: the cutover's database work against hand-written SQL.
bench-cutover: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/cutover.py

## bench-lag: delay from scheduled instant to run start with a real worker and beat.
bench-lag: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/9} \
	$(BIN)/python bench/schedule_lag.py

## faults: the fault-injection harness (SIGKILLed workers, broker restarts,
## terminated PostgreSQL backends); TRIALS=100 for the full run, BROKER=rabbitmq for RabbitMQ
## (a private node the harness kills and restarts).
TRIALS ?= 100
BROKER ?= redis
faults: $(VENV)/.installed-dev
	DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS=1 DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/faults.py --trials $(TRIALS) --broker $(BROKER)

## bench-cluster: two web nodes behind a round-robin proxy, three workers on two queues, two beats,
## PostgreSQL and a private RabbitMQ node; a cutover and webhook traffic while one node of each kind
## is killed (about a minute a trial).
.PHONY: bench-cluster
CLUSTER_TRIALS ?= 3
bench-cluster: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/cluster.py --trials $(CLUSTER_TRIALS)

## phase-order: workers stopped while notice, soft close and hard close fall due, then two
## workers (one with beat) start; repeated PHASE_ORDER_TRIALS times, prints a RESULT line.
PHASE_ORDER_TRIALS ?= 20
.PHONY: phase-order
phase-order: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	DUSK_FAST_PASSWORD_HASHER=1 DUSK_PHASE_ORDER_TRIALS=$(PHASE_ORDER_TRIALS) \
	$(BIN)/pytest channels_app/tests/cutover/test_phase_order_worker.py -q -s -p no:cacheprovider

## publication-faults: real workers SIGKILLed while each public-notice change is in doubt (X's
## posts, the forum topic, the Messenger greeting, YouTube's description and localizations),
## PUBLICATION_FAULT_TRIALS times; each change must end made once on its fake platform.
PUBLICATION_FAULT_TRIALS ?= 20
.PHONY: publication-faults
publication-faults: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	DUSK_FAST_PASSWORD_HASHER=1 PUBLICATION_FAULT_TRIALS=$(PUBLICATION_FAULT_TRIALS) \
	$(BIN)/pytest channels_app/tests/cutover/test_public_notice_worker.py -q -p no:cacheprovider \
		-k killed_mid_publication

## bench-reassign: suggest and apply a reassignment plan for 10,000 agents and 300 teams.
.PHONY: bench-reassign
bench-reassign: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/reassign.py

## bench-outcomes: the outcome report (30/60/90 days) for 100,000 moved agents with 400 days of history.
.PHONY: bench-outcomes
bench-outcomes: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/outcomes.py

.PHONY: bench-webhook bench-outbox

## bench-webhook: the X webhook vs a bare Django view on gunicorn and PostgreSQL, driven by wrk
## (installed with apt-get when missing, as .ci/run installs system packages); uses its own Redis
## database for the broker (BENCH_BROKER_URL).
bench-webhook: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	BENCH_BROKER_URL=$${BENCH_BROKER_URL:-redis://127.0.0.1:6379/14} \
	$(BIN)/python bench/webhook.py

## bench-outbox: auto-replies per second from the outbox sender to a local fake X.
bench-outbox: $(VENV)/.installed-dev
	DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS=1 DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/outbox.py

clean:
	rm -rf var/ .pytest_cache .ruff_cache

.PHONY: bench-pages bench-landing messages

## bench-landing: the landing page at the tracked link vs a bare Django view on gunicorn and PostgreSQL.
bench-landing: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/landing.py

## bench-pages: the portal's main pages on a big database vs an empty one.
bench-pages: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python bench/pages.py

## messages: refresh and compile the fr/id UI translations (needs gettext; the
## compiled .mo files are committed, so running the portal does not).
messages: $(VENV)/.installed
	$(BIN)/python manage.py makemessages -l fr -l id --ignore=.venv --ignore=var --ignore=artifacts --no-obsolete --add-location=file
	$(BIN)/python manage.py compilemessages --ignore=.venv
