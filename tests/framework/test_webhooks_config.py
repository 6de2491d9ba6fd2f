"""`[[webhooks]]` tables into WebhookRoute: structuring, presets, errors at their key, check findings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import cattrs
import pytest

from framework.store.base import DEFAULT_DEDUPE_TTL
from framework.triggers.verify_config import BearerVerify, HmacSha256Verify, NoVerify, StandardWebhooksVerify
from framework.triggers.webhook_routes import (
    WebhookRoute,
    configure_converter,
    route_errors,
    route_warnings,
)

BOT_TOML = """
[[webhooks]]
path = "/hooks/github"
event_field = "action"
id_header = "X-GitHub-Delivery"
[webhooks.verify]
scheme = "hmac-sha256"
header = "X-Hub-Signature-256"
prefix = "sha256="
secrets = ["gh-secret"]

[[webhooks]]
path = "/hooks/devrev"
preset = "devrev"
verify = { secrets = ["devrev-secret"] }

[[webhooks]]
path = "/hooks/shifts"
event = "shift.published"
ordering_field = "data.chat_id"
dedupe_ttl = 3600
max_body_bytes = 65536
verify.scheme = "standard-webhooks"
verify.secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
verify.tolerance = 120

[[webhooks]]
path = "/hooks/ci"
event = "ci.finished"
verify = { scheme = "bearer", tokens = ["t1", "t2"] }

[[webhooks]]
path = "/hooks/dev"
event_field = "type"
insecure = true
verify = { scheme = "none" }
"""


@pytest.fixture
def converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    configure_converter(converter)
    return converter


def structure(converter: cattrs.Converter, toml: str) -> list[WebhookRoute]:
    return converter.structure(tomllib.loads(toml)["webhooks"], list[WebhookRoute])


def test_every_scheme_structures_from_toml(converter: cattrs.Converter) -> None:
    github, devrev, shifts, ci, dev = structure(converter, BOT_TOML)
    assert github.verify == HmacSha256Verify(
        secrets=("gh-secret",), header="X-Hub-Signature-256", prefix="sha256="
    )
    assert github.id_header == "X-GitHub-Delivery" and github.dedupe_ttl == DEFAULT_DEDUPE_TTL
    assert devrev.verify == HmacSha256Verify(secrets=("devrev-secret",)) and devrev.preset == "devrev"
    assert shifts.verify == StandardWebhooksVerify(
        secrets=("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",), tolerance=120.0
    )
    assert (shifts.ordering_field, shifts.dedupe_ttl, shifts.max_body_bytes) == (
        ("data.chat_id",),
        3600.0,
        65536,
    )
    assert ci.verify == BearerVerify(tokens=("t1", "t2"))
    assert dev.verify == NoVerify() and dev.insecure
    for index, route in enumerate((github, devrev, shifts, ci, dev)):
        assert route_errors(route, f"webhooks[{index}]") == []


def errors(converter: cattrs.Converter, toml: str) -> list[str]:
    with pytest.raises(Exception) as caught:
        structure(converter, toml)
    found = cattrs.transform_error(
        caught.value, path="webhooks", format_exception=lambda error, _: str(error)
    )
    return ["bot.toml: {1}: {0}".format(*message.rsplit(" @ ", 1)) for message in found]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nverify = { scheme = "standard-webhooks", secrets = [] }',
            "bot.toml: webhooks[0].verify.secrets: empty;"
            " add at least one whsec_ secret or set insecure = true",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nverify = { scheme = "hmac" }',
            "bot.toml: webhooks[0].verify.scheme: unknown scheme 'hmac'; valid schemes: "
            '"standard-webhooks", "hmac-sha256", "bearer", "none"',
        ),
        (
            '[[webhooks]]\npath = "hooks"\nevent = "e"\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].path: 'hooks' is not a plain URL path; expected e.g. /hooks/github",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevnt = "e"\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].evnt: unknown key; did you mean event? valid keys here: path, verify, event,",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\npreset = "github"\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].preset: unknown preset 'github'; the only preset is \"devrev\"",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent_field = "data..type"\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].event_field: 'data..type' is not a dotted path",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nordering_field = ["a.b", "c..d"]\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].ordering_field: 'c..d' is not a dotted path into the body",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nordering_field = 3\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].ordering_field: 3: expected a dotted path or a list of them",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nmax_body_bytes = 0\nverify = { scheme = "none" }',
            "bot.toml: webhooks[0].max_body_bytes: must be positive, got 0",
        ),
    ],
)
def test_errors_name_the_key_and_the_fix(converter: cattrs.Converter, toml: str, expected: str) -> None:
    found = errors(converter, toml)
    assert any(message.startswith(expected) for message in found), found


def route(**fields: Any) -> WebhookRoute:
    fields.setdefault("path", "/h")
    return WebhookRoute(**fields)


HMAC = HmacSha256Verify(secrets=("s",), header="X-Sig")


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (route(event="e", verify=NoVerify()), 'w.verify.scheme: "none" accepts requests from anyone'),
        (
            route(event="e", event_field="type", verify=HMAC),
            "w: both event and event_field are set; keep one",
        ),
        (route(verify=HMAC), 'w: no event type; set event = "thing.happened" or event_field = "type"'),
        (route(event="e", id_field="id", id_header="X-Id", verify=HMAC), "w: both id_field and id_header"),
        (
            route(event="e", verify=HmacSha256Verify(secrets=("s",))),
            "w.verify.header: missing; name the signature",
        ),
        (
            route(preset="devrev", verify=BearerVerify(tokens=("t",))),
            'w.verify.scheme: DevRev signs with "hmac',
        ),
    ],
)
def test_route_errors(built: WebhookRoute, expected: str) -> None:
    found = route_errors(built, "w")
    assert len(found) == 1 and found[0].startswith(expected), found


def test_route_warnings() -> None:
    assert route_warnings(route(event="e", verify=HMAC), "w")[0].startswith("w: warning: no delivery id")
    assert route_errors(route(event="e", verify=HMAC), "w") == []
    assert route_warnings(route(event="e", id_header="X-Id", verify=HMAC), "w") == []
    assert route_warnings(route(event="e", verify=StandardWebhooksVerify(secrets=("whsec_AAAA",))), "w") == []
    assert route_warnings(route(preset="devrev", verify=HmacSha256Verify(secrets=("s",))), "w") == []
    insecure = route_warnings(route(event="e", id_field="id", verify=NoVerify(), insecure=True), "w")
    assert insecure == ["w: warning: insecure = true; anyone who can reach /h can enqueue events"]


def test_a_plain_converter_reports_problems_too() -> None:
    plain = cattrs.Converter(detailed_validation=False)
    configure_converter(plain)
    with pytest.raises(Exception) as caught:
        structure(
            plain, '[[webhooks]]\npath = "/h"\nevent = "e"\nverify = { scheme = "bearer", tokens = [" t"] }'
        )
    assert "has leading or trailing whitespace; remove it" in repr(caught.value.exceptions)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('webhooks = ["/h"]', "expected a table ([[webhooks]]"),
        (
            '[[webhooks]]\npath = "/h"\nevent = "e"\nverify = "none"',
            "expected a table such as { scheme = ...",
        ),
        ('[[webhooks]]\npath = "/h"\nevent = " "\nverify = { scheme = "none" }', "empty; remove the key"),
    ],
)
def test_shapes_that_are_not_tables(converter: cattrs.Converter, toml: str, expected: str) -> None:
    assert any(expected in message for message in errors(converter, toml)), errors(converter, toml)


def test_already_built_values_pass_through(converter: cattrs.Converter) -> None:
    built = WebhookRoute(path="/h", event="e", verify=NoVerify(), insecure=True)
    assert converter.structure([built], list[WebhookRoute]) == [built]
    assert converter.structure(
        [{"path": "/h", "event": "e", "insecure": True, "verify": NoVerify()}], list[WebhookRoute]
    ) == [built]


def test_every_toml_example_in_the_docs_is_a_valid_route(converter: cattrs.Converter) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    examples = re.findall(r"```toml\n(.*?)```", docs, flags=re.S)
    assert len(examples) >= 5
    for example in examples:
        (built,) = structure(converter, re.sub(r"\$\{\w+\}", "whsec_c2VjcmV0", example))  # valid for all
        assert route_errors(built, "webhooks[0]") == []


def test_ordering_field_takes_one_path_or_a_list(converter: cattrs.Converter) -> None:
    one, several = structure(
        converter,
        '[[webhooks]]\npath = "/a"\nevent = "e"\nordering_field = "x.id"\nverify = { scheme = "none" }\n'
        '[[webhooks]]\npath = "/b"\nevent = "e"\nordering_field = ["x.id", "y.id"]\nverify = { scheme = "none" }',
    )
    assert (one.ordering_field, several.ordering_field) == (("x.id",), ("x.id", "y.id"))
    assert route(event="e", verify=HMAC).ordering_field == ()
