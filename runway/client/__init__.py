"""The API client the command line and the dashboard use (httpx)."""

from runway.client.api import Client, ClientError
from runway.client.credentials import Credentials, load_credentials, save_credentials

__all__ = ["Client", "ClientError", "Credentials", "load_credentials", "save_credentials"]
