"""Just enough Kubernetes protobuf to read what `kubectl create` sends for a few kinds.

kubectl 1.32's typed commands (`create namespace`, `create configmap`, `create secret`) send
`application/vnd.kubernetes.protobuf` bodies and do not fall back to JSON. A body is the magic
`k8s\\0` and an `Unknown` envelope (`typeMeta`=1 {apiVersion=1, kind=2}, `raw`=2); the field
numbers below are those of k8s.io/api's generated.proto, checked against what kubectl sends. Other
kinds are answered 415 (the simulator answers in JSON, which kubectl also accepts).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from runway.simcluster.errors import BadRequest, Object

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

Fields = list[tuple[int, int | bytes]]


class Unsupported(Exception):
    """A protobuf body of a kind this module cannot read."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise BadRequest("protobuf: truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: bytes) -> Fields:
    """The (field number, value) pairs of one message, in wire order."""
    found: Fields = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            found.append((number, value))
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise BadRequest("protobuf: truncated field")
            found.append((number, data[at : at + length]))
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise BadRequest(f"protobuf: unsupported wire type {wire}")
    return found


def _text(value: int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _map(entries: list[int | bytes], encode: bool = False) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in entries:
        pairs = dict(_fields(entry)) if isinstance(entry, bytes) else {}
        key, value = _text(pairs.get(1, b"")), pairs.get(2, b"")
        if encode and isinstance(value, bytes):
            result[key] = base64.b64encode(value).decode()
        else:
            result[key] = _text(value)
    return result


def _grouped(data: bytes) -> dict[int, list[int | bytes]]:
    grouped: dict[int, list[int | bytes]] = {}
    for number, value in _fields(data):
        grouped.setdefault(number, []).append(value)
    return grouped


def _strings(obj: Object, grouped: dict[int, list[int | bytes]], names: dict[int, str]) -> None:
    for number, name in names.items():
        if grouped.get(number) and _text(grouped[number][-1]):
            obj[name] = _text(grouped[number][-1])


def _metadata(data: bytes) -> Object:
    fields = _grouped(data)
    meta: Object = {}
    _strings(
        meta, fields, {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    )
    for number, name in ((11, "labels"), (12, "annotations")):
        if fields.get(number):
            meta[name] = _map(fields[number])
    if fields.get(14):
        meta["finalizers"] = [_text(v) for v in fields[14]]
    if fields.get(13):
        references = []
        for raw in fields[13]:
            ref = _grouped(raw) if isinstance(raw, bytes) else {}
            reference: Object = {}
            _strings(reference, ref, {5: "apiVersion", 1: "kind", 3: "name", 4: "uid"})
            for number, name in ((6, "controller"), (7, "blockOwnerDeletion")):
                if ref.get(number):
                    reference[name] = bool(ref[number][-1])
            references.append(reference)
        meta["ownerReferences"] = references
    return meta


def _namespace(fields: dict[int, list[int | bytes]], obj: Object) -> None:
    spec = _grouped(_bytes(fields, 2))
    if spec.get(1):
        obj["spec"] = {"finalizers": [_text(v) for v in spec[1]]}


def _config_map(fields: dict[int, list[int | bytes]], obj: Object) -> None:
    if fields.get(2):
        obj["data"] = _map(fields[2])
    if fields.get(3):
        obj["binaryData"] = _map(fields[3], encode=True)
    if fields.get(4):
        obj["immutable"] = bool(fields[4][-1])


def _secret(fields: dict[int, list[int | bytes]], obj: Object) -> None:
    if fields.get(2):
        obj["data"] = _map(fields[2], encode=True)
    _strings(obj, fields, {3: "type"})
    if fields.get(4):
        obj["stringData"] = _map(fields[4])
    if fields.get(5):
        obj["immutable"] = bool(fields[5][-1])


_KINDS: dict[tuple[str, str], Callable[[dict[int, list[int | bytes]], Object], None]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _config_map,
    ("v1", "Secret"): _secret,
}


def _bytes(fields: dict[int, list[int | bytes]], number: int) -> bytes:
    values = fields.get(number) or [b""]
    value = values[-1]
    return value if isinstance(value, bytes) else b""


def decode(body: bytes) -> Object:
    """The JSON form of a protobuf object body; Unsupported for kinds not read here."""
    if not body.startswith(_MAGIC):
        raise BadRequest("provided protobuf bytes do not start with the Kubernetes magic number")
    envelope = _grouped(body[len(_MAGIC) :])
    type_meta = _grouped(_bytes(envelope, 1))
    api_version, kind = _text(_bytes(type_meta, 1)), _text(_bytes(type_meta, 2))
    reader = _KINDS.get((api_version, kind))
    if reader is None:
        raise Unsupported(f"{api_version}, Kind={kind}")
    fields = _grouped(_bytes(envelope, 2))
    obj: Object = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _metadata(_bytes(fields, 1)),
    }
    reader(fields, obj)
    return obj
