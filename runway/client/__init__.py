"""The API client the command line and the dashboard use (httpx)."""

from runway.client.api import Client, ClientError
from runway.client.credentials import Credentials, load_credentials, save_credentials
from runway.client.sse import Event

__all__ = ["Client", "ClientError", "Credentials", "Event", "load_credentials", "save_credentials"]
