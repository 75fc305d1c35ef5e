"""OpenAPI details: error responses on every operation, the bearer token scheme,
and only /api/v1/ in the document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from channels_app.api.errors import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "The request is not valid; `errors` says why, by field. Nothing was changed.",
    "401": "No credentials, or the token is malformed, unknown, expired or revoked.",
    "403": "Your role (or the token's scopes) does not allow this.",
    "404": "No such object (or page).",
    "409": "The object is not in a state that allows this (for example a plan that is no longer a draft).",
    "429": "Too many requests; retry after the number of seconds in the Retry-After header.",
}


class DuskAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["400", "401", "403", "404", "429"]
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            codes.append("409")
        for code in codes:
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                body["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = body
        return responses


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "channels_app.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created at /settings/tokens/: `Authorization: Bearer dusk_<prefix>_<secret>`.",
        }


def only_versioned_api(endpoints, **kwargs):
    """Document /api/v1/ only (webhooks and HTML pages are not part of the API)."""
    return [e for e in endpoints if e[0].startswith("/api/v1/")]


def strict_request_bodies(result, generator, request, public):
    """Say in the schema what the API does: request bodies reject unknown and
    read-only fields (mass assignment), and an empty query parameter (`?state=`)
    means "no filter", as HTML forms send it."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component.setdefault("additionalProperties", False)
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "query":
                    parameter["allowEmptyValue"] = True
    return result


class SingleObjectSchema(DuskAutoSchema):
    """For a collection URL that answers one object (a report), not a list of them."""

    def _is_list_view(self, serializer=None) -> bool:
        return False
