"""Users, passwords and tokens: the pure logic of who may do what (persistence is the store's)."""

from runway.auth.addresses import client_address, parse_networks
from runway.auth.devices import Device, DeviceSigner
from runway.auth.errors import AuthError, InvalidInvite, InvalidName, WeakPassword
from runway.auth.invites import InviteSigner, new_nonce, nonce_hash
from runway.auth.limits import LoginLimits
from runway.auth.names import check_environment_name, check_username
from runway.auth.passwords import PasswordHasher
from runway.auth.tokens import new_token, token_hash

__all__ = [
    "AuthError",
    "Device",
    "DeviceSigner",
    "InvalidInvite",
    "InvalidName",
    "InviteSigner",
    "LoginLimits",
    "PasswordHasher",
    "WeakPassword",
    "check_environment_name",
    "check_username",
    "client_address",
    "new_nonce",
    "new_token",
    "nonce_hash",
    "parse_networks",
    "token_hash",
]
