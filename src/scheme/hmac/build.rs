//! `provider = "hmac"`: the generic engine with every setting taken from the route's keys,
//! each checked against the others (a placeholder needs its source, a source needs its
//! placeholder), one small step per setting.

use http::HeaderName;

use super::mac::{Algorithm, Encoding};
use super::template::{parse_template, Part};
use super::{Carrier, HeaderSet, HmacScheme, Params, TimestampFrom, TimestampRule};
use crate::scheme::common::{
    decode_base64_secrets, header_name, public_url, TimestampFormat, DEFAULT_TOLERANCE,
};
use crate::scheme::{BuildError, Options};
use crate::secret::Secret;

/// Builds `provider = "hmac"` from the route's keys.
///
/// # Errors
/// `signature_header` missing; an unknown `algorithm`, `encoding`, `timestamp_format` or
/// `secret_encoding`; a malformed `signed_payload` or `signature_list`; a placeholder the
/// route gives no source for (`{timestamp}` without a timestamp, `{id}` without `id_header`,
/// `{url}` without `public_url`), or a source the template does not sign.
pub fn build(opts: &Options<'_>, secrets: Vec<Secret>) -> Result<HmacScheme, BuildError> {
    let signature = signature_header(opts)?;
    let algorithm = named(opts.algorithm, Algorithm::Sha256, Algorithm::parse, |t| {
        BuildError::new(
            "algorithm",
            format!("unknown algorithm `{t}` (use sha1, sha256 or sha512)"),
        )
    })?;
    let encoding = named(opts.encoding, Encoding::Hex, Encoding::parse, |t| {
        BuildError::new(
            "encoding",
            format!("unknown encoding `{t}` (use hex or base64)"),
        )
    })?;
    let template = parse_template(opts.signed_payload.unwrap_or("{body}"))
        .map_err(|e| BuildError::new("signed_payload", e))?;
    let carrier = carrier(opts)?;
    let (timestamp_header, timestamp) = timestamp(opts, &carrier, &template)?;
    let id = id_header(opts, &template)?;
    let public_url = signed_url(opts, &template)?;
    let keys = keys(opts, &secrets)?;
    let params = Params {
        provider: "hmac",
        headers: vec![HeaderSet {
            signature,
            timestamp: timestamp_header,
            id: id.clone(),
        }],
        carrier,
        algorithm,
        encoding,
        template,
        timestamp,
        delivery_id: id,
        public_url,
        decoded_url_too: false,
    };
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    Ok(HmacScheme::new(params, &keys))
}

fn signature_header(opts: &Options<'_>) -> Result<HeaderName, BuildError> {
    let header = opts.signature_header.ok_or_else(|| {
        BuildError::new(
            "signature_header",
            "missing: provider = \"hmac\" needs the name of the header that carries the signature",
        )
    })?;
    header_name("signature_header", header)
}

/// A key that names one of a few values, or `default` when unset.
fn named<T>(
    text: Option<&str>,
    default: T,
    parse: fn(&str) -> Option<T>,
    unknown: impl FnOnce(&str) -> BuildError,
) -> Result<T, BuildError> {
    match text {
        None => Ok(default),
        Some(text) => parse(text).ok_or_else(|| unknown(text)),
    }
}

fn carrier(opts: &Options<'_>) -> Result<Carrier, BuildError> {
    match (&opts.signature_list, opts.signature_prefix) {
        (Some(_), Some(_)) => Err(BuildError::new(
            "signature_prefix",
            "give either `signature_prefix` or `signature_list`, not both",
        )),
        (Some(list), None) => Ok(Carrier::List(list.clone())),
        (None, prefix) => Ok(Carrier::Single {
            prefix: prefix.unwrap_or("").to_owned(),
        }),
    }
}

/// The timestamp header and rule: a timestamp is checked exactly when the template signs it
/// and the route says where it is.
fn timestamp(
    opts: &Options<'_>,
    carrier: &Carrier,
    template: &[Part],
) -> Result<(Option<HeaderName>, Option<TimestampRule>), BuildError> {
    let in_list = matches!(carrier, Carrier::List(l) if l.timestamp_key.is_some());
    let format = named(
        opts.timestamp_format,
        TimestampFormat::UnixSeconds,
        TimestampFormat::parse,
        |t| {
            BuildError::new(
                "timestamp_format",
                format!("unknown format `{t}` (use unix, unix_ms or rfc3339)"),
            )
        },
    )?;
    let header = opts
        .timestamp_header
        .map(|h| header_name("timestamp_header", h))
        .transpose()?;
    let from = match (&header, in_list) {
        (Some(_), true) => {
            return Err(BuildError::new(
                "timestamp_header",
                "the timestamp already comes from `signature_list`; remove one of them",
            ))
        }
        (Some(_), false) => Some(TimestampFrom::Header),
        (None, true) => Some(TimestampFrom::ListItem),
        (None, false) => None,
    };
    let rule = match (from, template.contains(&Part::Timestamp)) {
        (Some(from), true) => Some(TimestampRule {
            from,
            format,
            tolerance: opts.tolerance.unwrap_or(DEFAULT_TOLERANCE),
        }),
        (None, false) => None,
        (None, true) => {
            return Err(BuildError::new(
                "signed_payload",
                "uses {timestamp} but the route has no `timestamp_header` (or `timestamp` in `signature_list`)",
            ))
        }
        (Some(_), false) => {
            let key = if in_list { "signature_list" } else { "timestamp_header" };
            return Err(BuildError::new(
                key,
                "gives a timestamp but `signed_payload` does not contain {timestamp}: an \
                 unsigned timestamp proves nothing (for example: signed_payload = \"{timestamp}.{body}\")",
            ));
        }
    };
    if rule.is_none() {
        untimed(opts)?;
    }
    Ok((header, rule))
}

/// Refuses the timestamp keys on a route with no signed timestamp.
fn untimed(opts: &Options<'_>) -> Result<(), BuildError> {
    for (key, set) in [
        ("tolerance", opts.tolerance.is_some()),
        ("timestamp_format", opts.timestamp_format.is_some()),
    ] {
        if set {
            return Err(BuildError::new(
                key,
                "applies only to a route with a signed timestamp",
            ));
        }
    }
    Ok(())
}

fn id_header(opts: &Options<'_>, template: &[Part]) -> Result<Option<HeaderName>, BuildError> {
    let id = opts
        .id_header
        .map(|h| header_name("id_header", h))
        .transpose()?;
    if id.is_none() && template.contains(&Part::Id) {
        return Err(BuildError::new(
            "signed_payload",
            "uses {id} but the route has no `id_header`",
        ));
    }
    Ok(id)
}

fn signed_url(opts: &Options<'_>, template: &[Part]) -> Result<Option<String>, BuildError> {
    let url = opts
        .public_url
        .map(|u| public_url("public_url", u))
        .transpose()?;
    match (&url, template.contains(&Part::Url)) {
        (None, true) => Err(BuildError::new(
            "signed_payload",
            "uses {url} but the route has no `public_url`",
        )),
        (Some(_), false) => Err(BuildError::new(
            "public_url",
            "is set but `signed_payload` does not contain {url}",
        )),
        _ => Ok(url),
    }
}

/// The HMAC keys: the secrets' bytes, or their base64 decoding (`secret_encoding`).
fn keys(opts: &Options<'_>, secrets: &[Secret]) -> Result<Vec<Vec<u8>>, BuildError> {
    match opts.secret_encoding {
        None | Some("text") => Ok(secrets.iter().map(|s| s.expose().to_vec()).collect()),
        Some("base64") => {
            decode_base64_secrets(secrets, "").map_err(|e| BuildError::new("secret", e))
        }
        Some(other) => Err(BuildError::new(
            "secret_encoding",
            format!("unknown secret encoding `{other}` (use text or base64)"),
        )),
    }
}
