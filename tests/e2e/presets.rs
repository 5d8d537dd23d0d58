//! Presets end to end: signatures computed here from each provider's documented formula,
//! sent as raw HTTP with the header names spelled as the providers spell them, through
//! hookwall to a recording upstream; and the setup handshakes a route opts in to.

use hookwall_testkit::client::raw_post;
use hookwall_testkit::reference::{b64, mac1, mac256, now, unb64};

use crate::support::{raw_status, route, Hookwall, Upstream};

const SECRET: &str = "e2e-preset-secret-41c9";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PUBLIC_URL: &str = "https://hooks.example.com";
/// The route key that reads [`SECRET`].
const SECRET_LINE: &str = "secret = { env = \"PRESET_SECRET\" }";

/// The e2e lookup, with the presets' secrets added.
fn env(name: &str) -> Option<String> {
    match name {
        "PRESET_SECRET" => Some(SECRET.into()),
        "PRESET_WHSEC" => Some(WHSEC.into()),
        "META_VERIFY_TOKEN" => Some("meta-verify-token-5e".into()),
        _ => crate::support::env(name),
    }
}

/// One route per preset under test, all in front of `upstream`.
fn config(upstream: std::net::SocketAddr) -> String {
    // `provider`'s route at `/in/<provider>`.
    let preset =
        |provider: &str, extra: &str| route(&format!("/in/{provider}"), upstream, provider, extra);
    let secret = SECRET_LINE;
    let discord_key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .as_bytes(),
    );
    [
        preset("stripe", secret),
        preset("slack", secret),
        preset("svix", "secret = { env = \"PRESET_WHSEC\" }"),
        preset(
            "twilio",
            &format!("{secret}\npublic_url = \"{PUBLIC_URL}/in/twilio\""),
        ),
        preset(
            "hubspot",
            &format!("{secret}\npublic_url = \"{PUBLIC_URL}/in/hubspot\""),
        ),
        preset("gitlab", secret),
        preset("mailgun", secret),
        preset("linear", secret),
        preset("discord", &format!("public_key = \"{discord_key}\"")),
        preset(
            "meta",
            &format!(
                "{secret}\nhandshake = true\nverify_token = {{ env = \"META_VERIFY_TOKEN\" }}"
            ),
        ),
        preset(
            "trello",
            &format!("{secret}\npublic_url = \"{PUBLIC_URL}/in/trello\"\nhandshake = true"),
        ),
        preset("asana", &format!("{secret}\nhandshake = true")),
        preset("zoom", &format!("{secret}\nhandshake = true")),
        preset("shopify", secret),
    ]
    .concat()
}

/// A recording upstream, and hookwall in front of it on [`config`].
async fn start() -> (Upstream, Hookwall) {
    let upstream = Upstream::start().await;
    let hookwall = Hookwall::from_text(&config(upstream.addr), "presets.toml", &env).await;
    (upstream, hookwall)
}

/// A raw HTTP/1.1 POST with the headers spelled as given, on a connection that closes.
fn post(target: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut spelled = vec![("Connection", "close")];
    spelled.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
    raw_post(target, "hooks.example.com", &spelled, body)
}

/// A signed request: path, headers as the provider spells them, body.
type Case = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

/// A request each preset forwards, signed by its provider's formula.
fn signed_cases() -> Vec<Case> {
    let t = now().to_string();
    let k = SECRET.as_bytes();
    let json = br#"{"id":"evt_1","object":"event","data":{"amount":1999}}"#.to_vec();
    let form = b"CallSid=CA123&From=%2B14155550100&Body=Hello+there".to_vec();
    let svix_key = unb64(&WHSEC[6..]);
    let ms = (now() * 1000).to_string();
    let linear = format!(r#"{{"action":"create","webhookTimestamp":{ms}}}"#).into_bytes();
    let mailgun_sig = hex::encode(mac256(k, &[t.as_bytes(), b"tok-0123456789"]));
    let mailgun = format!(
        r#"{{"signature":{{"timestamp":"{t}","token":"tok-0123456789","signature":"{mailgun_sig}"}},"event-data":{{"event":"opened"}}}}"#
    )
    .into_bytes();
    let discord = {
        use ed25519_dalek::Signer;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        hex::encode(
            key.sign(&[t.as_bytes(), br#"{"type":2}"#].concat())
                .to_bytes(),
        )
    };
    let twilio_sig = {
        let url = format!("{PUBLIC_URL}/in/twilio?AccountSid=AC1");
        let params = "BodyHello thereCallSidCA123From+14155550100";
        b64(&mac1(k, &[url.as_bytes(), params.as_bytes()]))
    };
    vec![
        (
            "/in/stripe",
            vec![(
                "Stripe-Signature",
                format!(
                    "t={t},v1={}",
                    hex::encode(mac256(k, &[t.as_bytes(), b".", &json]))
                ),
            )],
            json.clone(),
        ),
        (
            "/in/slack",
            vec![
                ("X-Slack-Request-Timestamp", t.clone()),
                (
                    "X-Slack-Signature",
                    format!(
                        "v0={}",
                        hex::encode(mac256(k, &[b"v0:", t.as_bytes(), b":", &form]))
                    ),
                ),
                ("Content-Type", "application/x-www-form-urlencoded".into()),
            ],
            form.clone(),
        ),
        (
            "/in/svix",
            vec![
                ("svix-id", "msg_e2e_1".into()),
                ("svix-timestamp", t.clone()),
                (
                    "svix-signature",
                    format!(
                        "v1,{}",
                        b64(&mac256(
                            &svix_key,
                            &[b"msg_e2e_1.", t.as_bytes(), b".", &json]
                        ))
                    ),
                ),
            ],
            json.clone(),
        ),
        (
            "/in/twilio?AccountSid=AC1",
            vec![
                ("X-Twilio-Signature", twilio_sig),
                ("Content-Type", "application/x-www-form-urlencoded".into()),
            ],
            form.clone(),
        ),
        (
            "/in/hubspot",
            vec![
                ("X-HubSpot-Request-Timestamp", ms.clone()),
                (
                    "X-HubSpot-Signature-v3",
                    b64(&mac256(
                        k,
                        &[
                            b"POST",
                            format!("{PUBLIC_URL}/in/hubspot").as_bytes(),
                            &json,
                            ms.as_bytes(),
                        ],
                    )),
                ),
            ],
            json.clone(),
        ),
        (
            "/in/gitlab",
            vec![
                ("X-Gitlab-Token", SECRET.into()),
                ("X-Gitlab-Event", "Push Hook".into()),
            ],
            json.clone(),
        ),
        (
            "/in/mailgun",
            vec![("Content-Type", "application/json".into())],
            mailgun,
        ),
        (
            "/in/linear",
            vec![("Linear-Signature", hex::encode(mac256(k, &[&linear])))],
            linear,
        ),
        (
            "/in/discord",
            vec![
                ("X-Signature-Ed25519", discord),
                ("X-Signature-Timestamp", t.clone()),
            ],
            br#"{"type":2}"#.to_vec(),
        ),
        (
            "/in/shopify",
            vec![("X-Shopify-Hmac-SHA256", b64(&mac256(k, &[&json])))],
            json.clone(),
        ),
    ]
}

#[tokio::test]
async fn each_preset_forwards_its_providers_signature_and_refuses_a_one_byte_change() {
    let (upstream, hookwall) = start().await;
    for (path, headers, body) in signed_cases() {
        let before = upstream.hits();
        let answer = hookwall.raw(&post(path, &headers, &body)).await;
        assert_eq!(raw_status(&answer), 200, "{path}: {answer}");
        let seen = upstream.seen();
        assert_eq!(seen.len(), before + 1, "{path}");
        let last = seen.last().unwrap();
        assert_eq!(last.body, body, "{path}");
        assert_eq!(last.uri, path);

        // One byte changed in what is signed: the body, except for the two schemes that do
        // not sign it (GitLab sends a token, Mailgun signs a timestamp and token in the body).
        let mut tampered = body.clone();
        let mut headers = headers.clone();
        match path {
            "/in/gitlab" => headers[0].1.push('x'),
            "/in/mailgun" => tampered[body.windows(3).position(|w| w == b"tok").unwrap()] ^= 0x01,
            _ => tampered[body.len() / 2] ^= 0x01,
        }
        let answer = hookwall.raw(&post(path, &headers, &tampered)).await;
        assert_eq!(raw_status(&answer), 401, "{path} tampered: {answer}");
        assert_eq!(
            upstream.hits(),
            before + 1,
            "{path}: a refused request never reaches the upstream"
        );
    }
}

#[tokio::test]
async fn meta_subscription_handshake_is_answered_only_with_the_right_token() {
    let (upstream, hookwall) = start().await;
    let get = |query: &str| {
        format!("GET /in/meta?{query} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    };
    let answer = hookwall
        .raw(
            get(
                "hub.mode=subscribe&hub.verify_token=meta-verify-token-5e&hub.challenge=1158201444",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\n1158201444"), "{answer}");
    let answer = hookwall
        .raw(get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444").as_bytes())
        .await;
    assert_eq!(raw_status(&answer), 403, "{answer}");
    assert!(!answer.contains("1158201444"));
    // A GET that is not a handshake is a request like any other, and unsigned.
    let answer = hookwall.raw(get("x=1").as_bytes()).await;
    assert_eq!(raw_status(&answer), 401, "{answer}");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn trello_head_is_answered_and_asana_secret_is_forwarded_marked_as_a_handshake() {
    let (upstream, hookwall) = start().await;
    let answer = hookwall
        .raw(b"HEAD /in/trello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert_eq!(upstream.hits(), 0);

    let handshake = post(
        "/in/asana",
        &[("X-Hook-Secret", "b537207f20cbfa02357cf448134da559".into())],
        b"",
    );
    assert_eq!(raw_status(&hookwall.raw(&handshake).await), 200);
    let seen = upstream.only();
    assert_eq!(
        seen.headers["x-hook-secret"],
        "b537207f20cbfa02357cf448134da559"
    );
    assert_eq!(seen.headers["x-hookwall-handshake"], "asana");
    assert!(
        seen.headers.get("x-hookwall-verified").is_none(),
        "a handshake is not a verified delivery"
    );
    // With a body it is not a handshake, and it is unsigned.
    let smuggled = post(
        "/in/asana",
        &[("X-Hook-Secret", "b537207f20cbfa02357cf448134da559".into())],
        b"{\"events\":[]}",
    );
    assert_eq!(raw_status(&hookwall.raw(&smuggled).await), 401);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn zoom_url_validation_is_verified_then_answered_by_hookwall() {
    let (upstream, hookwall) = start().await;
    let t = now().to_string();
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let sig = format!(
        "v0={}",
        hex::encode(mac256(
            SECRET.as_bytes(),
            &[b"v0:", t.as_bytes(), b":", body]
        ))
    );
    let answer = hookwall
        .raw(&post(
            "/in/zoom",
            &[
                ("x-zm-request-timestamp", t.clone()),
                ("x-zm-signature", sig),
            ],
            body,
        ))
        .await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let expected = hex::encode(mac256(SECRET.as_bytes(), &[b"qgg8vlvZRS6UYooatFL8Aw"]));
    assert!(
        answer.contains(&format!("\"encryptedToken\":\"{expected}\"")),
        "{answer}"
    );
    assert!(
        answer.contains("\"plainToken\":\"qgg8vlvZRS6UYooatFL8Aw\""),
        "{answer}"
    );
    // Unsigned, it is refused like anything else.
    let answer = hookwall
        .raw(&post("/in/zoom", &[("x-zm-request-timestamp", t)], body))
        .await;
    assert_eq!(raw_status(&answer), 401);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn without_handshake_opt_in_setup_requests_get_no_answer() {
    let upstream = Upstream::start().await;
    let text = route("/in/meta", upstream.addr, "meta", SECRET_LINE);
    let hookwall = Hookwall::from_text(&text, "p.toml", &env).await;
    let answer = hookwall
        .raw(b"GET /in/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    assert_eq!(raw_status(&answer), 405);
    assert_eq!(upstream.hits(), 0);
}
