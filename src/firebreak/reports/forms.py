"""Reading what a person sends, with hard limits: a body is read only up to its limit, never whole first."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

MAX_FIELDS = 100


class TooLarge(Exception):
    """The body is over its limit; nothing of it was used."""


class NotAForm(Exception):
    """The body is not an urlencoded form (or not UTF-8)."""


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge(f"{declared} bytes is over the limit of {limit}")
        except ValueError:
            raise TooLarge("the Content-Length header is not a number") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"more than {limit} bytes")
    return bytes(body)


async def read_form(request: Request, limit: int) -> dict[str, list[str]]:
    """An urlencoded form (the victims' pages send no files), as lists of values per field."""
    body = await read_limited(request, limit)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise NotAForm("send the form as application/x-www-form-urlencoded")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS,
                        errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAForm(str(exc)) from None


def first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


__all__ = ["NotAForm", "TooLarge", "client_address", "first", "read_form", "read_limited"]
