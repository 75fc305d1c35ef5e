"""Authentication backend: Django's, plus the admin role acting as superuser
for Django permissions (the admin site), as the role matrix says."""

from django.contrib.auth.backends import ModelBackend

from channels_app.core.permissions import ADMIN, has_role


class RoleModelBackend(ModelBackend):
    def has_perm(self, user_obj, perm, obj=None):
        if user_obj.is_active and has_role(user_obj, ADMIN):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if user_obj.is_active and has_role(user_obj, ADMIN):
            return True
        return super().has_module_perms(user_obj, app_label)
