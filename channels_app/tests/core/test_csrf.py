"""core/csrf.py: a form's CSRF token made faster than Django's get_token, and exactly as good to
Django's CsrfViewMiddleware."""

from django.conf import settings
from django.http import HttpResponse
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_TOKEN_LENGTH,
    CsrfViewMiddleware,
    _unmask_cipher_token,
)
from django.middleware.csrf import get_token as django_get_token
from django.test import RequestFactory

from channels_app.core.csrf import get_token

middleware = CsrfViewMiddleware(lambda request: HttpResponse("ok"))


def _page(cookies=None):
    """A GET that hands out a token, as the landing page does: the token and the cookie set."""
    request = RequestFactory().get("/r/DSK-TEST0001")
    request.COOKIES.update(cookies or {})
    middleware.process_request(request)
    token = get_token(request)
    response = middleware.process_response(request, HttpResponse("page"))
    return request, token, response.cookies.get(settings.CSRF_COOKIE_NAME)


def _post(token, cookie_value):
    request = RequestFactory().post("/r/DSK-TEST0001/contact", {"csrfmiddlewaretoken": token})
    request.COOKIES[settings.CSRF_COOKIE_NAME] = cookie_value
    middleware.process_request(request)
    return middleware.process_view(request, lambda r: None, (), {})  # None: accepted


def test_a_first_visit_gets_a_new_secret_in_the_cookie_and_a_token_django_accepts():
    request, token, cookie = _page()
    assert cookie is not None
    assert len(token) == CSRF_TOKEN_LENGTH and set(token) <= set(CSRF_ALLOWED_CHARS)
    assert _unmask_cipher_token(token) == cookie.value == request.META["CSRF_COOKIE"]
    assert _post(token, cookie.value) is None
    # Django's own token for the same request carries the same secret.
    assert _unmask_cipher_token(django_get_token(request)) == cookie.value


def test_a_returning_visitor_keeps_their_secret_and_the_cookie_is_renewed():
    _request, _token, first = _page()
    request, token, cookie = _page({settings.CSRF_COOKIE_NAME: first.value})
    assert cookie is not None and cookie.value == first.value
    assert _unmask_cipher_token(token) == first.value
    assert _post(token, first.value) is None


def test_a_token_for_another_secret_or_no_token_is_refused():
    _r1, token, _c1 = _page()
    _r2, _t2, other = _page()
    assert _post(token, other.value).status_code == 403
    assert _post("", other.value).status_code == 403


def test_every_token_has_a_new_mask_and_secrets_are_not_repeated():
    tokens = [_page()[1] for _ in range(200)]
    assert len({t[:32] for t in tokens}) == 200
    assert len({_unmask_cipher_token(t) for t in tokens}) == 200
    # All 62 characters come up (the draw drops the bytes that would favour some).
    assert set("".join(tokens)) == set(CSRF_ALLOWED_CHARS)
