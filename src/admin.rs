//! The admin listener: the inspector page (`/`, `page.rs`, with `/style.css`), its JSON
//! (`/api/deliveries`, `/api/routes`: `api.rs`), `/healthz`, `/readyz` and `/metrics`
//! (`health.rs`) and the spool API (`spool.rs`). It is never the public listener, and it
//! answers nothing else. Every request passes `guard.rs` first; every answer carries the
//! headers of `html::secure`.

mod api;
mod guard;
mod health;
mod html;
mod page;
pub mod spool;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::config::Admin;
use crate::listener::Listener;
use crate::proxy::Proxy;

/// The largest form body the admin listener reads (a Retry button sends about 60 bytes).
const MAX_FORM: usize = 4096;

/// What every admin connection shares: the proxy, `[admin]`, and this process's
/// anti-forgery token for the page's forms.
struct Shared {
    proxy: Arc<Proxy>,
    admin: Admin,
    csrf: String,
}

/// Serves the admin endpoints on `listener` for as long as the process runs.
pub async fn serve(listener: Listener, proxy: Arc<Proxy>, admin: Admin) {
    tracing::info!(listen = %listener.describe(), "admin listening");
    let shared = Arc::new(Shared {
        proxy,
        admin,
        csrf: guard::new_token(),
    });
    loop {
        let (stream, local) = match listener.accept_at().await {
            Ok((stream, _, local)) => (stream, local),
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(answer(req, &shared, local).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    html::secure(res.headers_mut());
    res
}

fn text(status: StatusCode, body: String) -> Answer {
    respond(status, "text/plain; charset=utf-8", body)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    respond(status, "application/json", format!("{value}\n"))
}

/// 303 to the page: where a browser lands after one of its forms.
fn back_to_page(cookie: Option<HeaderValue>) -> Answer {
    let mut res = text(StatusCode::SEE_OTHER, "see /\n".into());
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Some(cookie) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res
}

/// Reads a form body (`application/x-www-form-urlencoded`, at most [`MAX_FORM`] bytes) of a
/// POST; anything else reads as no form.
async fn form(parts: &Parts, body: Incoming) -> Vec<(String, String)> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if parts.method != Method::POST || !is_form {
        return Vec::new();
    }
    let Ok(Ok(collected)) = tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(body, MAX_FORM).collect(),
    )
    .await
    else {
        return Vec::new();
    };
    form_urlencoded::parse(&collected.to_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Checks who asks, then answers.
async fn answer(req: Request<Incoming>, shared: &Shared, local: Option<SocketAddr>) -> Answer {
    let (parts, body) = req.into_parts();
    let form = form(&parts, body).await;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let ask = guard::Asked {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        local,
        form_token: field("csrf"),
    };
    if parts.uri.path() == "/login" && parts.method == Method::POST {
        return login(shared, &ask, field("token"));
    }
    if let Err(refused) = guard::check(&shared.admin, &shared.csrf, &ask) {
        return refusal(refused, parts.uri.path());
    }
    route(&parts, shared, field("csrf").is_some()).await
}

/// The answer to a refused request: the login form for a browser asking for the page, else
/// one line with 401 or 403.
fn refusal(refused: guard::Refusal, path: &str) -> Answer {
    tracing::warn!(path = %path, why = refused.message(), "admin request refused");
    if refused == guard::Refusal::Token && path == "/" {
        return respond(
            StatusCode::UNAUTHORIZED,
            "text/html; charset=utf-8",
            guard::LOGIN_PAGE,
        );
    }
    let status = match refused {
        guard::Refusal::Token => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
    let mut res = text(status, format!("{}\n", refused.message()));
    if refused == guard::Refusal::Token {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hookwall admin\""),
        );
    }
    res
}

/// `POST /login`: the page's token form. The right token (and an allowed `Host`) sets the
/// cookie and goes back to the page; anything else is the login form again.
fn login(shared: &Shared, ask: &guard::Asked<'_>, token: Option<&str>) -> Answer {
    match guard::login(&shared.admin, ask, token) {
        Ok(cookie) => back_to_page(Some(cookie)),
        Err(refused) => refusal(refused, "/"),
    }
}

/// Dispatches an allowed request.
async fn route(parts: &Parts, shared: &Shared, from_page: bool) -> Answer {
    let (method, path, query) = (&parts.method, parts.uri.path(), parts.uri.query());
    let proxy = &*shared.proxy;
    if path == "/spool" || path.starts_with("/spool/") {
        let spool = proxy.spool().map(|s| &**s);
        let (status, value) = spool::answer(spool, method, path, query).await;
        if from_page && status.is_success() {
            return back_to_page(None);
        }
        return json(status, &value);
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match path {
        "/" => {
            let page = page::render(proxy, query, &shared.csrf).await;
            respond(StatusCode::OK, "text/html; charset=utf-8", page)
        }
        "/style.css" => respond(StatusCode::OK, "text/css; charset=utf-8", html::STYLE),
        "/api/deliveries" => json(StatusCode::OK, &api::deliveries(proxy, query)),
        "/api/routes" => json(StatusCode::OK, &api::routes(proxy)),
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let (status, line) = health::readyz(proxy, shared.admin.readyz_upstreams).await;
            text(status, line)
        }
        "/metrics" => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            health::metrics(proxy).await,
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}
