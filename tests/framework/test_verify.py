"""The signature schemes alone: public vectors, tampering, clocks, rotation, malformed headers, config."""

from __future__ import annotations

import base64
import hmac
from typing import Any

import cattrs
import pytest
from multidict import CIMultiDict

from framework.structuring import FieldProblem
from framework.triggers.verify import VerificationFailed, build_verifier
from framework.triggers.verify_config import (
    BearerVerify,
    HmacSha256Verify,
    NoVerify,
    StandardWebhooksVerify,
    VerifyConfig,
    configure_converter,
)

# The Standard Webhooks reference test vector.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_WHSEC = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()

# GitHub's documented example.
GH_SECRET = "It's a Secret to Everybody"
GH_BODY = b"Hello, World!"
GH_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def sw_headers(
    signature: str = SW_SIGNATURE, msg_id: str = SW_ID, timestamp: str = str(SW_TIMESTAMP)
) -> CIMultiDict[str]:
    return CIMultiDict({"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature})


def sw_verify(
    headers: CIMultiDict[str], body: bytes = SW_BODY, now: float = SW_TIMESTAMP, **config: Any
) -> Any:
    config.setdefault("secrets", [SW_SECRET])
    return build_verifier(StandardWebhooksVerify(**config)).verify(headers, body, now)


def failure_code(call: Any) -> str:
    with pytest.raises(VerificationFailed) as caught:
        call()
    return caught.value.code


# -- standard-webhooks -------------------------------------------------------------------------------------


def test_standard_webhooks_reference_vector_verifies() -> None:
    verified = sw_verify(sw_headers())
    assert verified.delivery_id == SW_ID
    assert verified.timestamp == SW_TIMESTAMP


def test_standard_webhooks_any_of_several_signatures_may_match() -> None:
    header = f"v1,bm9wZQ== v1a,whatever v2,x {SW_SIGNATURE}"
    assert sw_verify(sw_headers(header)).delivery_id == SW_ID


def test_standard_webhooks_rotation_accepts_old_and_new_secret() -> None:
    assert sw_verify(sw_headers(), secrets=[OTHER_WHSEC, SW_SECRET]).delivery_id == SW_ID
    assert sw_verify(sw_headers(), secrets=[SW_SECRET, OTHER_WHSEC]).delivery_id == SW_ID


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        (sw_headers(), b'{"test": 2432232315}', "bad_signature"),
        (sw_headers(msg_id="msg_other"), SW_BODY, "bad_signature"),
        (sw_headers(timestamp=str(SW_TIMESTAMP + 1)), SW_BODY, "bad_signature"),
        (sw_headers("v1,bm9wZQ=="), SW_BODY, "bad_signature"),
        (sw_headers("v2," + SW_SIGNATURE[3:]), SW_BODY, "bad_signature"),
        (sw_headers("v1,not base64!!"), SW_BODY, "bad_signature"),
        (sw_headers("v1,é"), SW_BODY, "bad_signature"),
        (sw_headers("garbage"), SW_BODY, "bad_signature"),
        (sw_headers(timestamp="soon"), SW_BODY, "bad_timestamp"),
        (sw_headers(timestamp="١٦١٤٢٦٥٣٣٠"), SW_BODY, "bad_timestamp"),
        (sw_headers(timestamp="-1614265330"), SW_BODY, "bad_timestamp"),
        (sw_headers(timestamp="9" * 40), SW_BODY, "bad_timestamp"),
        (
            CIMultiDict({"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP)}),
            SW_BODY,
            "missing_signature",
        ),
        (CIMultiDict(), SW_BODY, "missing_signature"),
    ],
)
def test_standard_webhooks_refuses_tampered_or_malformed(
    headers: CIMultiDict[str], body: bytes, code: str
) -> None:
    assert failure_code(lambda: sw_verify(headers, body)) == code


def test_standard_webhooks_non_ascii_id_is_refused_not_crashed() -> None:
    assert failure_code(lambda: sw_verify(sw_headers(msg_id="msg_\udcff\u00e9"))) == "bad_signature"


def test_standard_webhooks_tolerance_applies_both_ways() -> None:
    assert sw_verify(sw_headers(), now=SW_TIMESTAMP + 300).timestamp == SW_TIMESTAMP
    assert sw_verify(sw_headers(), now=SW_TIMESTAMP - 300).timestamp == SW_TIMESTAMP
    assert failure_code(lambda: sw_verify(sw_headers(), now=SW_TIMESTAMP + 301)) == "stale_timestamp"
    assert failure_code(lambda: sw_verify(sw_headers(), now=SW_TIMESTAMP - 301)) == "future_timestamp"
    assert sw_verify(sw_headers(), now=SW_TIMESTAMP + 3000, tolerance=3600).delivery_id == SW_ID


# -- hmac-sha256 ---------------------------------------------------------------------------------------------

GITHUB = HmacSha256Verify(secrets=(GH_SECRET,), header="X-Hub-Signature-256", prefix="sha256=")


def test_github_documented_example_verifies() -> None:
    verified = build_verifier(GITHUB).verify(CIMultiDict({"X-Hub-Signature-256": GH_SIGNATURE}), GH_BODY, 0.0)
    assert verified.delivery_id is None


def test_header_lookup_is_case_insensitive() -> None:
    build_verifier(GITHUB).verify(CIMultiDict({"x-hub-signature-256": GH_SIGNATURE}), GH_BODY, 0.0)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (GH_SIGNATURE[:-1] + "f", "bad_signature"),
        (GH_SIGNATURE[len("sha256=") :], "bad_signature"),
        ("sha1=" + GH_SIGNATURE[7:], "bad_signature"),
        ("sha256=zz", "bad_signature"),
        ("sha256=757107", "bad_signature"),
        ("sha256=é", "bad_signature"),
        ("sha256=\udcff", "bad_signature"),
        ("", "missing_signature"),
    ],
)
def test_hmac_refuses_tampered_or_malformed(value: str, code: str) -> None:
    verifier = build_verifier(GITHUB)
    assert (
        failure_code(lambda: verifier.verify(CIMultiDict({"X-Hub-Signature-256": value}), GH_BODY, 0.0))
        == code
    )


def test_hmac_refuses_tampered_body() -> None:
    verifier = build_verifier(GITHUB)
    headers = CIMultiDict({"X-Hub-Signature-256": GH_SIGNATURE})
    assert failure_code(lambda: verifier.verify(headers, b"Hello, World?", 0.0)) == "bad_signature"


def test_hmac_rotation_and_base64_encoding() -> None:
    config = HmacSha256Verify(secrets=("old-secret", "new-secret"), header="X-Signature", encoding="base64")
    verifier = build_verifier(config)
    for secret in (b"old-secret", b"new-secret"):
        signature = base64.b64encode(hmac.digest(secret, b"{}", "sha256")).decode()
        verifier.verify(CIMultiDict({"X-Signature": signature}), b"{}", 0.0)
    retired = base64.b64encode(hmac.digest(b"retired", b"{}", "sha256")).decode()
    assert (
        failure_code(lambda: verifier.verify(CIMultiDict({"X-Signature": retired}), b"{}", 0.0))
        == "bad_signature"
    )


def test_hmac_header_comes_from_the_preset_when_left_out() -> None:
    verifier = build_verifier(HmacSha256Verify(secrets=("s",)), default_header="X-DevRev-Signature")
    verifier.verify(CIMultiDict({"X-DevRev-Signature": hmac.digest(b"s", b"{}", "sha256").hex()}), b"{}", 0.0)
    with pytest.raises(FieldProblem, match="header"):
        build_verifier(HmacSha256Verify(secrets=("s",)))


# -- bearer and none ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Bearer tok-new", "bearer tok-old", "tok-new"])
def test_bearer_accepts_current_tokens_with_or_without_the_prefix(value: str) -> None:
    verifier = build_verifier(BearerVerify(tokens=("tok-old", "tok-new")))
    verifier.verify(CIMultiDict({"Authorization": value}), b"", 0.0)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Authorization": "Bearer tok-wrong"}, "bad_token"),
        ({"Authorization": "Bearer "}, "missing_token"),
        ({"Authorization": "Bearer tök"}, "bad_token"),
        ({"Authorization": "Bearer \udcff"}, "bad_token"),
        ({}, "missing_token"),
    ],
)
def test_bearer_refuses_wrong_or_missing_tokens(headers: dict[str, str], code: str) -> None:
    verifier = build_verifier(BearerVerify(tokens=("tok-new",)))
    assert failure_code(lambda: verifier.verify(CIMultiDict(headers), b"", 0.0)) == code


def test_bearer_custom_header() -> None:
    verifier = build_verifier(BearerVerify(tokens=("t0ken",), header="X-Hook-Token"))
    verifier.verify(CIMultiDict({"x-hook-token": "t0ken"}), b"", 0.0)


def test_none_verifies_nothing() -> None:
    assert build_verifier(NoVerify()).verify(CIMultiDict(), b"", 0.0).delivery_id is None


# -- config ------------------------------------------------------------------------------------------------


@pytest.fixture
def converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    configure_converter(converter)
    return converter


def test_structures_each_scheme_by_its_scheme_key(converter: cattrs.Converter) -> None:
    assert converter.structure({"scheme": "none"}, VerifyConfig) == NoVerify()  # type: ignore[arg-type]
    assert converter.structure(
        {"scheme": "standard-webhooks", "secrets": [SW_SECRET], "tolerance": 60},
        VerifyConfig,  # type: ignore[arg-type]
    ) == StandardWebhooksVerify(secrets=(SW_SECRET,), tolerance=60.0)
    assert converter.structure(
        {"scheme": "hmac-sha256", "secrets": ["s"], "header": "X-Hub-Signature-256", "prefix": "sha256="},
        VerifyConfig,  # type: ignore[arg-type]
    ) == HmacSha256Verify(secrets=("s",), header="X-Hub-Signature-256", prefix="sha256=")
    assert converter.structure(
        {"scheme": "bearer", "tokens": ["t"]},
        VerifyConfig,  # type: ignore[arg-type]
    ) == BearerVerify(tokens=("t",))


def messages(converter: cattrs.Converter, value: Any) -> list[str]:
    with pytest.raises(Exception) as caught:
        converter.structure(value, VerifyConfig)  # type: ignore[arg-type]
    found = cattrs.transform_error(caught.value, path="verify", format_exception=lambda error, _: str(error))
    return ["{1}: {0}".format(*message.rsplit(" @ ", 1)) for message in found]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"scheme": "sha1"}, "verify.scheme: unknown scheme 'sha1'; valid schemes: \"standard-webhooks\","),
        ({"secrets": ["s"]}, "verify.scheme: missing; valid schemes:"),
        (
            {"scheme": "standard-webhooks", "secrets": []},
            "verify.secrets: empty; add at least one whsec_ secret or set insecure = true",
        ),
        (
            {"scheme": "standard-webhooks", "secrets": ["plain"]},
            "verify.secrets[0]: does not start with whsec_",
        ),
        ({"scheme": "standard-webhooks", "secrets": ["whsec_***"]}, "verify.secrets[0]: is not base64"),
        (
            {"scheme": "standard-webhooks", "secrets": [SW_SECRET], "tolerance": 0},
            "verify.tolerance: must be",
        ),
        ({"scheme": "hmac-sha256", "secrets": "s"}, "verify.secrets: expected a list of strings"),
        (
            {"scheme": "hmac-sha256", "secrets": [""]},
            "verify.secrets[0]: empty; is its ${ENV} variable unset?",
        ),
        (
            {"scheme": "hmac-sha256", "secrets": ["s"], "encoding": "hexa"},
            "verify.encoding: unknown encoding",
        ),
        (
            {"scheme": "hmac-sha256", "secret": ["s"]},
            "verify.secret: unknown key; did you mean secrets? valid keys here: scheme, secrets",
        ),
        ({"scheme": "bearer", "tokens": ["Bearer x"]}, 'verify.tokens[0]: starts with "Bearer "'),
        ({"scheme": "bearer", "tokens": []}, "verify.tokens: empty; add at least one token"),
        ({"scheme": "bearer", "tokens": ["t"], "header": "Bad Header"}, "verify.header: 'Bad Header' is not"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(
    converter: cattrs.Converter, value: Any, expected: str
) -> None:
    assert any(message.startswith(expected) for message in messages(converter, value)), messages(
        converter, value
    )


def test_field_problems_read_well_without_cattrs() -> None:
    with pytest.raises(ValueError, match=r"^secrets: empty; add at least one whsec_ secret"):
        StandardWebhooksVerify(secrets=())


def test_secrets_stay_out_of_the_reprs_of_configs_and_verifiers() -> None:
    configs: list[VerifyConfig] = [
        StandardWebhooksVerify(secrets=(SW_SECRET,)),
        HmacSha256Verify(secrets=(GH_SECRET,), header="X-Hub-Signature-256"),
        BearerVerify(tokens=("bearer-s3cret",)),
    ]
    for config in configs:
        for shown in (repr(config), repr(build_verifier(config))):
            for secret in (SW_SECRET[6:], GH_SECRET, "bearer-s3cret", b"bearer-s3cret".hex()):
                assert secret not in shown, shown
