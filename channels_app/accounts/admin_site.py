"""The Django admin, opened by the role matrix (`use_admin_site`: the admin
role) instead of the is_staff flag, so one table decides who gets in."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from channels_app.core.permissions import can


class RoleAdminAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not (user.is_active and can(user, "use_admin_site")):
            raise ValidationError(_("Only people with the admin role can use this site."), code="invalid_login")


class DuskAdminSite(admin.AdminSite):
    site_header = "Dusk administration"
    site_title = "Dusk admin"
    login_form = RoleAdminAuthenticationForm

    def has_permission(self, request):
        return request.user.is_active and can(request.user, "use_admin_site")
