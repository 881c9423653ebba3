"""Option values checked before a command does anything, refused in one line naming the option."""

from __future__ import annotations

import ipaddress
import re

from qts.core.errors import InputError

# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def schema(value: str, option: str = "--schema") -> str:
    from qts.data.postgres.database import is_schema_name

    if not is_schema_name(value):
        raise InputError(
            option, repr(value), "a schema is a lower-case identifier (a-z, 0-9, _; 63 at most)"
        )
    return value


def host(value: str, option: str = "--host") -> str:
    """An IP address or a host name (not resolved here: binding says whether it is ours)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_NAME.fullmatch(value):
            raise InputError(option, repr(value), "expected an IP address or a host name") from None
    return value
