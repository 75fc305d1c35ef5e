"""`Authorization: Bearer dusk_<prefix>_<secret>` for integrations."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from channels_app.accounts.services import find_api_token, note_token_use


class BearerTokenAuthentication(BaseAuthentication):
    """Resolve an API token to its owner; `request.auth` is the ApiToken.

    The token acts with its owner's roles, narrowed by its scopes (see
    permissions.RolePermission). Being first in the list also makes an
    anonymous request answer 401 with a WWW-Authenticate header.
    """

    keyword = "bearer"

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None
        try:
            parts = header.decode("ascii").split()
        except UnicodeDecodeError:
            raise AuthenticationFailed("The Authorization header must be plain ASCII.") from None
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the token as: Authorization: Bearer dusk_<prefix>_<secret>.")
        token, reason = find_api_token(parts[1])
        if token is None:
            raise AuthenticationFailed(reason)
        note_token_use(token=token)
        return token.owner, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="dusk"'
