//! `hookwall spool`: the operator's end of the spool API that the admin listener serves
//! (`admin/spool.rs`). `list`, `show`, `retry`, `drop` and `redrive` are one HTTP/1.1 request
//! each, to the address `--admin` names or else the `--config` file's `[admin] listen` (TCP
//! or a unix socket), carrying what the admin guard asks for: the listener's own address as
//! `Host`, `X-Hookwall-Admin: 1` on a state change, and the bearer token from `--token-env`.
//! The answer is printed as a table, `key: value` lines or one sentence, or with `--json` as
//! the API's JSON; a failure is one line on stderr and exit 1.

use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use super::check::columns;
use crate::config::{self, Listen};
use crate::headers::X_HOOKWALL_ADMIN;

/// How long one command waits for the admin listener: connecting, asking, reading.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a listing of 1000 deliveries is well under 1 MiB).
const MAX_ANSWER: usize = 16 << 20;
/// The most of an error answer quoted in a message.
const MAX_QUOTE: usize = 300;
/// Said after a failure to reach the listener.
const HINT: &str = "is hookwall running with an [admin] table?";

/// `hookwall spool`: the flags every subcommand takes, and the subcommand.
#[derive(Debug, Args)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub command: SpoolCommand,
    /// The admin listener: `http://HOST:PORT` or `unix:/PATH` (default: `[admin] listen` of
    /// the `--config` file).
    #[arg(long, global = true, value_name = "URL")]
    pub admin: Option<String>,
    /// The environment variable holding the `[admin] token`, sent as `Authorization: Bearer`.
    #[arg(long, global = true, value_name = "NAME")]
    pub token_env: Option<String>,
    /// Print the API's JSON answer as it is.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What to ask of the spool.
#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// List deliveries (metadata only), newest first.
    List {
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only deliveries of this route.
        #[arg(long, value_name = "NAME")]
        route: Option<String>,
        /// At most this many (1 to 1000; default 100).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show one delivery's metadata.
    Show {
        /// The spool id (`sp_…`).
        id: String,
    },
    /// Try a pending or dead delivery now.
    Retry {
        /// The spool id (`sp_…`).
        id: String,
    },
    /// Remove a pending or dead delivery for good.
    Drop {
        /// The spool id (`sp_…`).
        id: String,
    },
    /// Try every dead delivery of a route now.
    Redrive {
        /// The route whose dead deliveries are tried again.
        #[arg(long, value_name = "NAME")]
        route: String,
    },
}

/// A delivery's state, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Pending,
    #[value(name = "in_flight", alias = "in-flight")]
    InFlight,
    Dead,
    Delivered,
}

impl StateArg {
    fn as_str(self) -> &'static str {
        match self {
            StateArg::Pending => "pending",
            StateArg::InFlight => "in_flight",
            StateArg::Dead => "dead",
            StateArg::Delivered => "delivered",
        }
    }
}

/// Runs `hookwall spool …`: exit 0 when the admin listener did what was asked.
///
/// # Errors
/// No address to ask, a token variable that is unset or empty, a listener that cannot be
/// reached or refuses, an answer that is not the API's; each one line for [`super::report`].
pub(super) fn spool(
    config_path: Option<&Path>,
    args: &SpoolArgs,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let admin = admin_target(args.admin.as_deref(), config_path)?;
    let token = args.token_env.as_deref().map(bearer).transpose()?;
    let (method, target) = call(&args.command)?;
    let req = request(method, &target, &admin.host(), token)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, exchange(&admin, req))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the admin listener at {admin} did not answer within {}s",
                    TIMEOUT.as_secs()
                ))
            })
    })?;
    if !status.is_success() {
        return Err(refusal(status, &body, &admin, args.token_env.as_deref()).into());
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "the answer of the admin listener at {admin} is not JSON ({e}): {}",
            quote(&String::from_utf8_lossy(&body))
        )
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(&body)?;
        if !body.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(render(&args.command, &answer)?.as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Where the admin listener is.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `host` as connected to (no brackets), `authority` as written in `Host`.
    Tcp {
        host: String,
        port: u16,
        authority: String,
    },
    Unix(PathBuf),
}

impl Target {
    /// The `Host` header: the address itself (a unix socket's listener takes any).
    fn host(&self) -> String {
        match self {
            Target::Tcp { authority, .. } => authority.clone(),
            Target::Unix(_) => "localhost".to_owned(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { authority, .. } => f.write_str(authority),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The admin listener `--admin` names, else the config file's `[admin] listen`.
fn admin_target(flag: Option<&str>, config_path: Option<&Path>) -> Result<Target, String> {
    if let Some(flag) = flag {
        return parse_admin(flag).map_err(|why| format!("--admin `{flag}`: {why}"));
    }
    let Some(path) = config_path else {
        return Err(
            "no admin listener to ask: pass --admin http://HOST:PORT, or --config PATH of a \
             config with an [admin] table"
                .into(),
        );
    };
    match config::admin_listen(path).map_err(|e| e.to_string().replace('\n', "; "))? {
        Some(listen) => Ok(from_listen(&listen)),
        None => Err(format!(
            "{} has no [admin] table, so hookwall serves no spool API there: add one, or pass \
             --admin http://HOST:PORT",
            path.display()
        )),
    }
}

/// The listener a config names. One on every address (`0.0.0.0`, `::`) is asked on loopback,
/// which is also an address its `Host` check accepts.
fn from_listen(listen: &Listen) -> Target {
    match listen {
        Listen::Unix(path) => Target::Unix(path.clone()),
        Listen::Tcp(addr) => {
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let addr = std::net::SocketAddr::new(ip, addr.port());
            Target::Tcp {
                host: ip.to_string(),
                port: addr.port(),
                authority: addr.to_string(),
            }
        }
    }
}

/// `http://HOST[:PORT]` (port 80 by default), `HOST:PORT`, or `unix:/PATH`.
fn parse_admin(text: &str) -> Result<Target, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(
                "a unix socket needs an absolute path, as in unix:/run/hookwall-admin.sock".into(),
            );
        }
        return Ok(Target::Unix(PathBuf::from(path)));
    }
    let uri: Uri = text
        .parse()
        .map_err(|_| "write http://HOST:PORT or unix:/PATH".to_owned())?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some("https") => {
            return Err("the admin listener speaks plain HTTP: write http://HOST:PORT".into())
        }
        Some(_) => return Err("write http://HOST:PORT or unix:/PATH".into()),
    }
    let Some(authority) = uri.authority() else {
        return Err("write http://HOST:PORT or unix:/PATH".into());
    };
    if authority.as_str().contains('@') {
        return Err("no credentials in the address: pass the token with --token-env".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("the listener's address only, without a path: http://HOST:PORT".into());
    }
    let host = authority.host();
    Ok(Target::Tcp {
        host: host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned(),
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_owned(),
    })
}

/// `Authorization: Bearer <token>` from the variable `name`; the token is never shown.
fn bearer(name: &str) -> Result<HeaderValue, String> {
    let value = std::env::var_os(name)
        .ok_or_else(|| format!("--token-env {name}: the variable is not set"))?;
    let value = value
        .into_string()
        .map_err(|_| format!("--token-env {name}: the variable is not valid UTF-8"))?;
    if value.is_empty() {
        return Err(format!("--token-env {name}: the variable is empty"));
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {value}")).map_err(|_| {
        format!("--token-env {name}: the token holds a character a header cannot carry")
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The method and the request target (path and query) of the API call for `command`.
fn call(command: &SpoolCommand) -> Result<(Method, String), String> {
    Ok(match command {
        SpoolCommand::List {
            state,
            route,
            limit,
        } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(state) = state {
                query.append_pair("state", state.as_str());
            }
            if let Some(route) = route {
                query.append_pair("route", route);
            }
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
            let query = query.finish();
            if query.is_empty() {
                (Method::GET, "/spool".to_owned())
            } else {
                (Method::GET, format!("/spool?{query}"))
            }
        }
        SpoolCommand::Show { id } => (Method::GET, format!("/spool/{}", spool_id(id)?)),
        SpoolCommand::Retry { id } => (Method::POST, format!("/spool/{}/retry", spool_id(id)?)),
        SpoolCommand::Drop { id } => (Method::POST, format!("/spool/{}/drop", spool_id(id)?)),
        SpoolCommand::Redrive { route } => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("route", route)
                .finish();
            (Method::POST, format!("/spool/redrive?{query}"))
        }
    })
}

/// `id` if it can be a spool id (`sp_` and hex digits; letters, digits, `_` and `-` pass), so
/// that it is one path segment as written.
fn spool_id(id: &str) -> Result<&str, String> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(format!(
            "{id:?} is not a spool id (they look like sp_018f2c3a4b5d0000000000000001)"
        ))
    }
}

/// The request, with the headers the admin guard checks.
fn request(
    method: Method,
    target: &str,
    host: &str,
    token: Option<HeaderValue>,
) -> Result<Request<Empty<Bytes>>, String> {
    let posts = method == Method::POST;
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("hookwall/", env!("CARGO_PKG_VERSION")),
        );
    if posts {
        builder = builder
            .header(&X_HOOKWALL_ADMIN, "1")
            .header(header::CONTENT_LENGTH, "0");
    }
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, token);
    }
    builder
        .body(Empty::new())
        .map_err(|e| format!("cannot build the request for {host}: {e}"))
}

/// Connects to `admin`, sends `req`, reads the whole answer.
async fn exchange(
    admin: &Target,
    req: Request<Empty<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let unreachable =
        |e: std::io::Error| format!("cannot reach the admin listener at {admin}: {e}; {HINT}");
    match admin {
        Target::Tcp { host, port, .. } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(unreachable)?;
            send(stream, req, admin).await
        }
        Target::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(unreachable)?;
            send(stream, req, admin).await
        }
    }
}

/// One request over a fresh HTTP/1.1 connection on `stream`.
async fn send<S>(
    stream: S,
    req: Request<Empty<Bytes>>,
    admin: &Target,
) -> Result<(StatusCode, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let broke = |e: &dyn fmt::Display| {
        format!("the admin listener at {admin} broke off the exchange: {e}; {HINT}")
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| broke(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let res = sender.send_request(req).await.map_err(|e| broke(&e))?;
    let status = res.status();
    let body = Limited::new(res.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| broke(&e))?
        .to_bytes();
    Ok((status, body))
}

/// The one line that says why the listener did not do what was asked.
fn refusal(status: StatusCode, body: &[u8], admin: &Target, token_env: Option<&str>) -> String {
    let api_error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(quote));
    let said = api_error
        .clone()
        .unwrap_or_else(|| quote(&String::from_utf8_lossy(body)));
    match status {
        StatusCode::UNAUTHORIZED => match token_env {
            None => format!(
                "the admin listener at {admin} needs a token (401): pass --token-env NAME, the \
                 variable that holds its [admin] token"
            ),
            Some(name) => format!(
                "the admin listener at {admin} refused the token in {name} (401): it is not its \
                 [admin] token"
            ),
        },
        StatusCode::FORBIDDEN if said.contains("Host") => format!(
            "the admin listener refused Host {} (403): --admin must be its own address, \
             localhost on loopback, or a name in its [admin] hosts",
            admin.host()
        ),
        StatusCode::NOT_FOUND if api_error.is_some() => said,
        _ => format!("the admin listener at {admin} answered {status}: {said}"),
    }
}

/// `text` on one line, control characters replaced, at most [`MAX_QUOTE`] characters.
fn quote(text: &str) -> String {
    let mut line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTE + 1)
        .collect();
    if line.chars().count() > MAX_QUOTE {
        line = line.chars().take(MAX_QUOTE).collect();
        line.push('…');
    }
    line
}

/// What a successful answer prints without `--json`.
fn render(command: &SpoolCommand, answer: &Value) -> Result<String, String> {
    let field = |key: &str| answer.get(key).map(cell);
    Ok(match command {
        SpoolCommand::List { state, route, .. } => {
            let deliveries = answer
                .get("deliveries")
                .and_then(Value::as_array)
                .ok_or("the answer holds no list of deliveries")?;
            if deliveries.is_empty() {
                let state = state
                    .map(|s| format!("{} ", s.as_str()))
                    .unwrap_or_default();
                let route = route
                    .as_ref()
                    .map(|r| format!(" of route {}", quote(r)))
                    .unwrap_or_default();
                format!("no {state}deliveries{route}\n")
            } else {
                table(deliveries)
            }
        }
        SpoolCommand::Show { .. } => key_values(answer)?,
        SpoolCommand::Retry { id } => {
            format!("retried {}\n", field("id").unwrap_or_else(|| id.clone()))
        }
        SpoolCommand::Drop { id } => {
            format!("dropped {}\n", field("id").unwrap_or_else(|| id.clone()))
        }
        SpoolCommand::Redrive { route } => {
            let route = field("route").unwrap_or_else(|| quote(route));
            match answer.get("redriven").and_then(Value::as_u64) {
                Some(0) => format!("no dead deliveries of route {route} to redrive\n"),
                Some(1) => format!("redrove 1 dead delivery of route {route}\n"),
                Some(n) => format!("redrove {n} dead deliveries of route {route}\n"),
                None => return Err("the answer does not say how many were redriven".into()),
            }
        }
    })
}

/// The listing as aligned columns.
fn table(deliveries: &[Value]) -> String {
    let mut rows = vec![[
        "ID", "ROUTE", "STATE", "ATTEMPTS", "RECEIVED", "NEXT", "LAST",
    ]
    .map(str::to_owned)];
    rows.extend(deliveries.iter().map(|d| {
        let get = |key: &str| d.get(key).map_or_else(|| "-".to_owned(), cell);
        [
            get("id"),
            get("route"),
            get("state"),
            get("attempts"),
            get("received_at"),
            get("next_attempt_at"),
            last(d),
        ]
    }));
    columns(&rows)
}

/// The last attempt's outcome: its status, its error code, and why the delivery is dead.
fn last(delivery: &Value) -> String {
    let mut parts = Vec::new();
    for key in ["last_status", "last_error"] {
        if let Some(v) = delivery.get(key).filter(|v| !v.is_null()) {
            parts.push(cell(v));
        }
    }
    if let Some(v) = delivery.get("dead_reason").filter(|v| !v.is_null()) {
        parts.push(format!("({})", cell(v)));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The API's fields, in its documented order (then any others), as `key: value` lines.
fn key_values(answer: &Value) -> Result<String, String> {
    const ORDER: [&str; 12] = [
        "id",
        "route",
        "state",
        "attempts",
        "received_at",
        "next_attempt_at",
        "last_status",
        "last_error",
        "dead_reason",
        "delivery_id",
        "bytes",
        "updated_at",
    ];
    let fields = answer
        .as_object()
        .ok_or("the answer is not a delivery's fields")?;
    let known = ORDER.iter().filter_map(|k| Some((*k, fields.get(*k)?)));
    let others = fields
        .iter()
        .filter(|(k, _)| !ORDER.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v));
    Ok(known
        .chain(others)
        .map(|(k, v)| format!("{}: {}\n", quote(k), cell(v)))
        .collect())
}

/// A JSON value as a cell: text unquoted and on one line, `-` for null.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => quote(s),
        other => quote(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_addresses_parse_with_their_host_header() {
        let tcp = |host: &str, port, authority: &str| Target::Tcp {
            host: host.into(),
            port,
            authority: authority.into(),
        };
        assert_eq!(
            parse_admin("http://127.0.0.1:9901"),
            Ok(tcp("127.0.0.1", 9901, "127.0.0.1:9901"))
        );
        assert_eq!(
            parse_admin("http://[::1]:9901/"),
            Ok(tcp("::1", 9901, "[::1]:9901"))
        );
        assert_eq!(
            parse_admin("localhost:9901"),
            Ok(tcp("localhost", 9901, "localhost:9901"))
        );
        assert_eq!(
            parse_admin("http://hookwall.internal"),
            Ok(tcp("hookwall.internal", 80, "hookwall.internal"))
        );
        assert_eq!(
            parse_admin("unix:/run/a.sock"),
            Ok(Target::Unix("/run/a.sock".into()))
        );
        for bad in [
            "https://127.0.0.1:9901",
            "http://127.0.0.1:9901/spool",
            "http://u:p@127.0.0.1:9901",
            "unix:run/a.sock",
            "ftp://x",
            "",
        ] {
            assert!(parse_admin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_listener_on_every_address_is_asked_on_loopback() {
        let any = Listen::Tcp("0.0.0.0:9901".parse().unwrap());
        assert_eq!(from_listen(&any).host(), "127.0.0.1:9901");
        let any6 = Listen::Tcp("[::]:9901".parse().unwrap());
        assert_eq!(from_listen(&any6).host(), "[::1]:9901");
        let unix = Listen::Unix("/run/a.sock".into());
        assert_eq!(from_listen(&unix).to_string(), "unix:/run/a.sock");
    }

    #[test]
    fn calls_encode_their_query_and_refuse_ids_that_are_not_one_segment() {
        let list = SpoolCommand::List {
            state: Some(StateArg::InFlight),
            route: Some("a b&c".into()),
            limit: Some(5),
        };
        assert_eq!(
            call(&list),
            Ok((
                Method::GET,
                "/spool?state=in_flight&route=a+b%26c&limit=5".into()
            ))
        );
        let redrive = SpoolCommand::Redrive {
            route: "github".into(),
        };
        assert_eq!(
            call(&redrive),
            Ok((Method::POST, "/spool/redrive?route=github".into()))
        );
        for id in ["", "../x", "sp_1/retry", "sp 1", "sp_1?x"] {
            assert!(call(&SpoolCommand::Show { id: id.into() }).is_err(), "{id}");
        }
    }

    #[test]
    fn the_table_aligns_and_the_last_column_sums_up_the_outcome() {
        let d = |id: &str, route: &str| {
            json!({"id": id, "route": route, "state": "dead", "attempts": 2,
                   "received_at": "2025-01-01T00:00:00.000Z", "next_attempt_at": null,
                   "last_status": 500, "last_error": "status_5xx",
                   "dead_reason": "retries_exhausted"})
        };
        let out = table(&[d("sp_1", "github"), d("sp_22", "a\u{1b}[31m")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let at = lines[0].find("ROUTE").unwrap();
        assert_eq!(lines[1].find("github"), Some(at));
        assert!(!out.contains('\u{1b}'), "{out}");
        let next = lines[0].find("NEXT").unwrap();
        assert!(lines[1][next..].starts_with("-     500 "), "{out}");
        assert!(
            lines[1].ends_with("500 status_5xx (retries_exhausted)"),
            "{out}"
        );
    }

    #[test]
    fn refusals_say_which() {
        let admin = parse_admin("127.0.0.1:9901").unwrap();
        let token = refusal(StatusCode::UNAUTHORIZED, b"x", &admin, None);
        assert!(token.contains("needs a token") && token.contains("--token-env"));
        let wrong = refusal(StatusCode::UNAUTHORIZED, b"x", &admin, Some("T"));
        assert!(wrong.contains("refused the token in T"));
        let host = refusal(
            StatusCode::FORBIDDEN,
            b"this Host is not the admin listener's address nor a name in [admin] hosts\n",
            &admin,
            None,
        );
        assert!(host.contains("refused Host 127.0.0.1:9901"), "{host}");
        let missing = refusal(
            StatusCode::NOT_FOUND,
            br#"{"error":"no delivery `sp_x`"}"#,
            &admin,
            None,
        );
        assert_eq!(missing, "no delivery `sp_x`");
        let other = refusal(
            StatusCode::BAD_REQUEST,
            br#"{"error":"limit: 1 to 1000"}"#,
            &admin,
            None,
        );
        assert_eq!(
            other,
            "the admin listener at 127.0.0.1:9901 answered 400 Bad Request: limit: 1 to 1000"
        );
    }
}
