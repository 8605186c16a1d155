"""runway's own pages for the browser: the dashboard's page (textual-serve's page without its
web font: every asset is served from this host) and the plain forms (login, invite).

Plain `string.Template`s: every value is escaped by `page`/`form`, none is trusted."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from string import Template

from runway.http.ui.assets import assets_version

STATIC = "/ui/static/"

_APP = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>runway</title>
<link rel="stylesheet" href="${static}css/xterm.css?v=${version}">
<link rel="preload" href="${static}fonts/RobotoMono-VariableFont_wght.ttf?v=${version}" as="font"
  type="font/ttf" crossorigin>
<style>
@font-face { font-family: "Roboto Mono";
  src: url("${static}fonts/RobotoMono-VariableFont_wght.ttf?v=${version}") format("truetype"); }
html, body { margin: 0; height: 100%; overflow: hidden; background: #0c181f; color: #e0e0e0;
  font-family: "Roboto Mono", monospace; }
#bar { position: fixed; top: 0; left: 0; right: 0; display: flex; justify-content: flex-end;
  align-items: center; gap: 1em; height: 28px; padding: 0 1em; font-size: 13px; }
#bar button { background: none; color: inherit; border: 1px solid #557; cursor: pointer; }
/* textual.js sizes .textual-terminal to the whole viewport: below the bar instead. */
#terminal { position: fixed; top: 28px; left: 0; right: 0; bottom: 0; width: auto; height: auto; }
body .textual-terminal { opacity: 0; transition: opacity 0.3s ease-out; }
body.-first-byte .textual-terminal { opacity: 1; }
#ended { display: none; position: absolute; top: 40%; width: 100%; text-align: center; }
body.-closed #ended { display: block; }
</style>
</head>
<body>
<div id="bar"><span>${user}</span>
<form method="post" action="/ui/logout"><button type="submit">Log out</button></form></div>
<div id="ended">The dashboard closed. <a href="">Open it again</a></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="${websocket}"
  data-font-size="16"></div>
<script>${opening}</script>
<script src="${static}js/textual.js?v=${version}"></script>
</body>
</html>
""")

OPENING = """(() => {
  /* The websocket, opened at once: the app process starts while textual.js loads and starts
     xterm (half a second), instead of after. textual.js's own `new WebSocket` then gets this
     one, and what it received meanwhile. Sized as xterm's fit will size the terminal (its
     canvas renderer's cell: the font's W, whole device pixels); a wrong guess costs a resize. */
  const element = document.getElementById("terminal");
  const url = element && element.dataset.sessionWebsocketUrl;
  const Native = window.WebSocket;
  if (!url || !Native || new URLSearchParams(location.search).has("delay")) return;
  const font = (Number(element.dataset.fontSize) || 16) +
    "px 'Roboto Mono', Monaco, 'Courier New', monospace";
  let early = null;
  let taken = false;  /* textual.js asked for its socket: never open another one after */
  const held = [];
  const hold = (event) => held.push(event);
  const size = () => {
    try {
      const context = new OffscreenCanvas(100, 100).getContext("2d");
      context.font = font;
      const w = context.measureText("W");
      const ratio = window.devicePixelRatio || 1;
      const cellWidth = Math.floor(w.width * ratio) / ratio;
      const high = w.fontBoundingBoxAscent + w.fontBoundingBoxDescent;
      const cellHeight = Math.ceil(high * ratio) / ratio;
      const style = window.getComputedStyle(element);
      const cols = Math.floor(parseInt(style.width) / cellWidth);
      const rows = Math.floor(parseInt(style.height) / cellHeight);
      return cols > 1 && rows > 0 ? "?width=" + cols + "&height=" + rows : "";
    } catch (error) {
      return "";
    }
  };
  const open = () => {
    const query = size();
    if (!query || early !== null || taken) return;
    early = new Native(url + query);
    early.binaryType = "arraybuffer";
    for (const type of ["open", "message", "close"]) early.addEventListener(type, hold);
  };
  window.WebSocket = function (target, protocols) {
    const socket = early;
    if (String(target).split("?")[0] === url) {
      taken = true;
      window.WebSocket = Native;
    }
    if (socket === null || !taken) {
      return protocols === undefined ? new Native(target) : new Native(target, protocols);
    }
    early = null;
    for (const type of ["open", "message", "close"]) socket.removeEventListener(type, hold);
    const listeners = [];
    const listen = socket.addEventListener.bind(socket);
    socket.addEventListener = (type, listener, options) => {
      listeners.push([type, listener]);
      listen(type, listener, options);
    };
    /* After the caller has added its listeners (synchronously, after this returns), and
       before any event to come: what came before them, in order. */
    queueMicrotask(() => {
      for (const event of held.splice(0)) {
        for (const [type, listener] of listeners) {
          if (type === event.type) listener.call(socket, event);
        }
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  if (document.fonts && document.fonts.load) {
    document.fonts.load(font).then(open, open);
  } else {
    open();
  }
})();"""
OPENING_HASH = "sha256-" + base64.b64encode(hashlib.sha256(OPENING.encode()).digest()).decode()
"""The page's one inline script, as its Content-Security-Policy allows it."""

_FORM = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>runway: ${title}</title>
<style>
body { font-family: sans-serif; max-width: 24em; margin: 4em auto; }
label { display: block; margin-top: 1em; }
input { width: 100%; box-sizing: border-box; padding: .4em; }
button { margin-top: 1.5em; padding: .4em 1.5em; }
.problem { color: #b00020; }
</style>
</head>
<body>
<h1>${title}</h1>
${problem}
<form method="post" action="${action}">
${fields}
<button type="submit">${submit}</button>
</form>
</body>
</html>
""")


def app_page(user: str, websocket: str) -> str:
    """The dashboard's page: the terminal, its websocket URL, who is logged in, and Log out."""
    return _APP.substitute(
        static=STATIC,
        version=escape(assets_version()),
        opening=OPENING,
        user=escape(user),
        websocket=escape(websocket),
    )


def form(
    title: str,
    action: str,
    fields: list[tuple[str, str, str]],
    submit: str,
    problem: str = "",
    hidden: dict[str, str] | None = None,
) -> str:
    """A plain form page. `fields`: (name, label, input type); `problem`: what went wrong."""
    inputs = [
        f'<label>{escape(label)}<input name="{escape(name)}" type="{escape(kind)}" required>'
        "</label>"
        for name, label, kind in fields
    ]
    inputs += [
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in (hidden or {}).items()
    ]
    return _FORM.substitute(
        title=escape(title),
        action=escape(action),
        fields="\n".join(inputs),
        submit=escape(submit),
        problem=f'<p class="problem">{escape(problem)}</p>' if problem else "",
    )
