"""The dashboard over SSH (`runway serve --ssh-port`): an asyncssh server in the API's process
whose sessions run `runway tui` in a PTY for the user whose key or password logged in."""

from runway.ssh.server import SshServer, host_key
from runway.ssh.session import LimitReached, Limits

__all__ = ["LimitReached", "Limits", "SshServer", "host_key"]
