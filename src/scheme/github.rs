//! `provider = "github"`: GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body, a
//! preset of the generic HMAC engine. The legacy SHA-1 header (`X-Hub-Signature: sha1=<hex>`)
//! is used only when the route sets `algorithm = "sha1"`; a request can never pick it.
//!
//! Reference: <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use http::HeaderName;

use super::hmac::{Algorithm, Encoding, HmacScheme, Params, Part};
use super::{BuildError, Options};
use crate::config::secret::Secret;

/// The keys the github preset fixes itself; setting them on the route is a mistake.
const FIXED_KEYS: &[(&str, &str)] = &[
    ("signature_header", "X-Hub-Signature-256"),
    ("signature_prefix", "sha256="),
    ("encoding", "hex"),
    ("signed_payload", "the raw body"),
];

/// Builds the GitHub preset.
///
/// # Errors
/// `algorithm` other than `sha256` / `sha1`; any key the preset fixes; `timestamp_header` or
/// `tolerance` (GitHub signs no timestamp).
pub fn build(opts: &Options<'_>, secrets: Vec<Secret>) -> Result<HmacScheme, BuildError> {
    let set = [
        opts.signature_header.is_some(),
        opts.signature_prefix.is_some(),
        opts.encoding.is_some(),
        opts.signed_payload.is_some(),
    ];
    if let Some(((key, fixed), _)) = FIXED_KEYS.iter().zip(set).find(|(_, is_set)| *is_set) {
        return Err(BuildError::new(
            key,
            format!("is only for provider = \"hmac\"; the github preset always uses {fixed}"),
        ));
    }
    if opts.timestamp_header.is_some() {
        return Err(BuildError::new(
            "timestamp_header",
            "GitHub signs no timestamp; remove the key",
        ));
    }
    if opts.tolerance.is_some() {
        return Err(BuildError::new(
            "tolerance",
            "GitHub signs no timestamp, so there is nothing to check a tolerance against",
        ));
    }
    let (header, prefix, algorithm) = match opts.algorithm {
        None | Some("sha256") => ("x-hub-signature-256", "sha256=", Algorithm::Sha256),
        Some("sha1") => ("x-hub-signature", "sha1=", Algorithm::Sha1),
        Some(other) => {
            return Err(BuildError::new(
                "algorithm",
                format!(
                    "GitHub signs with sha256 (or the legacy sha1); `{other}` is not one of them"
                ),
            ))
        }
    };
    let params = Params {
        provider: "github",
        header: HeaderName::from_static(header),
        prefix: prefix.to_owned(),
        algorithm,
        encoding: Encoding::Hex,
        template: vec![Part::Body],
        timestamp: None,
        delivery_id_header: Some(HeaderName::from_static("x-github-delivery")),
    };
    Ok(HmacScheme::new(params, &secrets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::SecretSource;
    use crate::scheme::{Scheme, Signed, Unverified};
    use http::{HeaderMap, HeaderValue, Uri};
    use std::time::SystemTime;

    /// GitHub's published example: secret "It's a Secret to Everybody", payload
    /// "Hello, World!" (validating-webhook-deliveries, "Testing the webhook payload validation").
    const VECTOR_SECRET: &str = "It's a Secret to Everybody";
    const VECTOR_BODY: &[u8] = b"Hello, World!";
    const VECTOR_SHA256: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn github(algorithm: Option<&'static str>) -> HmacScheme {
        let secret = Secret::from_bytes(VECTOR_SECRET, SecretSource::Env("GH".into()));
        build(
            &Options {
                provider: "github",
                algorithm,
                ..Options::default()
            },
            vec![secret],
        )
        .unwrap()
    }

    fn check(
        s: &HmacScheme,
        headers: &[(&'static str, &str)],
        body: &[u8],
    ) -> Result<(), Unverified> {
        let uri = Uri::from_static("/webhooks/github");
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        s.verify(
            &Signed {
                uri: &uri,
                headers: &map,
                body,
            },
            SystemTime::now(),
        )
        .map(|_| ())
    }

    #[test]
    fn verifies_githubs_published_vector() {
        assert_eq!(
            check(
                &github(None),
                &[("x-hub-signature-256", VECTOR_SHA256)],
                VECTOR_BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn sign_reproduces_githubs_published_vector() {
        let uri = Uri::from_static("/");
        let headers = github(None).sign(
            &Signed {
                uri: &uri,
                headers: &HeaderMap::new(),
                body: VECTOR_BODY,
            },
            SystemTime::now(),
        );
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-hub-signature-256"], VECTOR_SHA256);
    }

    #[test]
    fn never_falls_back_to_the_legacy_sha1_header() {
        // HMAC-SHA1 of the vector, as GitHub would send it in X-Hub-Signature.
        let sha1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";
        assert_eq!(
            check(&github(None), &[("x-hub-signature", sha1)], VECTOR_BODY),
            Err(Unverified::MissingSignature)
        );
        // A sha1 value put in the sha256 header is malformed, not a downgrade.
        assert_eq!(
            check(&github(None), &[("x-hub-signature-256", sha1)], VECTOR_BODY),
            Err(Unverified::MalformedSignature)
        );
        // Only a route that asks for sha1 reads it.
        assert_eq!(
            check(
                &github(Some("sha1")),
                &[("x-hub-signature", sha1)],
                VECTOR_BODY
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &github(Some("sha1")),
                &[("x-hub-signature-256", VECTOR_SHA256)],
                VECTOR_BODY
            ),
            Err(Unverified::MissingSignature)
        );
    }

    #[test]
    fn reports_the_delivery_id() {
        let s = github(None);
        let uri = Uri::from_static("/");
        let mut map = HeaderMap::new();
        map.insert(
            "x-hub-signature-256",
            HeaderValue::from_static(VECTOR_SHA256),
        );
        map.insert(
            "x-github-delivery",
            HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        );
        let v = s
            .verify(
                &Signed {
                    uri: &uri,
                    headers: &map,
                    body: VECTOR_BODY,
                },
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(
            v.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }

    #[test]
    fn refuses_keys_the_preset_fixes() {
        let secret = || {
            vec![Secret::from_bytes(
                "abcdefgh-123",
                SecretSource::Env("GH".into()),
            )]
        };
        let o = |f: fn(&mut Options<'static>)| {
            let mut o = Options {
                provider: "github",
                ..Options::default()
            };
            f(&mut o);
            build(&o, secret()).unwrap_err().key
        };
        assert_eq!(
            o(|o| o.signature_header = Some("X-Sig")),
            "signature_header"
        );
        assert_eq!(o(|o| o.signature_prefix = Some("x=")), "signature_prefix");
        assert_eq!(o(|o| o.encoding = Some("base64")), "encoding");
        assert_eq!(o(|o| o.signed_payload = Some("{body}")), "signed_payload");
        assert_eq!(o(|o| o.timestamp_header = Some("X-Ts")), "timestamp_header");
        assert_eq!(
            o(|o| o.tolerance = Some(std::time::Duration::from_secs(5))),
            "tolerance"
        );
        assert_eq!(o(|o| o.algorithm = Some("sha512")), "algorithm");
    }
}
