"""The login-name policy.

New names (registration, a rename in the admin) are NFKC-normalized, so a fullwidth or styled
spelling becomes the plain one, and must then be ASCII letters, digits, `.`, `_` and `-`: one
way to write each name, no look-alikes from other scripts. Names are unique whatever their case
(a unique index on Lower(username), accounts.models.User). Names stored before this policy keep
working as they are; the policy applies only when a name is chosen.
"""

import re
import unicodedata

ALLOWED = re.compile(r"^[A-Za-z0-9._-]+$")
POLICY_MESSAGE = "Enter a username of ASCII letters, digits and . _ - only."
TAKEN_MESSAGE = "That username is taken."


def username_normalize(value: str) -> str:
    """The NFKC form of a name: what a new name is stored as and what a login is matched on."""
    return unicodedata.normalize("NFKC", value)


def username_policy_errors(value: str) -> list[str]:
    """Why a (normalized) new name is refused; empty when it is allowed."""
    return [] if ALLOWED.fullmatch(value) else [POLICY_MESSAGE]


def username_key(value: str) -> str:
    """One spelling per account name for counting login attempts: NFKC, lower case."""
    return username_normalize(value).lower()
