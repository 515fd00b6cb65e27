"""The emulator's TC3 verifier against the public worked example in ESS_API.md."""

import hashlib

from ess_emulator import signing

VECTOR_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TS = 1551113065


def test_payload_hash_matches_vector():
    assert hashlib.sha256(VECTOR_BODY).hexdigest() == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"


def test_canonical_request_hash_matches_vector():
    canonical = signing.canonical_request(HEADERS, ["content-type", "host"], VECTOR_BODY)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert digest == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"


def test_signature_matches_vector():
    canonical = signing.canonical_request(HEADERS, ["content-type", "host"], VECTOR_BODY)
    sig = signing.signature(KEY, TS, "cvm", signing.string_to_sign(TS, "cvm", canonical))
    assert sig == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_verify_accepts_vector_and_rejects_a_changed_body():
    header = (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    auth = signing.parse_authorization(header)
    assert auth is not None and auth.secret_id == "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
    assert signing.verify(auth, KEY, TS, HEADERS, VECTOR_BODY)
    assert not signing.verify(auth, KEY, TS, HEADERS, VECTOR_BODY.replace(b"1", b"2", 1))
    assert not signing.verify(auth, KEY + "x", TS, HEADERS, VECTOR_BODY)


def test_parse_rejects_malformed_headers():
    assert signing.parse_authorization(None) is None
    assert signing.parse_authorization("Bearer abc") is None
    assert (
        signing.parse_authorization(
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=host, Signature=" + "0" * 64
        )
        is None
    )  # content-type must be signed
