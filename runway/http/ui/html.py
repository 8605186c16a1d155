"""runway's own pages for the browser: the dashboard's page (textual-serve's page without its
web font: every asset is served from this host) and the plain forms (login, invite).

Plain `string.Template`s: every value is escaped by `page`/`form`, none is trusted."""

from __future__ import annotations

from html import escape
from string import Template

STATIC = "/ui/static/"

_APP = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>runway</title>
<link rel="stylesheet" href="${static}css/xterm.css">
<link rel="preload" href="${static}fonts/RobotoMono-VariableFont_wght.ttf" as="font"
  type="font/ttf" crossorigin>
<script src="${static}js/textual.js"></script>
<style>
@font-face { font-family: "Roboto Mono";
  src: url("${static}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
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
</body>
</html>
""")

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
    return _APP.substitute(static=STATIC, user=escape(user), websocket=escape(websocket))


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
