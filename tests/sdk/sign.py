#!/usr/bin/env python3
"""Signs webhook requests with the providers' own Python SDKs and prints them as JSON.

The end-to-end test tests/e2e/sdk.rs runs this script, sends every case through hookwall and
checks that the upstream gets it byte for byte (and that a copy with one body byte changed is
refused). The signatures come from the SDKs, never from hookwall, so a disagreement between
hookwall and a provider shows up as a failing test.

Every case is also checked with the same SDK's own verifier before it is printed: if that
fails, the script is wrong and it says so (exit status 3) instead of printing anything.

Secrets and the public base URL come from the command line or from the environment:

    --stripe-secret            HOOKWALL_SDK_STRIPE_SECRET             whsec_... (used verbatim)
    --standard-webhooks-secret HOOKWALL_SDK_STANDARD_WEBHOOKS_SECRET  whsec_<base64>
    --svix-secret              HOOKWALL_SDK_SVIX_SECRET               whsec_<base64>
    --slack-secret             HOOKWALL_SDK_SLACK_SECRET
    --twilio-token             HOOKWALL_SDK_TWILIO_TOKEN
    --hubspot-secret           HOOKWALL_SDK_HUBSPOT_SECRET
    --public-base              HOOKWALL_SDK_PUBLIC_BASE               e.g. https://hooks.example.test

Output: a JSON list of cases, each
    {"name", "provider", "path", "query", "content_type", "headers": {...}, "body_b64"}
where `query` has no leading `?` ("" for none) and `path` is `/sdk/<provider>`. For the
URL-signing providers (Twilio, HubSpot) the signed URL is `<public base><path>[?<query>]`.

Install the SDKs with: .venv/bin/pip install -r tests/sdk/requirements.txt
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

try:
    import stripe
    from hubspot.utils.signature import Signature as HubSpotSignature
    from slack_sdk.signature import SignatureVerifier as SlackSignatureVerifier
    from standardwebhooks.webhooks import Webhook as StandardWebhook
    from svix.webhooks import Webhook as SvixWebhook
    from twilio.request_validator import RequestValidator as TwilioRequestValidator
except ImportError as e:  # pragma: no cover - a setup problem, not a test result
    sys.exit(
        f"sign.py: a provider SDK is missing ({e}); install them with "
        "`.venv/bin/pip install -r tests/sdk/requirements.txt`"
    )

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

SECRETS = [
    ("stripe_secret", "HOOKWALL_SDK_STRIPE_SECRET"),
    ("standard_webhooks_secret", "HOOKWALL_SDK_STANDARD_WEBHOOKS_SECRET"),
    ("svix_secret", "HOOKWALL_SDK_SVIX_SECRET"),
    ("slack_secret", "HOOKWALL_SDK_SLACK_SECRET"),
    ("twilio_token", "HOOKWALL_SDK_TWILIO_TOKEN"),
    ("hubspot_secret", "HOOKWALL_SDK_HUBSPOT_SECRET"),
    ("public_base", "HOOKWALL_SDK_PUBLIC_BASE"),
]


class SelfCheckFailed(Exception):
    """An SDK's own verifier refused what the same SDK signed: the script is wrong."""


def expect(ok: bool, name: str) -> None:
    if not ok:
        raise SelfCheckFailed(f"case {name}: the SDK's own verifier refuses it")


def case(name, provider, body: str, headers, *, query="", content_type=JSON):
    return {
        "name": name,
        "provider": provider,
        "path": f"/sdk/{provider}",
        "query": query,
        "content_type": content_type,
        "headers": headers,
        "body_b64": base64.b64encode(body.encode("utf-8")).decode("ascii"),
    }


def now_utc() -> datetime:
    # Whole seconds: the Standard Webhooks SDKs floor the timestamp they sign.
    return datetime.fromtimestamp(int(time.time()), tz=timezone.utc)


def stripe_cases(secret: str) -> list:
    # Stripe sends its events pretty-printed; the signature covers the exact text.
    event = {
        "id": "evt_1SdkE2eHookwall",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_3Sdk", "amount": 4200, "description": "Café crème ☕"}},
        "livemode": False,
    }
    body = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    expect(stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300), "stripe")
    out = [
        case(
            "stripe",
            "stripe",
            body,
            {
                "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
    ]

    # While a secret is rolled Stripe signs with the old and the new one, and test mode adds a
    # v0 entry made with a secret nobody has. Same timestamp for all, as Stripe does.
    body = json.dumps({"id": "evt_2SdkRolled", "object": "event", "type": "ping"}, separators=(",", ":"))
    t = int(time.time())
    signed = f"{t}.{body}"
    old = stripe.WebhookSignature._compute_signature(signed, "whsec_a_secret_that_was_rolled_away")
    new = stripe.WebhookSignature._compute_signature(signed, secret)
    v0 = stripe.WebhookSignature._compute_signature(signed, "whsec_stripe_test_mode_v0_dummy")
    header = f"t={t},v1={old},v1={new},v0={v0}"
    expect(stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300), "stripe-rolled-secret")
    out.append(case("stripe-rolled-secret", "stripe", body, {"Stripe-Signature": header}))
    return out


def standard_webhooks_cases(secret: str) -> list:
    out = []
    body = json.dumps(
        {"type": "invoice.paid", "timestamp": "2024-05-01T12:00:00Z", "data": {"note": "Grüße"}},
        ensure_ascii=False,
    )
    msg_id = f"msg_{uuid.uuid4().hex}"
    at = now_utc()
    signature = StandardWebhook(secret).sign(msg_id, at, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    StandardWebhook(secret).verify(body, headers, json_parse=False)
    out.append(case("standard-webhooks", "standard-webhooks", body, headers))

    # Rotation: one signature per key, space-separated; the route knows only the second.
    body = json.dumps({"type": "ping", "data": {}})
    msg_id = f"msg_{uuid.uuid4().hex}"
    at = now_utc()
    other = "whsec_" + base64.b64encode(b"a key this route does not have!!").decode()
    signature = f"{StandardWebhook(other).sign(msg_id, at, body)} {StandardWebhook(secret).sign(msg_id, at, body)}"
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    StandardWebhook(secret).verify(body, headers, json_parse=False)
    out.append(case("standard-webhooks-two-signatures", "standard-webhooks", body, headers))
    return out


def svix_cases(secret: str) -> list:
    out = []
    for family in ("svix", "webhook"):
        body = json.dumps(
            {"type": "user.created", "data": {"id": "user_2Sdk", "first_name": "Zoë", "family": family}},
            ensure_ascii=False,
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        at = now_utc()
        signature = SvixWebhook(secret).sign(msg_id, at, body)
        headers = {
            f"{family}-id": msg_id,
            f"{family}-timestamp": str(int(at.timestamp())),
            f"{family}-signature": signature,
        }
        SvixWebhook(secret).verify(body, headers)
        name = "svix" if family == "svix" else "svix-webhook-headers"
        out.append(case(name, "svix", body, headers))
    return out


def slack_cases(secret: str) -> list:
    verifier = SlackSignatureVerifier(secret)
    out = []
    # A slash command: a form body, signed exactly as sent (escapes and all).
    command = urlencode(
        [
            ("token", "xyzz0WbapA4vBCDEFasx0q6G"),
            ("team_id", "T1DC2JH3J"),
            ("channel_name", "général"),
            ("user_name", "roadrunner"),
            ("command", "/webhook-collect"),
            ("text", "deploy api --env=prod & tell @here"),
            ("response_url", "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"),
            ("trigger_id", "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"),
        ]
    )
    event = json.dumps(
        {
            "token": "XXYYZZ",
            "team_id": "T123ABC456",
            "type": "event_callback",
            "event": {"type": "message", "text": "Ship it 🚀", "channel": "C123ABC456"},
            "event_id": "Ev123ABC456",
        },
        ensure_ascii=False,
    )
    for name, body, content_type in (("slack-slash-command", command, FORM), ("slack-event", event, JSON)):
        timestamp = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body),
        }
        expect(verifier.is_valid_request(body, headers), name)
        out.append(case(name, "slack", body, headers, content_type=content_type))
    return out


class FormParams(dict):
    """Form parameters with repeated names, in the shape twilio's RequestValidator reads
    (it iterates the names and asks `getall` for each name's values, like Flask's MultiDict)."""

    def __init__(self, pairs):
        super().__init__()
        self._pairs = list(pairs)
        for k, v in self._pairs:
            self.setdefault(k, v)

    def getall(self, name):
        return [v for k, v in self._pairs if k == name]


def twilio_cases(token: str, base: str) -> list:
    validator = TwilioRequestValidator(token)
    public_url = f"{base}/sdk/twilio"
    out = []

    # An incoming SMS: form POST; the signature covers the URL (with its query) and every
    # decoded parameter, sorted.
    sms = [
        ("ToCountry", "US"),
        ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("Body", "Hello wörld: 1+1=2 & 50% off?"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
    ]
    # Gathered digits: a repeated name, values out of order.
    gather = [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("From", "+14155550100"),
        ("Caller", "+14155550100"),
    ]
    forms = [
        ("twilio-form", sms, "source=sdk&attempt=1", FORM),
        ("twilio-form-repeated-names", gather, "", FORM + "; charset=UTF-8"),
        # The same name and value twice: twilio-python (`sorted(set(values))`) and twilio-node
        # (`new Set(values)`) sign the pair once.
        ("twilio-form-duplicate-pair", gather + [("Digits", "1234")], "", FORM),
    ]
    for name, pairs, query, content_type in forms:
        url = f"{public_url}?{query}" if query else public_url
        params = FormParams(pairs)
        signature = validator.compute_signature(url, params)
        expect(validator.validate(url, params, signature), name)
        out.append(
            case(
                name,
                "twilio",
                urlencode(pairs),
                {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": str(uuid.uuid4())},
                query=query,
                content_type=content_type,
            )
        )

    # A JSON body: the URL carries bodySHA256 and the signature covers the URL alone.
    body = json.dumps({"CallSid": "CA0123456789abcdef0123456789abcdef", "Caller": "+14155550100", "Note": "ça va"}, ensure_ascii=False)
    query = f"kind=json&bodySHA256={validator.compute_hash(body)}"
    url = f"{public_url}?{query}"
    signature = validator.compute_signature(url, {})
    expect(validator.validate(url, body, signature), "twilio-json")
    out.append(case("twilio-json", "twilio", body, {"X-Twilio-Signature": signature}, query=query))
    return out


def hubspot_cases(secret: str, base: str) -> list:
    public_url = f"{base}/sdk/hubspot"
    query = "portalId=62515&app=hookwall-e2e"
    url = f"{public_url}?{query}"
    body = json.dumps(
        [
            {
                "eventId": 100,
                "subscriptionId": 1234,
                "portalId": 62515,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "contact.propertyChange",
                "propertyName": "firstname",
                "propertyValue": "Renée",
            }
        ],
        ensure_ascii=False,
    )
    timestamp = str(int(time.time() * 1000))
    signature = HubSpotSignature.get_signature(
        secret, body, "v3", http_uri=url, http_method="POST", timestamp=timestamp
    )
    expect(
        HubSpotSignature.is_valid(signature, secret, body, url, "POST", "v3", timestamp),
        "hubspot-v3",
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    return [case("hubspot-v3", "hubspot", body, headers, query=query)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for dest, var in SECRETS:
        parser.add_argument("--" + dest.replace("_", "-"), dest=dest, default=os.environ.get(var), help=f"default: ${var}")
    args = parser.parse_args(argv)
    missing = [var for dest, var in SECRETS if not getattr(args, dest)]
    if missing:
        parser.error("missing: " + ", ".join(missing))
    base = args.public_base.rstrip("/")
    try:
        cases = (
            stripe_cases(args.stripe_secret)
            + standard_webhooks_cases(args.standard_webhooks_secret)
            + svix_cases(args.svix_secret)
            + slack_cases(args.slack_secret)
            + twilio_cases(args.twilio_token, base)
            + hubspot_cases(args.hubspot_secret, base)
        )
    except Exception as e:  # the SDK's verifier raised or refused: the script is at fault
        print(f"sign.py: self-check failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    json.dump(cases, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
