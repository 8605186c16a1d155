"""textual-serve's static files (textual.js, xterm.css, the Roboto Mono font), served from
memory: gzip-compressed once, for the browsers that take it, and cacheable for a year, as their
URLs carry textual-serve's version (a new version is a new URL). Only the files of the package's
`static` directory are known: any other path is a 404, whatever it contains."""

from __future__ import annotations

import gzip
import mimetypes
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

CACHED = "public, max-age=31536000, immutable"
_COMPRESSED_TYPES = ("text/", "application/javascript", "font/", "application/font")
_SMALLEST = 1024
"""Files smaller than this are sent as they are."""


@cache
def assets_version() -> str:
    """What the assets' URLs carry (`?v=`): the installed textual-serve's version."""
    return version("textual-serve")


@dataclass(frozen=True)
class _Asset:
    path: Path
    media_type: str

    @cached_property
    def content(self) -> bytes:
        return self.path.read_bytes()

    @cached_property
    def compressed(self) -> bytes | None:
        """The gzip-compressed content, when compressing its type pays."""
        if len(self.content) < _SMALLEST or not self.media_type.startswith(_COMPRESSED_TYPES):
            return None
        return gzip.compress(self.content, compresslevel=9, mtime=0)


def _media_type(path: Path) -> str:
    if path.suffix == ".ttf":  # not in every system's mime.types
        return "font/ttf"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def takes_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` takes gzip: named, and not with `q=0`."""
    for offer in accept_encoding.lower().split(","):
        name, *parameters = (part.strip() for part in offer.split(";"))
        if name != "gzip":
            continue
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


class Assets:
    """The endpoint of `/ui/static/{path}`."""

    def __init__(self, directory: Path) -> None:
        self._files = {
            str(found.relative_to(directory)): _Asset(found, _media_type(found))
            for found in sorted(directory.rglob("*"))
            if found.is_file()
        }

    async def serve(self, request: Request) -> Response:
        asset = self._files.get(request.path_params["path"])
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404)
        headers = {
            "Cache-Control": CACHED,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        compressed = asset.compressed
        if compressed is not None and takes_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(compressed, media_type=asset.media_type, headers=headers)
        return Response(asset.content, media_type=asset.media_type, headers=headers)
