"""TC3-HMAC-SHA256, written from the vendor's published algorithm and checked against its public test vector.

Deliberately independent of the vendor SDK's signer: the emulator's tests drive it with the SDK,
so two implementations written by different people must agree before a request is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/,\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/,\s]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;\-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    """The `yyyy-mm-dd` UTC date that scopes a signature made at `timestamp`."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def canonical_request(headers: dict[str, str], signed_headers: list[str], body: bytes) -> str:
    """POST / with no query; `headers` keyed by lowercase name."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers)
    return "\n".join(["POST", "/", "", canonical_headers, ";".join(signed_headers), hashlib.sha256(body).hexdigest()])


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def signature(secret_key: str, timestamp: int, service: str, to_sign: str) -> str:
    """Hex signature of `to_sign` with the key derived for the timestamp's date and the service."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), utc_date(timestamp))
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Authorization:
    """A parsed `Authorization` header."""

    secret_id: str
    date: str
    service: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str | None) -> Authorization | None:
    """Parse the header; None when it is missing or not of the TC3 form."""
    if not value:
        return None
    match = _AUTH_RE.match(value.strip())
    if not match:
        return None
    signed = match["signed"].split(";")
    if signed != sorted(signed) or not {"content-type", "host"} <= set(signed):
        return None
    return Authorization(match["secret_id"], match["date"], match["service"], signed, match["signature"])


def verify(auth: Authorization, secret_key: str, timestamp: int, headers: dict[str, str], body: bytes) -> bool:
    """True when `auth.signature` is the signature of this exact request (raw body bytes)."""
    if auth.date != utc_date(timestamp):
        return False
    canonical = canonical_request(headers, auth.signed_headers, body)
    expected = signature(secret_key, timestamp, auth.service, string_to_sign(timestamp, auth.service, canonical))
    return hmac.compare_digest(expected, auth.signature)
