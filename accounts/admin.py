from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .models import User
from .usernames import username_normalize, username_policy_errors


def _chosen_username(form: forms.ModelForm, username: str | None) -> str | None:
    """A name chosen in the admin follows the policy (accounts/usernames.py); a name stored
    before it stays editable as long as it is left unchanged."""
    if username is None or username == form.initial.get("username"):
        return username
    username = username_normalize(username)
    for message in username_policy_errors(username):
        form.add_error("username", message)
    return username


class ParleyUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User

    def clean_username(self) -> str | None:
        return _chosen_username(self, self.cleaned_data.get("username"))


class ParleyUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User

    def clean_username(self) -> str | None:
        return _chosen_username(self, super().clean_username())


@admin.register(User)
class ParleyUserAdmin(UserAdmin):
    form = ParleyUserChangeForm
    add_form = ParleyUserCreationForm


_admin_has_permission = admin.site.has_permission


def _staff_with_second_factor(request) -> bool:  # type: ignore[no-untyped-def]
    """With PARLEY_STAFF_2FA, the admin also wants the session's login to have passed the
    code step (django_otp's OTPMiddleware: request.user.is_verified())."""
    from django.conf import settings

    if not _admin_has_permission(request):
        return False
    if not settings.PARLEY_STAFF_2FA:
        return True
    verified = getattr(request.user, "is_verified", None)
    return bool(verified and verified())


admin.site.has_permission = _staff_with_second_factor  # type: ignore[method-assign]
