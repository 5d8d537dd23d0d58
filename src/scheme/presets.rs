//! Provider presets over the generic HMAC engine: each is the data of one sender's scheme
//! (headers, how the signature is written, algorithm, encoding, signed bytes, timestamp source,
//! format and default tolerance, delivery id, secret form). A route names a preset with
//! `provider = "…"`; it may override `tolerance`, and must give `public_url` for URL-signed
//! schemes. Every other scheme key is fixed by the preset, and setting it is an error.
//!
//! Schemes that are more than data (Twilio's form parameters, token compares, signatures in
//! the body, public keys) live in files of their own.

use std::time::Duration;

use http::HeaderName;

use super::common::{decode_base64_secrets, public_url, TimestampFormat};
use super::hmac::{
    self, Algorithm, Carrier, Encoding, HeaderSet, HmacScheme, ListFormat, Params, TimestampFrom,
    TimestampRule,
};
use super::{BuildError, Options};
use crate::secret::Secret;

/// How a preset's secret is turned into the HMAC key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretForm {
    /// The secret's bytes as they are (GitHub, Stripe's `whsec_…`, Slack, …).
    Text,
    /// `whsec_` + base64, decoded (Standard Webhooks); the prefix is optional.
    WhsecBase64,
}

/// How the signature header is written, in preset form.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// `prefix` + encoded tag.
    Single(&'static str),
    /// Versioned entries: separator, pair, version, timestamp entry.
    List(char, char, &'static str, Option<&'static str>),
}

/// Where a preset's timestamp is.
#[derive(Clone, Copy, Debug)]
enum Ts {
    Header(TimestampFormat),
    ListItem(TimestampFormat),
    Json(&'static str, TimestampFormat),
}

/// One header family: the signature header, its timestamp header, its delivery-id header.
type Family = (&'static str, Option<&'static str>, Option<&'static str>);

/// One sender's scheme, as data.
#[derive(Clone, Debug)]
struct Spec {
    /// The signature, timestamp and id headers; a second family where the sender has one.
    families: Vec<Family>,
    form: Form,
    algorithm: Algorithm,
    encoding: Encoding,
    template: &'static str,
    timestamp: Option<(Ts, Duration)>,
    delivery_id: Option<&'static str>,
    secret: SecretForm,
    decoded_url_too: bool,
}

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The HMAC presets, by config name. Standard Webhooks' aliases map to it.
fn spec(name: &str) -> Option<Spec> {
    use Algorithm::{Sha1, Sha256};
    use Encoding::{Base64, Hex};
    use TimestampFormat::{Rfc3339, UnixMillis, UnixSeconds};
    let plain = |header: &'static str, prefix: &'static str, algorithm, encoding| Spec {
        families: vec![(header, None, None)],
        form: Form::Single(prefix),
        algorithm,
        encoding,
        template: "{body}",
        timestamp: None,
        delivery_id: None,
        secret: SecretForm::Text,
        decoded_url_too: false,
    };
    Some(match name {
        // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
        "github" => Spec {
            delivery_id: Some("x-github-delivery"),
            ..plain("x-hub-signature-256", "sha256=", Sha256, Hex)
        },
        // https://docs.stripe.com/webhooks#verify-manually
        "stripe" => Spec {
            families: vec![("stripe-signature", None, None)],
            form: Form::List(',', '=', "v1", Some("t")),
            template: "{timestamp}.{body}",
            timestamp: Some((Ts::ListItem(UnixSeconds), SECS(300))),
            ..plain("", "", Sha256, Hex)
        },
        // https://api.slack.com/authentication/verifying-requests-from-slack
        "slack" => Spec {
            families: vec![("x-slack-signature", Some("x-slack-request-timestamp"), None)],
            form: Form::Single("v0="),
            template: "v0:{timestamp}:{body}",
            timestamp: Some((Ts::Header(UnixSeconds), SECS(300))),
            ..plain("", "", Sha256, Hex)
        },
        // https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
        // Webhooks send `X-Shopify-*`; the newer Events deliveries drop the `X-`.
        "shopify" => Spec {
            families: vec![
                ("x-shopify-hmac-sha256", None, Some("x-shopify-webhook-id")),
                ("shopify-hmac-sha256", None, Some("shopify-webhook-id")),
            ],
            ..plain("", "", Sha256, Base64)
        },
        // https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
        "standard-webhooks" | "svix" | "clerk" | "resend" => Spec {
            families: vec![
                (
                    "webhook-signature",
                    Some("webhook-timestamp"),
                    Some("webhook-id"),
                ),
                ("svix-signature", Some("svix-timestamp"), Some("svix-id")),
            ],
            form: Form::List(' ', ',', "v1", None),
            template: "{id}.{timestamp}.{body}",
            timestamp: Some((Ts::Header(UnixSeconds), SECS(300))),
            secret: SecretForm::WhsecBase64,
            ..plain("", "", Sha256, Base64)
        },
        // https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
        "zoom" => Spec {
            families: vec![("x-zm-signature", Some("x-zm-request-timestamp"), None)],
            form: Form::Single("v0="),
            template: "v0:{timestamp}:{body}",
            timestamp: Some((Ts::Header(UnixSeconds), SECS(300))),
            ..plain("", "", Sha256, Hex)
        },
        // https://developer.paddle.com/webhooks/signature-verification
        "paddle" => Spec {
            families: vec![("paddle-signature", None, None)],
            form: Form::List(';', '=', "h1", Some("ts")),
            template: "{timestamp}:{body}",
            timestamp: Some((Ts::ListItem(UnixSeconds), SECS(5))),
            ..plain("", "", Sha256, Hex)
        },
        // https://developer.pagerduty.com/docs/webhooks/webhook-signatures/
        "pagerduty" => Spec {
            form: Form::List(',', '=', "v1", None),
            ..plain("x-pagerduty-signature", "", Sha256, Hex)
        },
        // https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message
        "twitch" => Spec {
            families: vec![(
                "twitch-eventsub-message-signature",
                Some("twitch-eventsub-message-timestamp"),
                Some("twitch-eventsub-message-id"),
            )],
            form: Form::Single("sha256="),
            template: "{id}{timestamp}{body}",
            timestamp: Some((Ts::Header(Rfc3339), SECS(600))),
            ..plain("", "", Sha256, Hex)
        },
        // https://linear.app/developers/webhooks#securing-webhooks
        "linear" => Spec {
            timestamp: Some((Ts::Json("webhookTimestamp", UnixMillis), SECS(60))),
            delivery_id: Some("linear-delivery"),
            ..plain("linear-signature", "", Sha256, Hex)
        },
        // https://developer.squareup.com/docs/webhooks/step3validate
        "square" => Spec {
            template: "{url}{body}",
            ..plain("x-square-hmacsha256-signature", "", Sha256, Base64)
        },
        // https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks
        "bitbucket" => Spec {
            delivery_id: Some("x-request-uuid"),
            ..plain("x-hub-signature", "sha256=", Sha256, Hex)
        },
        // https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications
        "intercom" => plain("x-hub-signature", "sha1=", Sha1, Hex),
        // https://www.typeform.com/developers/webhooks/secure-your-webhooks/
        "typeform" => plain("typeform-signature", "sha256=", Sha256, Base64),
        // https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
        "meta" => plain("x-hub-signature-256", "sha256=", Sha256, Hex),
        // https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks
        "vercel" => plain("x-vercel-signature", "", Sha1, Hex),
        // https://docs.lemonsqueezy.com/help/webhooks/signing-requests
        "lemonsqueezy" => plain("x-signature", "", Sha256, Hex),
        // https://developers.asana.com/docs/webhooks-guide#security
        "asana" => plain("x-hook-signature", "", Sha256, Hex),
        // https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures
        "trello" => Spec {
            template: "{body}{url}",
            ..plain("x-trello-webhook", "", Sha1, Base64)
        },
        // https://developers.hubspot.com/docs/api/webhooks/validating-requests (v3)
        "hubspot" => Spec {
            families: vec![(
                "x-hubspot-signature-v3",
                Some("x-hubspot-request-timestamp"),
                None,
            )],
            template: "{method}{url}{body}{timestamp}",
            timestamp: Some((Ts::Header(UnixMillis), SECS(300))),
            decoded_url_too: true,
            ..plain("", "", Sha256, Base64)
        },
        // https://docs.mux.com/core/verify-webhook-signatures
        "mux" => Spec {
            families: vec![("mux-signature", None, None)],
            form: Form::List(',', '=', "v1", Some("t")),
            template: "{timestamp}.{body}",
            timestamp: Some((Ts::ListItem(UnixSeconds), SECS(300))),
            ..plain("", "", Sha256, Hex)
        },
        _ => return None,
    })
}

/// The HMAC preset names, as written in config.
pub const NAMES: &[&str] = &[
    "github",
    "stripe",
    "slack",
    "shopify",
    "standard-webhooks",
    "svix",
    "clerk",
    "resend",
    "zoom",
    "paddle",
    "pagerduty",
    "twitch",
    "linear",
    "square",
    "bitbucket",
    "intercom",
    "typeform",
    "meta",
    "vercel",
    "lemonsqueezy",
    "asana",
    "trello",
    "hubspot",
    "mux",
];

/// Builds the preset `name` (one of [`NAMES`]) for a route.
///
/// # Errors
/// A key the preset fixes; `algorithm` other than GitHub's legacy `sha1`; `tolerance` on a
/// preset without a timestamp; `public_url` missing on a URL-signed preset or given to one
/// that signs no URL; a Standard Webhooks secret that is not `whsec_` + base64.
pub fn build(
    name: &'static str,
    opts: &Options<'_>,
    secrets: &[Secret],
) -> Result<HmacScheme, BuildError> {
    let Some(mut spec) = spec(name) else {
        return Err(BuildError::new(
            "provider",
            format!("`{name}` is not an HMAC preset"),
        ));
    };
    // `tolerance` and `public_url` get messages of their own below.
    super::refuse_keys(opts, name, &["algorithm", "tolerance", "public_url"])?;
    choose_algorithm(name, opts.algorithm, &mut spec)?;
    let timestamp = timestamp_rule(name, &spec, opts.tolerance)?;
    let template = hmac::parse_template(spec.template).expect("preset templates parse");
    let signs_url = template.contains(&hmac::Part::Url);
    let public_url = preset_public_url(name, signs_url, opts.public_url)?;
    let keys: Vec<Vec<u8>> = match spec.secret {
        SecretForm::Text => secrets.iter().map(|s| s.expose().to_vec()).collect(),
        SecretForm::WhsecBase64 => {
            decode_base64_secrets(secrets, "whsec_").map_err(|e| BuildError::new("secret", e))?
        }
    };
    let params = Params {
        provider: name,
        headers: header_sets(&spec.families),
        carrier: carrier(&spec.form),
        algorithm: spec.algorithm,
        encoding: spec.encoding,
        template,
        timestamp,
        delivery_id: spec.delivery_id.map(HeaderName::from_static),
        public_url,
        decoded_url_too: spec.decoded_url_too,
    };
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    Ok(HmacScheme::new(params, &keys))
}

/// A preset's algorithm is fixed, except GitHub's legacy `sha1` header by the route's choice.
fn choose_algorithm(
    name: &str,
    algorithm: Option<&str>,
    spec: &mut Spec,
) -> Result<(), BuildError> {
    match (name, algorithm) {
        (_, None) | ("github", Some("sha256")) => Ok(()),
        ("github", Some("sha1")) => {
            spec.families = vec![("x-hub-signature", None, None)];
            spec.form = Form::Single("sha1=");
            spec.algorithm = Algorithm::Sha1;
            Ok(())
        }
        ("github", Some(other)) => Err(BuildError::new(
            "algorithm",
            format!("GitHub signs with sha256 (or the legacy sha1); `{other}` is not one of them"),
        )),
        (_, Some(_)) => Err(BuildError::new(
            "algorithm",
            format!("is fixed by the `{name}` preset; remove it"),
        )),
    }
}

/// The preset's timestamp check, with the route's `tolerance` where it gives one.
fn timestamp_rule(
    name: &str,
    spec: &Spec,
    tolerance: Option<Duration>,
) -> Result<Option<TimestampRule>, BuildError> {
    let Some((ts, default)) = spec.timestamp else {
        return match tolerance {
            Some(_) => Err(BuildError::new(
                "tolerance",
                format!("the `{name}` preset signs no timestamp, so there is nothing to check a tolerance against"),
            )),
            None => Ok(None),
        };
    };
    let (from, format) = match ts {
        Ts::Header(f) => (TimestampFrom::Header, f),
        Ts::ListItem(f) => (TimestampFrom::ListItem, f),
        Ts::Json(field, f) => (TimestampFrom::JsonField(field.to_owned()), f),
    };
    Ok(Some(TimestampRule {
        from,
        format,
        tolerance: tolerance.unwrap_or(default),
    }))
}

/// `public_url`: required by a preset that signs the URL, refused by one that does not.
fn preset_public_url(
    name: &str,
    signs_url: bool,
    given: Option<&str>,
) -> Result<Option<String>, BuildError> {
    match (given, signs_url) {
        (Some(url), true) => Ok(Some(public_url("public_url", url)?)),
        (None, true) => Err(BuildError::new(
            "public_url",
            format!(
                "missing: the `{name}` preset signs the URL the sender posts to; give it as \
                 the sender sees it, e.g. public_url = \"https://example.com/webhooks/{name}\""
            ),
        )),
        (Some(_), false) => Err(BuildError::new(
            "public_url",
            format!("the `{name}` preset does not sign a URL; remove it"),
        )),
        (None, false) => Ok(None),
    }
}

/// Where the signature travels, from the spec's form.
fn carrier(form: &Form) -> Carrier {
    match *form {
        Form::Single(prefix) => Carrier::Single {
            prefix: prefix.to_owned(),
        },
        Form::List(separator, pair, version, ts) => Carrier::List(ListFormat {
            separator,
            pair,
            version: version.to_owned(),
            timestamp_key: ts.map(str::to_owned),
        }),
    }
}

/// The header families, by name.
fn header_sets(families: &[Family]) -> Vec<HeaderSet> {
    families
        .iter()
        .map(|(sig, ts, id)| HeaderSet {
            signature: HeaderName::from_static(sig),
            timestamp: ts.map(HeaderName::from_static),
            id: id.map(HeaderName::from_static),
        })
        .collect()
}

#[cfg(test)]
mod tests;
