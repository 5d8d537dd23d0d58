//! Stage-two and stage-one config errors: each names the file, the route and the key.

use std::path::PathBuf;
use std::time::Duration;

use http::Method;

use super::*;
use crate::secret::SecretSource;

fn env(name: &str) -> Option<String> {
    match name {
        "GH_SECRET" => Some("a-long-random-github-secret".into()),
        "CUSTOM_SECRET" => Some("a-long-random-custom-secret".into()),
        "WEAK" => Some("super-secret-key".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn load_str(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("proxy.toml"), &env)
}

fn errors(text: &str) -> Vec<String> {
    load_str(text)
        .unwrap_err()
        .to_string()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn one_error(text: &str) -> String {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().unwrap()
}

const GITHUB: &str = r#"
[[route]]
name = "github"
path = "/webhooks/github"
upstream = "http://127.0.0.1:5000"
provider = "github"
secret = { env = "GH_SECRET" }
"#;

#[test]
fn loads_a_minimal_config_with_defaults() {
    let c = load_str(GITHUB).unwrap();
    assert_eq!(
        c.server.listen,
        Listen::Tcp("127.0.0.1:8080".parse().unwrap())
    );
    assert_eq!(c.server.max_body, 1 << 20);
    assert_eq!(c.server.upstream_timeout, Duration::from_secs(9));
    let r = &c.routes[0];
    assert_eq!(r.name, "github");
    assert_eq!(r.path, PathMatch::Exact("/webhooks/github".into()));
    assert_eq!(r.methods, vec![Method::POST]);
    assert_eq!(r.upstream.to_string(), "http://127.0.0.1:5000");
    assert_eq!(r.max_body, 1 << 20);
    assert_eq!(r.scheme.provider(), "github");
    assert_eq!(
        r.secret_sources,
        vec![SecretSource::Env("GH_SECRET".into())]
    );
}

#[test]
fn loads_every_key() {
    let c = load_str(
        r#"
[server]
listen = "[::1]:9000"
max_body = "2MiB"
upstream_timeout = "3s"
header_timeout = "4s"
body_timeout = "5s"
shutdown_timeout = "6s"

[[route]]
name = "custom"
path_prefix = "/hooks/"
methods = ["post", "PUT"]
upstream = "http://localhost:5001/"
provider = "hmac"
secret = [{ env = "CUSTOM_SECRET" }, { env = "GH_SECRET" }]
max_body = 4096
tolerance = "90s"
signature_header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
signature_prefix = "v1="
signed_payload = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"
"#,
    )
    .unwrap();
    assert_eq!(c.server.listen, Listen::Tcp("[::1]:9000".parse().unwrap()));
    assert_eq!(c.server.max_body, 2 << 20);
    assert_eq!(c.server.upstream_timeout, Duration::from_secs(3));
    assert_eq!(c.server.header_timeout, Duration::from_secs(4));
    assert_eq!(c.server.body_timeout, Duration::from_secs(5));
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(6));
    let r = &c.routes[0];
    assert_eq!(r.path, PathMatch::Prefix("/hooks/".into()));
    assert_eq!(r.methods, vec![Method::POST, Method::PUT]);
    assert_eq!(r.upstream.to_string(), "http://localhost:5001");
    assert_eq!(r.max_body, 4096);
    assert_eq!(r.secret_sources.len(), 2);
}

#[test]
fn unknown_keys_name_the_key_the_line_and_the_valid_keys() {
    let e = one_error(&format!("{GITHUB}tolerence = \"5m\"\n"));
    assert!(e.starts_with("proxy.toml:8:1: route 1 (github): "), "{e}");
    assert!(e.contains("unknown field `tolerence`"), "{e}");
    assert!(e.contains("tolerance"), "{e}");
    let e = one_error("[server]\nlisten = \"127.0.0.1:1\"\nmax_bdy = 1\n");
    assert!(
        e.starts_with("proxy.toml:3:1: ") && e.contains("`max_bdy`"),
        "{e}"
    );
    let e = one_error("[sever]\n");
    assert!(e.contains("unknown field `sever`"), "{e}");
}

#[test]
fn syntax_errors_have_a_position_but_never_echo_the_line() {
    let e = one_error("[[route]]\nsecret = \"hunter2-inline-value\nname = 1\n");
    assert!(e.starts_with("proxy.toml:2:"), "{e}");
    assert!(!e.contains("hunter2-inline-value"), "{e}");
}

#[test]
fn bad_sizes_and_durations_name_route_and_key() {
    let e = one_error(&format!("{GITHUB}max_body = \"1.5MiB\"\n"));
    assert!(
        e.starts_with("proxy.toml:8:12: route 1 (github): max_body: "),
        "{e}"
    );
    let e = one_error(&format!("{GITHUB}max_body = 0\n"));
    assert!(e.ends_with("max_body: must be at least 1 byte"), "{e}");
    let e = one_error(&format!("[server]\nupstream_timeout = \"9\"\n{GITHUB}"));
    assert!(
        e.starts_with("proxy.toml:2:20: [server]: upstream_timeout: `9` has no unit"),
        "{e}"
    );
    let e = one_error(&format!("[server]\nbody_timeout = \"0s\"\n{GITHUB}"));
    assert!(
        e.contains("[server]: body_timeout: must be longer than zero"),
        "{e}"
    );
    let e = one_error(&format!("[server]\nheader_timeout = \"10 secs\"\n{GITHUB}"));
    assert!(e.contains("header_timeout: `10 secs`: unknown unit"), "{e}");
    let e = one_error(&format!("[server]\nlisten = \"localhost\"\n{GITHUB}"));
    assert!(
        e.contains("[server]: listen: `localhost` is not an address"),
        "{e}"
    );
}

#[test]
fn duplicate_paths_and_names_are_errors() {
    let e = one_error(&format!(
        "{GITHUB}{}",
        GITHUB.replace("name = \"github\"", "name = \"other\"")
    ));
    assert!(
        e.contains("route 2 (other): path: `/webhooks/github` is already used by route 1 (github)"),
        "{e}"
    );
    let e = one_error(&format!(
        "{GITHUB}{}",
        GITHUB.replace("/webhooks/github", "/webhooks/two")
    ));
    assert!(
        e.contains("route 2 (github): name: `github` is already the name of route 1"),
        "{e}"
    );
    let prefix = GITHUB.replace("path =", "path_prefix =");
    let e = one_error(&format!(
        "{prefix}{}",
        prefix.replace("name = \"github\"", "name = \"p2\"")
    ));
    assert!(
        e.contains("path_prefix: `/webhooks/github` is already used"),
        "{e}"
    );
    // An exact path and a prefix with the same text are two different routes.
    let both = format!(
        "{GITHUB}{}",
        prefix.replace("name = \"github\"", "name = \"p\"")
    );
    assert_eq!(load_str(&both).unwrap().routes.len(), 2);
}

#[test]
fn upstreams_must_be_origins_or_unix_sockets() {
    for (bad, why) in [
        ("127.0.0.1:5000", "is not an http:// or https:// URL"),
        ("ftp://127.0.0.1:5000", "is not an http:// or https:// URL"),
        ("http://127.0.0.1:5000/app", "has a path or query"),
        ("http://127.0.0.1:5000?x=1", "has a path or query"),
        ("http://user:pw@127.0.0.1:5000", "holds credentials"),
        ("http://127.0.0.1:", "has an empty port"),
        ("http:// bad", "is not a URL"),
        ("unix:run/app.sock", "needs an absolute socket path"),
    ] {
        let e = one_error(&GITHUB.replace("http://127.0.0.1:5000", bad));
        assert!(
            e.starts_with("proxy.toml:5:12: route 1 (github): upstream: "),
            "{e}"
        );
        assert!(e.contains(why), "{bad}: {e}");
    }
    for good in ["unix:/run/app.sock", "http://[::1]:5000", "http://app"] {
        let c = load_str(&GITHUB.replace("http://127.0.0.1:5000", good)).unwrap();
        assert_eq!(c.routes[0].upstream.to_string(), good);
    }
    let e = one_error(&format!("{}upstream_ca = \"ca.pem\"\n", GITHUB));
    assert!(
        e.contains("upstream: `upstream_ca` applies only to an https:// upstream"),
        "{e}"
    );
    let e = one_error(&format!(
        "{}upstream_ca = \"no-such-ca.pem\"\n",
        GITHUB.replace("http://127.0.0.1:5000", "https://app.internal:8443")
    ));
    assert!(
        e.contains("certificate file no-such-ca.pem cannot be read"),
        "{e}"
    );
}

#[test]
fn secret_problems_name_the_source_never_the_value() {
    let e = one_error(&GITHUB.replace("{ env = \"GH_SECRET\" }", "\"the-inline-value\""));
    assert!(
        e.starts_with("proxy.toml:7:10: route 1 (github): secret: a secret is never written"),
        "{e}"
    );
    assert!(!e.contains("the-inline-value"), "{e}");
    let e = one_error(&GITHUB.replace("GH_SECRET", "UNSET_VAR"));
    assert!(
        e.ends_with("secret: env var UNSET_VAR is not set (or is not valid UTF-8)"),
        "{e}"
    );
    let e = one_error(&GITHUB.replace("GH_SECRET", "WEAK"));
    assert!(
        e.contains("secret: env var WEAK holds a well-known default"),
        "{e}"
    );
    assert!(!e.contains("super-secret-key"), "{e}");
    let e = one_error(&GITHUB.replace("GH_SECRET", "EMPTY"));
    assert!(e.ends_with("secret: env var EMPTY is empty"), "{e}");
    let e = one_error(&GITHUB.replace("secret = { env = \"GH_SECRET\" }\n", ""));
    assert!(e.contains("route 1 (github): secret: missing"), "{e}");
    let e = one_error(&GITHUB.replace(
        "{ env = \"GH_SECRET\" }",
        "{ file = \"no-such-secret-file\" }",
    ));
    assert!(
        e.contains("secret: file no-such-secret-file cannot be read"),
        "{e}"
    );
}

#[test]
fn route_shape_errors() {
    let e = one_error(&GITHUB.replace("path = \"/webhooks/github\"\n", ""));
    assert!(
        e.contains("route 1 (github): missing `path` (exact match) or `path_prefix`"),
        "{e}"
    );
    let e = one_error(&GITHUB.replace(
        "path = \"/webhooks/github\"",
        "path = \"/a\"\npath_prefix = \"/b\"",
    ));
    assert!(e.contains("path: give either"), "{e}");
    let e = one_error(&GITHUB.replace("/webhooks/github", "webhooks/github"));
    assert!(
        e.contains("path: `webhooks/github` can never match a request: does not start with `/`"),
        "{e}"
    );
    let e = one_error(&GITHUB.replace("/webhooks/github", "/a/../b"));
    assert!(e.contains("holds a `.` or `..` segment"), "{e}");
    let e = one_error(&format!("{GITHUB}methods = []\n"));
    assert!(e.contains("methods: the list is empty"), "{e}");
    let e = one_error(&format!("{GITHUB}methods = [\"CONNECT\"]\n"));
    assert!(e.contains("methods: CONNECT is not a method"), "{e}");
    let e = one_error(&format!("{GITHUB}methods = [\"P O\"]\n"));
    assert!(e.contains("methods: `P O` is not an HTTP method"), "{e}");
    let e = one_error(&GITHUB.replace("upstream = \"http://127.0.0.1:5000\"\n", ""));
    assert!(e.contains("upstream: missing"), "{e}");
    let e = one_error(&GITHUB.replace("provider = \"github\"\n", ""));
    assert!(e.contains("provider: missing"), "{e}");
    let e = one_error(&GITHUB.replace("name = \"github\"", "name = \"has space\""));
    assert!(
        e.contains("name: `has space` is not a usable route name"),
        "{e}"
    );
    let e = one_error("[server]\n");
    assert!(e.contains("no [[route]]"), "{e}");
}

#[test]
fn provider_key_errors_point_at_the_key() {
    let e = one_error(&GITHUB.replace("\"github\"\nsecret", "\"gitlub\"\nsecret"));
    assert!(e.starts_with("proxy.toml:6:12: route 1 (github): provider: unknown provider `gitlub`; known providers: github, stripe,"), "{e}");
    assert!(e.ends_with(", hmac"), "{e}");
    let e = one_error(&format!("{GITHUB}signature_header = \"X-Sig\"\n"));
    assert!(
        e.starts_with(
            "proxy.toml:8:20: route 1 (github): signature_header: does not apply to provider = \"github\""
        ),
        "{e}"
    );
    let e = one_error(&format!("{GITHUB}algorithm = \"md5\"\n"));
    assert!(e.contains("route 1 (github): algorithm: "), "{e}");
    let e = one_error(&format!("{GITHUB}tolerance = \"5m\"\n"));
    assert!(
        e.contains("tolerance: the `github` preset signs no timestamp"),
        "{e}"
    );
    let hmac = GITHUB.replace("\"github\"\nsecret", "\"hmac\"\nsecret");
    let e = one_error(&hmac);
    assert!(e.contains("signature_header: missing"), "{e}");
    let e = one_error(&format!(
        "{hmac}signature_header = \"X-Sig\"\nsigned_payload = \"{{ts}}.{{body}}\"\n"
    ));
    assert!(
        e.contains("signed_payload: `{ts}.{body}`: unknown placeholder"),
        "{e}"
    );
    let e = one_error(&format!(
        "{hmac}signature_header = \"X-Sig\"\ntolerance = \"1x\"\n"
    ));
    assert!(e.contains("tolerance: `1x`: unknown unit"), "{e}");
}

#[test]
fn reports_every_problem_at_once() {
    let text = format!(
        "[server]\nmax_body = \"big\"\n{}{}",
        GITHUB.replace("GH_SECRET", "UNSET_ONE"),
        GITHUB
            .replace("name = \"github\"", "name = \"b\"")
            .replace("/webhooks/github", "/b")
            .replace("GH_SECRET", "UNSET_TWO")
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].contains("[server]: max_body"));
    assert!(errs[1].contains("route 1 (github): secret: env var UNSET_ONE"));
    assert!(errs[2].contains("route 2 (b): secret: env var UNSET_TWO"));
}

#[test]
fn one_run_reports_every_problem_of_a_route() {
    let text = GITHUB
        .replace("\"github\"\nsecret", "\"hmac\"\nsecret")
        .replace("GH_SECRET", "UNSET_VAR")
        + "tolerance = \"5 minutes\"\nsignature_header = \"X-Sig\"\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].contains("tolerance: `5 minutes`: unknown unit `minutes`"),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("secret: env var UNSET_VAR is not set"),
        "{errs:#?}"
    );
    let no_provider = GITHUB
        .replace("provider = \"github\"\n", "")
        .replace("GH_SECRET", "UNSET_VAR");
    let errs = errors(&no_provider);
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn loads_preset_keys() {
    let c = load_str(
        r#"
[[route]]
path = "/twilio"
upstream = "http://127.0.0.1:5000"
provider = "twilio"
secret = { env = "GH_SECRET" }
public_url = "https://example.com/twilio"

[[route]]
path = "/discord"
upstream = "http://127.0.0.1:5000"
provider = "discord"
public_key = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"

[[route]]
path = "/meta"
upstream = "http://127.0.0.1:5000"
provider = "meta"
secret = { env = "GH_SECRET" }
handshake = true
verify_token = { env = "CUSTOM_SECRET" }

[[route]]
path = "/custom"
upstream = "http://127.0.0.1:5000"
provider = "hmac"
secret = { env = "GH_SECRET" }
signature_header = "X-Sig"
signature_list = { separator = ",", pair = "=", version = "v1", timestamp = "t" }
signed_payload = "{timestamp}.{id}.{body}"
id_header = "X-Id"
timestamp_format = "unix_ms"
"#,
    )
    .unwrap();
    assert_eq!(c.routes.len(), 4);
    assert_eq!(c.routes[1].scheme.provider(), "discord");
}

#[test]
fn preset_key_problems_point_at_the_key() {
    let route = |extra: &str| {
        format!("[[route]]\npath = \"/x\"\nupstream = \"http://127.0.0.1:1\"\n{extra}")
    };
    let e = one_error(&route(
        "provider = \"twilio\"\nsecret = { env = \"GH_SECRET\" }\n",
    ));
    assert!(e.contains("route 1 (/x): public_url: missing"), "{e}");
    let e = one_error(&route("provider = \"discord\"\npublic_key = \"abcd\"\n"));
    assert!(
        e.starts_with("proxy.toml:5:14: route 1 (/x): public_key: is not 64 hex digits"),
        "{e}"
    );
    let e = one_error(&route("provider = \"discord\"\n"));
    assert!(e.contains("public_key: missing"), "{e}");
    let e = one_error(&route(
        "provider = \"github\"\nsecret = { env = \"GH_SECRET\" }\nhandshake = true\n",
    ));
    assert!(
        e.starts_with(
            "proxy.toml:6:13: route 1 (/x): handshake: provider `github` has no setup handshake"
        ),
        "{e}"
    );
    let e = one_error(&route(
        "provider = \"meta\"\nsecret = { env = \"GH_SECRET\" }\nhandshake = true\n",
    ));
    assert!(e.contains("verify_token: missing"), "{e}");
    let e = one_error(&route(
        "provider = \"hmac\"\nsecret = { env = \"GH_SECRET\" }\nsignature_header = \"X\"\nsignature_list = { separator = \",\", pair = \",\", version = \"v1\" }\n",
    ));
    assert!(
        e.contains("signature_list: `separator` and `pair` must differ"),
        "{e}"
    );
    let e = one_error(&route(
        "provider = \"svix\"\nsecret = { env = \"GH_SECRET\" }\n",
    ));
    assert!(
        e.contains("secret: env var GH_SECRET is not whsec_<base64>"),
        "{e}"
    );
    let e = one_error(&route(
        "provider = \"github\"\nsecret = { env = \"GH_SECRET\" }\nsignature_header = \"X-Forwarded-For\"\n",
    ));
    assert!(e.contains("signature_header: does not apply"), "{e}");
}

#[test]
fn hosts_are_host_names_with_optional_ports() {
    let c = load_str(&format!(
        "[server]\nhosts = [\"Hooks.Example.com\", \"[::1]:8443\"]\n{GITHUB}"
    ))
    .unwrap();
    assert_eq!(
        c.server.hosts,
        vec!["hooks.example.com".to_owned(), "[::1]:8443".to_owned()]
    );
    let e = one_error(&format!("[server]\nhosts = []\n{GITHUB}"));
    assert!(e.contains("[server]: hosts: the list is empty"), "{e}");
    let e = one_error(&format!("[server]\nhosts = [\"http://a\"]\n{GITHUB}"));
    assert!(e.contains("hosts: `http://a` is not a host name"), "{e}");
}

#[test]
fn spool_defaults_and_keys() {
    let c = load_str(GITHUB).unwrap();
    assert_eq!(c.routes[0].delivery, DeliveryMode::Forward);
    assert_eq!(
        c.spool.store,
        SpoolStore::Sqlite(PathBuf::from("hookwall-spool.db"))
    );
    assert_eq!(c.spool.max_deliveries, 100_000);
    assert_eq!(c.spool.max_bytes, 1 << 30);
    assert_eq!(c.spool.retry_schedule.len(), 7);
    assert_eq!(c.spool.no_retry_status, vec![410]);
    let text = format!(
        "[spool]\nstore = \"sqlite:data/spool.db\"\nmax_bytes = \"10MiB\"\nretry_schedule = [\"50ms\", \"1s\"]\n\
         max_age = \"1h\"\nno_retry_status = [410, 422]\n{GITHUB}delivery = \"spool\"\nmax_in_flight = 2\nspool_status = 202\n"
    );
    let c = load_str(&text).unwrap();
    assert_eq!(
        c.spool.store,
        SpoolStore::Sqlite(PathBuf::from("data/spool.db"))
    );
    assert_eq!(c.spool.max_bytes, 10 << 20);
    assert_eq!(c.spool.max_age, Duration::from_secs(3600));
    assert_eq!(c.spool.no_retry_status, vec![410, 422]);
    let r = &c.routes[0];
    assert_eq!(r.delivery, DeliveryMode::Spool);
    assert_eq!(
        r.spool.retry_schedule,
        vec![Duration::from_millis(50), Duration::from_secs(1)]
    );
    assert_eq!(
        (r.spool.max_in_flight, r.spool.ordered, r.spool.status),
        (2, false, 202)
    );
    let ordered = load_str(&format!(
        "{GITHUB}delivery = \"spool_on_failure\"\nordered = true\n"
    ))
    .unwrap();
    assert_eq!(ordered.routes[0].spool.max_in_flight, 1);
    let url = "redis://:pw@127.0.0.1:6379/2";
    let c = load_str(&format!("[spool]\nstore = \"{url}\"\n{GITHUB}")).unwrap();
    assert_eq!(
        c.spool.store,
        SpoolStore::Redis(RedisUrl::parse(url).unwrap())
    );
    assert_eq!(
        c.spool.store.to_string(),
        "redis://<credentials>@127.0.0.1:6379/2"
    );
}

#[test]
fn spool_problems_name_the_table_or_route_and_the_key() {
    let e = one_error(&format!("{GITHUB}retry_schedule = [\"5s\"]\n"));
    assert!(
        e.contains("route 1 (github)")
            && e.contains("retry_schedule")
            && e.contains("delivery = \"spool\""),
        "{e}"
    );
    let e = one_error(&format!("{GITHUB}delivery = \"queue\"\n"));
    assert!(
        e.contains("delivery") && e.contains("spool_on_failure"),
        "{e}"
    );
    let e = one_error(&format!(
        "{GITHUB}delivery = \"spool\"\nordered = true\nmax_in_flight = 4\n"
    ));
    assert!(e.contains("max_in_flight") && e.contains("ordered"), "{e}");
    let e = one_error(&format!(
        "{GITHUB}delivery = \"spool\"\nspool_status = 201\n"
    ));
    assert!(
        e.contains("spool_status") && e.contains("200, 202 or 204"),
        "{e}"
    );
    let e = one_error(&format!("[spool]\nclaim_after = \"10s\"\n{GITHUB}"));
    assert!(
        e.contains("[spool]") && e.contains("claim_after") && e.contains("18s"),
        "{e}"
    );
    // A short upstream_timeout: an attempt's answer and settle still take their time.
    let e = one_error(&format!(
        "[server]\nupstream_timeout = \"2s\"\n[spool]\nclaim_after = \"4s\"\n{GITHUB}"
    ));
    assert!(e.contains("claim_after") && e.contains("10s"), "{e}");
    // Unwritten, it grows with a long upstream_timeout.
    let config = load_str(&format!("[server]\nupstream_timeout = \"60s\"\n{GITHUB}")).unwrap();
    assert_eq!(
        config.spool.claim_after,
        std::time::Duration::from_secs(120)
    );
    let e = one_error(&format!("[spool]\nno_retry_status = [204]\n{GITHUB}"));
    assert!(e.contains("no_retry_status") && e.contains("2xx"), "{e}");
    let e = one_error(&format!("[spool]\nstore = \"postgres://x\"\n{GITHUB}"));
    assert!(e.contains("store") && e.contains("sqlite:PATH"), "{e}");
    let e = one_error(&format!(
        "[spool]\nstore = \"redis://:pw@127.0.0.1:notaport\"\n{GITHUB}"
    ));
    assert!(e.contains("store") && !e.contains("pw@"), "{e}");
    // rediss:// is read as Redis, and refused as the replay store refuses it: this build of
    // the redis crate has no TLS.
    let e = one_error(&format!(
        "[spool]\nstore = \"rediss://:pw@redis.example:6380\"\n{GITHUB}"
    ));
    assert!(e.contains("TLS") && !e.contains("pw@"), "{e}");
}

#[test]
fn admin_hosts_and_token() {
    let config = load_str(&format!(
        "[admin]\nlisten = \"127.0.0.1:9901\"\nhosts = [\"Hookwall.Internal\"]\ntoken = {{ env = \"CUSTOM_SECRET\" }}\n{GITHUB}"
    ))
    .unwrap();
    let admin = config.admin.unwrap();
    assert_eq!(admin.hosts, ["hookwall.internal"]);
    let token = admin.token.unwrap();
    assert_eq!(token.source(), &SecretSource::Env("CUSTOM_SECRET".into()));
    assert_eq!(token.expose(), b"a-long-random-custom-secret");

    // Reachable from other hosts without a token: refused, naming the table and the key.
    let e = one_error(&format!("[admin]\nlisten = \"0.0.0.0:9901\"\n{GITHUB}"));
    assert!(
        e.contains("[admin]") && e.contains("listen") && e.contains("token"),
        "{e}"
    );
    load_str(&format!(
        "[admin]\nlisten = \"0.0.0.0:9901\"\ntoken = {{ env = \"CUSTOM_SECRET\" }}\n{GITHUB}"
    ))
    .unwrap();
    let e = one_error(&format!(
        "[admin]\nlisten = \"127.0.0.1:9901\"\ntoken = \"inline\"\n{GITHUB}"
    ));
    assert!(e.contains("token") && !e.contains("inline\""), "{e}");
    let e = one_error(&format!(
        "[admin]\nlisten = \"127.0.0.1:9901\"\nhosts = [\"evil/x\"]\n{GITHUB}"
    ));
    assert!(e.contains("hosts") && e.contains("not a host name"), "{e}");
}

#[test]
fn address_lists_name_the_route_the_key_and_the_entry() {
    let e = one_error(&format!("{GITHUB}allow_from = [\"10.1.2.3/16\"]\n"));
    assert!(
        e.contains("route 1 (github)") && e.contains("allow_from") && e.contains("10.1.0.0/16"),
        "{e}"
    );
    let e = one_error(&format!(
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"lb\"]\n{GITHUB}"
    ));
    assert!(
        e.contains("[server]") && e.contains("trusted_proxies") && e.contains("`lb`"),
        "{e}"
    );
    let e = one_error(&format!(
        "{GITHUB}allow_from = {{ file = \"no-such-ranges.txt\" }}\n"
    ));
    assert!(
        e.contains("allow_from") && e.contains("no-such-ranges.txt"),
        "{e}"
    );
    let config = load_str(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.2\"]\n{GITHUB}allow_from = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"
    ))
    .unwrap();
    assert_eq!(config.server.trusted_proxies.len(), 1);
    let allowed = config.routes[0].allow_from.as_ref().unwrap();
    assert!(allowed.contains("::ffff:192.0.2.9".parse().unwrap()));
    assert!(!allowed.contains("198.51.100.1".parse().unwrap()));
}

#[test]
fn an_empty_allow_from_is_refused_and_an_empty_trusted_proxies_trusts_no_one() {
    let e = one_error(&format!("{GITHUB}allow_from = []\n"));
    assert!(
        e.contains("route 1 (github)") && e.contains("allow_from") && e.contains("refuse every"),
        "{e}"
    );
    let config = load_str(&format!("[server]\ntrusted_proxies = []\n{GITHUB}")).unwrap();
    assert!(config.server.trusted_proxies.is_empty());
}
