"""The errors of runway.auth."""


class AuthError(Exception):
    """Base of everything runway.auth refuses; the message is for the person."""


class WeakPassword(AuthError):
    """A new password does not meet the policy (length); the message says what is needed."""


class InvalidName(AuthError):
    """A user or environment name breaks the naming rule; the message says the rule."""


class InvalidInvite(AuthError):
    """An invite link is forged, malformed or expired (single use is the store's to enforce)."""
