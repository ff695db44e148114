"""Record values as UTF-8 JSON, with an error that says what is wrong with the bytes."""

from __future__ import annotations

import json
from typing import Any

from harness.errors import DecodeError


def decode_json_value(value: bytes | None) -> Any:
    """Decode a record value as UTF-8 JSON, or raise :class:`~harness.errors.DecodeError`."""
    if value is None:
        raise DecodeError(
            "record has no value (a tombstone); expected UTF-8 JSON",
            hint="producers must send a JSON value",
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"record value is not UTF-8: {exc.reason} at byte {exc.start}; "
            f"first bytes {value[:40]!r}"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"record value is not JSON: {exc.msg} at position {exc.pos}; first bytes {value[:40]!r}"
        ) from exc
