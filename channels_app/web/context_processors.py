"""Template context every portal page needs: what the signed-in person may do."""

from channels_app.core.permissions import may


def portal(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"may": {}}
    # roles_of caches on the user, so this costs at most the one query a view's
    # own permission check already made.
    return {"may": may(user)}
