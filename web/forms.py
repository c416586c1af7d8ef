from django import forms
from django.core.exceptions import ValidationError

from accounts.api.serializers import RegisterSerializer


class RegisterForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))
    email = forms.CharField(
        max_length=254,
        required=False,
        label="Email (optional, to reset a forgotten password)",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label="Password (again)",
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if "password" in data and data.get("password") != data.get("password_again"):
            raise ValidationError("The two passwords differ.")
        if self.errors:
            return data
        # The same rules as POST /api/auth/register/.
        checked = RegisterSerializer(
            data={
                "username": data["username"],
                "password": data["password"],
                "email": data.get("email", ""),
            }
        )
        if not checked.is_valid():
            for field, messages in checked.errors.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, str(message))
        return data
