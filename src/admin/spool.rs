//! The spool API on the admin listener: metadata of what the spool holds (never a body or a
//! header), and the operator's actions on it.
//!
//! - `GET /spool?state=pending|in_flight|dead|delivered&route=NAME&limit=N`: newest first.
//! - `GET /spool/{id}`: one delivery.
//! - `POST /spool/{id}/retry`: a pending or dead delivery tried now.
//! - `POST /spool/{id}/drop`: a pending or dead delivery removed.
//! - `POST /spool/redrive?route=NAME`: every dead delivery of a route tried now.
//!
//! Answers are JSON; an error is `{"error": "…"}` with 400, 404, 405 or 503.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::spool::{self, Filter, Spool, State, StoreError, Summary};

/// Listings hold at most this many deliveries.
const MAX_LIMIT: usize = 1000;
/// A listing's size when the query names none.
const DEFAULT_LIMIT: usize = 100;

/// An answer: its status and its JSON.
pub type Answer = (StatusCode, Value);

/// Answers a request under `/spool`; `spool` is `None` when no route spools.
pub async fn answer(
    spool: Option<&Spool>,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Answer {
    let Some(spool) = spool else {
        return error(
            StatusCode::NOT_FOUND,
            "no route spools, so there is no spool",
        );
    };
    let rest = path.strip_prefix("/spool").unwrap_or(path);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let reads = *method == Method::GET || *method == Method::HEAD;
    let result = match (reads, parts.as_slice()) {
        (true, []) => list(spool, query).await,
        (true, [id]) => show(spool, id).await,
        (false, ["redrive"]) => redrive(spool, query).await,
        (false, [id, "retry"]) => retry(spool, id).await,
        (false, [id, "drop"]) => drop_one(spool, id).await,
        (true, [_, "retry" | "drop"]) | (false, [] | [_]) => {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET to read, POST to act",
            );
        }
        _ => return error(StatusCode::NOT_FOUND, "no such spool endpoint"),
    };
    result.unwrap_or_else(|e| match e {
        StoreError::Unavailable(why) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the spool store is unavailable: {why}"),
        ),
        StoreError::Full => error(StatusCode::SERVICE_UNAVAILABLE, "the spool is full"),
    })
}

fn error(status: StatusCode, message: &str) -> Answer {
    (status, json!({ "error": message }))
}

/// The value of `key` in a query string, percent-decoded.
fn param(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn list(spool: &Spool, query: Option<&str>) -> Result<Answer, StoreError> {
    let state = match param(query, "state").as_deref() {
        None | Some("") => None,
        Some(s) => match State::from_name(s) {
            Some(state) => Some(state),
            None => {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    &format!("state `{s}`: write pending, in_flight, dead or delivered"),
                ))
            }
        },
    };
    let limit = match param(query, "limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            let message = format!("limit: a number from 1 to {MAX_LIMIT}");
            return Ok(error(StatusCode::BAD_REQUEST, &message));
        }
    };
    let route = param(query, "route").filter(|r| !r.is_empty());
    let filter = Filter {
        state,
        route,
        limit,
    };
    let found = spool.store().list(filter).await?;
    let deliveries: Vec<Value> = found.iter().map(summary).collect();
    Ok((StatusCode::OK, json!({ "deliveries": deliveries })))
}

async fn show(spool: &Spool, id: &str) -> Result<Answer, StoreError> {
    Ok(match spool.store().get(id).await? {
        Some(s) => (StatusCode::OK, summary(&s)),
        None => error(StatusCode::NOT_FOUND, &format!("no delivery `{id}`")),
    })
}

async fn retry(spool: &Spool, id: &str) -> Result<Answer, StoreError> {
    if !spool.store().retry(id, spool::now_ms()).await? {
        return Ok(not_found(id));
    }
    spool.operator_wake();
    tracing::info!(target: "hookwall::spool", spool_id = %id, "operator: retry now");
    Ok((StatusCode::OK, json!({ "id": id, "retried": true })))
}

async fn drop_one(spool: &Spool, id: &str) -> Result<Answer, StoreError> {
    if !spool.store().remove(id).await? {
        return Ok(not_found(id));
    }
    tracing::info!(target: "hookwall::spool", spool_id = %id, "operator: dropped");
    Ok((StatusCode::OK, json!({ "id": id, "dropped": true })))
}

async fn redrive(spool: &Spool, query: Option<&str>) -> Result<Answer, StoreError> {
    let Some(route) = param(query, "route").filter(|r| !r.is_empty()) else {
        return Ok(error(StatusCode::BAD_REQUEST, "redrive needs ?route=NAME"));
    };
    let redriven = spool.store().redrive(&route, spool::now_ms()).await?;
    if redriven > 0 {
        spool.operator_wake();
    }
    tracing::info!(target: "hookwall::spool", route = %route, redriven, "operator: redrive");
    Ok((
        StatusCode::OK,
        json!({ "route": route, "redriven": redriven }),
    ))
}

fn not_found(id: &str) -> Answer {
    let message = format!("no pending or dead delivery `{id}`");
    error(StatusCode::NOT_FOUND, &message)
}

/// A delivery's metadata as the API shows it; times in RFC 3339.
pub fn summary(s: &Summary) -> Value {
    json!({
        "id": s.id,
        "route": s.route,
        "state": s.state.as_str(),
        "attempts": s.attempts,
        "received_at": spool::rfc3339(s.received_at_ms),
        "next_attempt_at": s.next_attempt_at_ms.map(spool::rfc3339),
        "last_status": s.last_status,
        "last_error": s.last_error,
        "dead_reason": s.dead_reason.map(|r| r.code()),
        "delivery_id": s.delivery_id,
        "bytes": s.bytes,
        "updated_at": spool::rfc3339(s.updated_at_ms),
    })
}
