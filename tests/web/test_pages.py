"""The browser's pages: logging in and out, the monitor URL, and accepting an invite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from starlette.responses import Response

from runway.http.context import Context
from runway.http.settings import Settings
from runway.http.ui import STATIC_DIRECTORY, browser
from runway.http.ui.assets import assets_version
from runway.store import Store, sqlite_url
from tests.test_serve import PASSWORD
from tests.tui.world import World
from tests.web.world import Person


def test_a_monitor_url_asks_for_a_login_first_then_opens(world: World) -> None:
    ann = Person(world.url)
    asked = ann.client.get("/ui/deployments/7")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/ui/login?next=/ui/deployments/7"
    page = ann.client.get(asked.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/ui/deployments/7"' in page.text
    assert "'self'" in page.headers["content-security-policy"]

    logged = ann.client.post(
        "/ui/login",
        data={"username": "ann", "password": PASSWORD, "next": "/ui/deployments/7"},
    )
    assert logged.status_code == 303
    assert logged.headers["location"] == "/ui/deployments/7"
    opened = ann.client.get("/ui/deployments/7")
    assert opened.status_code == 200
    assert f'data-session-websocket-url="{world.url.replace("http", "ws")}/ui/ws/7"' in opened.text


def test_the_page_loads_nothing_from_elsewhere(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    page = ann.client.get("/ui/").text
    assert "https://" not in page and "http://" not in page.replace(world.url, "")
    for asset in ("/ui/static/js/textual.js", "/ui/static/css/xterm.css"):
        assert ann.client.get(asset).status_code == 200
    font = "/ui/static/fonts/RobotoMono-VariableFont_wght.ttf"
    assert font in page and ann.client.get(font).status_code == 200


def test_the_static_files_come_compressed_and_cacheable(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    page = ann.client.get("/ui/deployments/1").text
    version = assets_version()
    script = f"/ui/static/js/textual.js?v={version}"
    assert f'src="{script}"' in page  # a new textual-serve is a new URL: cached for a year
    assert f"/ui/static/fonts/RobotoMono-VariableFont_wght.ttf?v={version}" in page
    original = (STATIC_DIRECTORY / "js" / "textual.js").read_bytes()
    sent = httpx.get(f"{world.url}{script}", headers={"Accept-Encoding": "gzip"})
    assert sent.status_code == 200 and sent.headers["content-encoding"] == "gzip"
    assert int(sent.headers["content-length"]) < len(original) / 3
    assert sent.content == original  # decoded by httpx
    assert sent.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert sent.headers["vary"] == "Accept-Encoding"
    plain = httpx.get(f"{world.url}{script}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == original
    assert int(plain.headers["content-length"]) == len(original)
    assert httpx.head(f"{world.url}{script}").status_code == 200
    for missing in ("js/nothing.js", "../__init__.py", "js", "%2e%2e/__init__.py"):
        assert httpx.get(f"{world.url}/ui/static/{missing}").status_code == 404, missing


def test_the_session_cookie_is_http_only_and_strict(world: World) -> None:
    logged = Person(world.url).log_in()
    cookie = logged.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert "secure" not in cookie  # the public URL is http here


def test_a_wrong_password_says_so_and_sets_no_cookie(world: World) -> None:
    refused = Person(world.url).log_in(password="not the password")
    assert refused.status_code == 401
    assert "wrong user name or password" in refused.text
    assert "set-cookie" not in refused.headers


def test_only_local_pages_come_after_a_login(world: World) -> None:
    ann = Person(world.url)
    for elsewhere in ("//evil.example/ui/", "https://evil.example/", "/api/v1/users"):
        logged = ann.client.post(
            "/ui/login", data={"username": "ann", "password": PASSWORD, "next": elsewhere}
        )
        assert logged.headers["location"] == "/ui/"


def test_a_login_posted_from_another_origin_is_refused(world: World) -> None:
    ann = Person(world.url)
    ann.client.headers["Origin"] = "http://127.0.0.1:1"
    assert ann.log_in().status_code == 403
    assert not ann.cookie


def test_the_cookie_is_no_bearer_token(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    answer = httpx.get(
        f"{world.url}/api/v1/environments", headers={"Authorization": f"Bearer {ann.cookie}"}
    )
    assert answer.status_code == 401


def test_logging_out_ends_the_session(world: World) -> None:
    ann = Person(world.url)
    ann.log_in()
    old = ann.cookie
    assert ann.client.get("/ui/").status_code == 200
    out = ann.log_out()
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert not ann.cookie
    ann.client.cookies.set("runway_session", old, path="/ui")
    assert ann.client.get("/ui/").status_code == 303  # the old cookie is revoked


def test_an_invited_person_creates_their_account_in_the_browser(world: World) -> None:
    link = world.call("POST", "/api/v1/invites", json={})["url"]
    path = link.removeprefix(world.url)
    cat = Person(world.url)
    assert "Join runway" in cat.client.get(path).text
    differ = {"username": "cat", "password": PASSWORD, "again": PASSWORD + "x"}
    assert cat.client.post(path, data=differ).status_code == 422
    joined = cat.client.post(path, data={**differ, "again": PASSWORD})
    assert joined.status_code == 303 and joined.headers["location"] == "/ui/"
    assert cat.client.get("/ui/").status_code == 200
    again = Person(world.url).client.post(
        path, data={**differ, "username": "cid", "again": PASSWORD}
    )
    assert again.status_code == 404 and "used already" in again.text


def test_the_cookie_is_secure_under_https(tmp_path: Path) -> None:
    async def cookie() -> str:
        store = await Store.open(sqlite_url(tmp_path))
        try:
            ann = await store.users.create_first_admin_directly("ann", "x", datetime.now(UTC))
            assert ann is not None
            settings = Settings(database_url="", public_url="https://runway.example")
            response = Response()
            await browser.start(Context(settings, store), ann, response)
            return response.headers["set-cookie"].lower()
        finally:
            await store.close()

    made = asyncio.run(cookie())
    assert "secure" in made and "httponly" in made and "samesite=strict" in made
