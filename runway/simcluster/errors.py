"""The simulated API server's refusals: one tree, each carrying the `Status` a real server sends.

Every handler raises one of these; the app turns it into the JSON `Status` (or, for `NoRoute`, the
plain-text `404 page not found` a real server answers for paths it does not serve).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Object = dict[str, Any]

# Go's field.ErrorType strings and the StatusCause reasons they become.
_FIELD_TYPES = {
    "Invalid": ("Invalid value", "FieldValueInvalid"),
    "Required": ("Required value", "FieldValueRequired"),
    "Forbidden": ("Forbidden", "FieldValueForbidden"),
    "NotSupported": ("Unsupported value", "FieldValueNotSupported"),
    "Duplicate": ("Duplicate value", "FieldValueDuplicate"),
    "TooLong": ("Too long", "FieldValueTooLong"),
    "TooMany": ("Too many", "FieldValueTooMany"),
}
_NO_VALUE_SHOWN = {"Required", "Forbidden", "TooLong"}


class SimClusterError(Exception):
    """Base of everything the simulated cluster raises."""


class NoRoute(SimClusterError):
    """A path no API serves: answered with plain text `404 page not found`, not a Status."""


class ApiError(SimClusterError):
    """A request refused the way a real API server refuses it; `status()` is the body to send."""

    code = 500
    reason: str | None = "InternalError"

    def __init__(self, message: str, *, details: Object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.metadata: Object = {}

    def status(self) -> Object:
        """The `Status` object, keys in the order a real server writes them."""
        body: Object = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata,
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


class BadRequest(ApiError):
    """The request cannot be decoded: malformed JSON, strict decoding errors, bad parameters."""

    code, reason = 400, "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Unauthorized(ApiError):
    """No valid bearer token on a TLS simulated cluster."""

    code, reason = 401, "Unauthorized"

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class Forbidden(ApiError):
    """Refused by admission: a terminating namespace, an immortal namespace, a resize."""

    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    """The object (or the namespace it would live in) does not exist."""

    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    """The verb is not served on this path (PUT on a collection, POST on an object)."""

    code, reason = 405, "MethodNotAllowed"

    def __init__(self) -> None:
        super().__init__(
            "the server does not allow this method on the requested resource", details={}
        )


class Conflict(ApiError):
    """A stale resourceVersion, a failed precondition, or an apply conflict."""

    code, reason = 409, "Conflict"


class AlreadyExists(ApiError):
    """Creating an object whose name is taken."""

    code, reason = 409, "AlreadyExists"


class Expired(ApiError):
    """A resourceVersion or continue token older than the history the simulator keeps."""

    code, reason = 410, "Expired"


class RequestTooLarge(ApiError):
    """A request body over the 3 MiB a real API server accepts."""

    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    """A body in a content type the simulator does not decode."""

    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    """Validation failed: the message lists every field error, the causes name each field."""

    code, reason = 422, "Invalid"

    def __init__(self, group: str, kind: str, name: str, errors: list[FieldError]) -> None:
        qualified = f"{kind}.{group}" if group else kind
        bodies = list(dict.fromkeys(e.text() for e in errors))
        joined = bodies[0] if len(bodies) == 1 else "[" + ", ".join(bodies) + "]"
        details: Object = {}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        if kind:
            details["kind"] = kind
        details["causes"] = [e.cause() for e in errors]
        super().__init__(f"{qualified} {quote(name)} is invalid: {joined}", details=details)
        self.errors = errors


class ServerError(ApiError):
    """A 500 with no reason: what server-side apply answers for a field not in the schema.

    A permanent error despite the status: clients must classify it by its message.
    """

    code, reason = 500, None


class Timeout(ApiError):
    """A resourceVersion newer than anything the simulator has seen."""

    code, reason = 504, "Timeout"


@dataclass(frozen=True)
class FieldError:
    """One of Go's field.Error values: `field: Type: value: detail`."""

    type: str
    field: str
    detail: str = ""
    value: str | None = None  # already rendered the way Go prints it

    def body(self) -> str:
        """Go's ErrorBody(): the text after the field path."""
        label, _ = _FIELD_TYPES[self.type]
        text = label
        if self.type not in _NO_VALUE_SHOWN and self.value is not None:
            text = f"{label}: {self.value}"
        return f"{text}: {self.detail}" if self.detail else text

    def text(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> Object:
        return {"reason": _FIELD_TYPES[self.type][1], "message": self.body(), "field": self.field}


def invalid(field: str, value: Any, detail: str) -> FieldError:
    """An `Invalid value` error, the value printed like Go prints simple values."""
    return FieldError("Invalid", field, detail, go_value(value))


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("Required", field, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("Forbidden", field, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    listed = ", ".join(quote(s) for s in supported)
    return FieldError("NotSupported", field, f"supported values: {listed}", go_value(value))


def quote(text: str) -> str:
    """Go's `%q` of a string (printable Unicode is kept as is)."""
    return json.dumps(text, ensure_ascii=False)


def go_value(value: Any) -> str:
    """How Go's `%v`/`%q` print a value in a field error (strings quoted, numbers bare)."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return go_struct(value)


def go_struct(value: Any) -> str:
    """Go's `%+v` of decoded JSON (`map[a:1 b:[x y]]`): how patch errors print a patch."""
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{go_struct(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_struct(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
