"""Schemathesis against the API's own OpenAPI document, in-process through the
WSGI application on the test database: every operation, generated inputs, no
5xx and no response that breaks the schema."""

import json

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.middleware.csrf import _get_new_csrf_string
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from channels_app.accounts.services import create_api_token
from channels_app.core.permissions import ROLES, ensure_roles
from channels_app.tests.support.factories import AssignmentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import approved_plan, hard_close_plan
from portal.wsgi import application

# A schema-valid request may still break a rule only the services know (an IANA
# zone, a unique name, a plan's state), so a 400/409 for it is right, not a bug.
DOMAIN_RULES = [positive_data_acceptance]
# Small per operation: this proves robustness and conformance, not exhaustiveness,
# and keeps the whole module within about a minute on two cores.
MAX_EXAMPLES = 6


@pytest.fixture
def signed_in(db, django_user_model, client, settings):
    """A session of someone holding every role (all operations are open to them)
    plus a CSRF pair, as a browser would send them."""
    settings.DUSK_API_RATE_USER = None  # the generator must not be rate limited
    user = django_user_model.objects.create_user(username="fuzz", password="x" * 20, email="fuzz@example.com")
    ensure_roles()
    user.groups.set(Group.objects.filter(name__in=ROLES))
    client.force_login(user)
    csrf = _get_new_csrf_string()
    _, token = create_api_token(actor=user, name="schemathesis", scopes=["read", "write"])
    return {
        "token": {"Authorization": f"Bearer {token}"},
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
        "csrf": {"X-CSRFToken": csrf},
    }


@pytest.fixture
def sample_data(db, django_user_model):
    """Objects with small ids, so generated ids often hit real rows."""
    author = django_user_model.objects.create_user(username="author", email="author@example.com")
    reviewer = django_user_model.objects.create_user(username="reviewer", email="reviewer@example.com")
    ensure_roles()
    author.groups.set(Group.objects.filter(name="manager"))
    reviewer.groups.set(Group.objects.filter(name="approver"))
    channel = ChannelFactory(kind="x")
    team = TeamFactory()
    team.channels.add(channel)
    AssignmentFactory(team=team)
    hard_close_plan(manager=author, channels=[channel])
    approved_plan(manager=author, approver=reviewer, channels=[ChannelFactory(kind="discourse")])
    create_api_token(actor=author, name="ci", scopes=["read"])


@pytest.fixture
def in_test_transaction():
    """The WSGI handler closes the database connection after each request (which
    returns it to the pool and rolls back the test's transaction). Django's own
    test client switches that off while it calls the application; do the same."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _load_schema():
    """The document /api/schema/ serves, generated the same way (no request or
    database needed), bound to the WSGI application so calls stay in-process."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(document, default=str)))
    loaded.app = application
    return loaded


schema = _load_schema()


def test_served_schema_is_the_one_tested(client, viewer):
    client.force_login(viewer)
    served = client.get("/api/schema/?format=json").json()
    assert served["paths"].keys() == schema.raw_schema["paths"].keys()
    assert len(list(schema.get_all_operations())) >= 40


@pytest.mark.usefixtures("in_test_transaction", "sample_data")
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_every_operation_conforms_to_the_schema(case, signed_in):
    if case.path.startswith("/api/v1/tokens/"):
        # Tokens are managed from a browser session only (a token cannot mint
        # tokens). Schemathesis cannot strip a session cookie it did not set, so
        # its "invalid auth is refused" probe does not apply to these operations;
        # test_api_tokens.py checks that without a session they answer 401/403.
        case.call_and_validate(
            headers=signed_in["csrf"], cookies=signed_in["cookies"], excluded_checks=[ignored_auth, *DOMAIN_RULES]
        )
    else:
        case.call_and_validate(headers=signed_in["token"], excluded_checks=DOMAIN_RULES)


# --- negative data: what the schema forbids, the server refuses (4xx), and never with a 5xx ----------

negative_schema = _load_schema()
negative_schema.config.generation.update(modes=[GenerationMode.NEGATIVE], deterministic=True)
NEGATIVE_EXAMPLES = 3
NEGATIVE_CHECKS = [not_a_server_error]


@pytest.mark.usefixtures("in_test_transaction", "sample_data")
@negative_schema.parametrize()
@hypothesis_settings(
    max_examples=NEGATIVE_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_refuses_what_the_schema_forbids(case, signed_in):
    if case.path.startswith("/api/v1/tokens/"):
        case.call_and_validate(
            headers=signed_in["csrf"],
            cookies=signed_in["cookies"],
            checks=NEGATIVE_CHECKS,
        )
    else:
        case.call_and_validate(headers=signed_in["token"], checks=NEGATIVE_CHECKS)


# --- stateful: links between operations (create, then read, change, act on what was created) -------


@pytest.mark.usefixtures("in_test_transaction", "sample_data")
def test_sequences_of_calls_never_answer_a_server_error(signed_in):
    machine = schema.as_state_machine()
    token = signed_in["token"]

    class Machine(machine):
        def get_call_kwargs(self, case):
            return {"headers": token}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=[not_a_server_error], **kwargs)

    Machine.run(
        settings=hypothesis_settings(
            max_examples=8,
            stateful_step_count=4,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_the_schema_states_the_page_bounds_the_server_enforces(client, viewer):
    client.force_login(viewer)
    served = client.get("/api/schema/?format=json").json()
    parameters = {p["name"]: p["schema"] for p in served["paths"]["/api/v1/plans/"]["get"]["parameters"]}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    for outside in ("0", "201", "-1", "x"):
        assert client.get(f"/api/v1/plans/?page_size={outside}").status_code == 400, outside
    assert client.get("/api/v1/plans/?page_size=200").status_code == 200
    assert client.get("/api/v1/plans/?page=0").status_code == 404
    # Lengths: what a serializer caps, the schema says.
    body = served["components"]["schemas"]["ChannelInputRequest"]["properties"]
    assert body["name"]["maxLength"] == 120
