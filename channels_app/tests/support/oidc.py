"""A real OpenID Connect provider on 127.0.0.1 for the SSO tests: oidc-provider-mock's Flask
app served by werkzeug on an ephemeral port, in a thread. People are set with their claims
(`set_person`) through the provider's own HTTP API; signing in picks one by `sub` on the
provider's authorization form."""

import threading

import httpx
import oidc_provider_mock
import werkzeug.serving

CLIENT_ID = "dusk-tests"
CLIENT_SECRET = "dusk-tests-client-secret"
ROLE_GROUPS = ["approver=dusk-approvers", "manager=dusk-managers", "viewer=dusk-everyone"]


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class OidcProvider:
    def __init__(self):
        self.server = werkzeug.serving.make_server(
            "127.0.0.1", 0, oidc_provider_mock.app(), threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def set_person(self, sub: str, **claims) -> None:
        response = httpx.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def settings(self) -> dict[str, object]:
        """Dusk's settings for this provider, as the DUSK_OIDC_* variables would set them."""
        return {
            "DUSK_OIDC_CLIENT_ID": CLIENT_ID,
            "DUSK_OIDC_ISSUER": self.url,
            "DUSK_OIDC_END_SESSION_ENDPOINT": f"{self.url}/oauth2/end_session",
            "DUSK_OIDC_ROLE_GROUPS": ROLE_GROUPS,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/oauth2/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            # This provider (0.3.x with today's authlib) signs ID tokens without a `kid` header; its
            # JWKS holds one key, so the key is chosen by algorithm. The signature is still checked.
            "OIDC_VERIFY_KID": False,
        }

    def authorize(self, authorize_url: str, sub: str) -> str:
        """What a person does on the provider's page: pick `sub`, authorize. Returns where the
        provider sends the browser back (our callback, with code and state)."""
        response = httpx.post(authorize_url, data={"sub": sub}, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["location"]
