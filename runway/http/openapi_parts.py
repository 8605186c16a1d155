"""The pieces the OpenAPI document is built from: operations, parameters, answers."""

from __future__ import annotations

from runway.http.openapi_schemas import NAME, Schema, ref
from runway.store.pages import MAX_ID


def json_content(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def answer(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, **(json_content(schema) if schema else {})}


ERROR = ref("Error")


def op(
    summary: str,
    ok: tuple[int, str, Schema | None],
    *,
    body: Schema | None = None,
    errors: tuple[int, ...] = (),
    auth: bool = True,
    params: tuple[Schema, ...] = (),
    notes: dict[int, str] | None = None,
) -> Schema:
    """One operation; `notes` add to a refusal's description (e.g. the error codes it uses)."""
    status, description, schema = ok
    responses: dict[str, Schema] = {str(status): answer(description, schema)}
    refusals = {
        400: "Malformed request",
        401: "No valid bearer token" if auth else "Wrong credentials",
        403: "Refused",
        404: "Not found (or not yours)",
        409: "Conflict",
        413: "Body too large",
        415: "Wrong content type",
        422: "Invalid content; details lists every problem",
        429: "Too many attempts",
        503: "Not ready",
    }
    codes = set(errors) | ({401} if auth else set()) | ({400, 413, 415, 422} if body else set())
    for code in sorted(codes):
        note = (notes or {}).get(code)
        responses[str(code)] = answer(
            f"{refusals[code]}. {note}" if note else refusals[code], ERROR
        )
    operation: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, **body}
    if params:
        operation["parameters"] = list(params)
    operation["security"] = [{"bearer": []}] if auth else []
    return operation


def path_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGE = (
    query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)."),
    query("cursor", {"type": "string"}, "next_cursor of the previous page."),
)
OWNER = query("owner", {"type": "string"}, "Admins: another user's environments.")
ENV = path_param("env", NAME)
ID = path_param("id", {"type": "integer", "minimum": 1, "maximum": MAX_ID})
NAME_PARAM = path_param("name", NAME)
