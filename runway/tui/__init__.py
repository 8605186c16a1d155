"""The dashboard in the terminal (Textual): a client of runway's HTTP API through runway.client.

Built by `make_dashboard` (runway.tui.app); never imports the store or the executor, so the
same app can run anywhere a person can reach the server's API.
"""

from runway.tui.app import Dashboard, make_dashboard

__all__ = ["Dashboard", "make_dashboard"]
