//! The inspector page (`GET /` on the admin listener): server-rendered HTML, no script, no
//! external asset. Four sections: each route's traffic over the last 5 minutes and hour, the
//! recent requests (filtered by the query string), the spool's pending and dead deliveries
//! with Retry, Drop and Redrive forms, and the route table as `check` prints it (secret
//! sources, never values). Every value goes through `html::esc`; no body, query string,
//! header value, signature or secret is on the page.

use std::fmt::Write as _;

use super::html::{esc, table};
use crate::history::{Entry, Window, KINDS};
use crate::proxy::Proxy;
use crate::spool::{self, Filter as SpoolFilter, State, Summary};

/// Which recent requests the page lists.
#[derive(Debug, Default)]
pub struct Filter {
    pub route: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub limit: usize,
    /// Reload every this many seconds (`<meta http-equiv=refresh>`), when set.
    pub refresh: Option<u32>,
}

/// Rows of recent requests the page shows when the query names no limit.
const DEFAULT_ROWS: usize = 200;

impl Filter {
    /// The filter a query string asks for.
    pub fn parse(query: Option<&str>) -> Filter {
        let mut f = Filter {
            limit: DEFAULT_ROWS,
            ..Filter::default()
        };
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
        for (k, v) in pairs {
            let v = v.into_owned();
            match (&*k, v.is_empty()) {
                (_, true) => {}
                ("route", _) => f.route = Some(v),
                ("outcome", _) => f.outcome = Some(v),
                ("reason", _) => f.reason = Some(v),
                ("limit", _) => f.limit = v.parse().unwrap_or(DEFAULT_ROWS).clamp(1, 100_000),
                ("refresh", _) => f.refresh = v.parse().ok().filter(|s| (1..=3600).contains(s)),
                _ => {}
            }
        }
        f
    }

    /// Whether `e` passes the filter.
    pub fn keeps(&self, e: &Entry) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.route, &e.route)
            && is(&self.outcome, e.outcome.as_str())
            && is(&self.reason, e.reason)
    }
}

/// The whole page.
pub async fn render(proxy: &Proxy, query: Option<&str>, csrf: &str) -> String {
    let filter = Filter::parse(query);
    let now = spool::now_ms();
    let mut out = head(filter.refresh, now);
    out.push_str(&routes(proxy, now));
    out.push_str(&recent(proxy, &filter));
    out.push_str(&spool_section(proxy, csrf).await);
    out.push_str(&route_table(proxy));
    out.push_str("</body></html>\n");
    out
}

fn head(refresh: Option<u32>, now: u64) -> String {
    let meta = refresh.map_or_else(String::new, |s| {
        format!("<meta http-equiv=\"refresh\" content=\"{s}\">")
    });
    let toggle = if refresh.is_some() {
        "<a href=\"/\">stop refreshing</a>"
    } else {
        "<a href=\"/?refresh=10\">refresh every 10 s</a>"
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{meta}\
         <title>hookwall inspector</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\
         <body><h1>hookwall inspector</h1><nav><span class=\"muted\">{}</span> {toggle} \
         <a href=\"#routes\">routes</a><a href=\"#recent\">recent</a><a href=\"#spool\">spool</a>\
         <a href=\"#table\">route table</a><a href=\"/api/deliveries\">/api/deliveries</a>\
         <a href=\"/api/routes\">/api/routes</a></nav>",
        esc(&spool::rfc3339(now))
    )
}

/// Requests by outcome over a window, the non-zero ones.
fn outcomes(w: &Window) -> String {
    let parts: Vec<String> = KINDS
        .iter()
        .zip(w.by_kind)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{} {n}", k.as_str()))
        .collect();
    if parts.is_empty() {
        "–".into()
    } else {
        esc(&parts.join(" · "))
    }
}

fn micros(us: Option<u64>) -> String {
    us.map_or_else(
        || "–".into(),
        |us| format!("≤ {:.1} ms", us as f64 / 1000.0),
    )
}

fn slots(w: &Window) -> String {
    let parts: Vec<String> = w
        .slots
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(slot, n)| format!("slot {slot}: {n}"))
        .collect();
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

fn routes(proxy: &Proxy, now: u64) -> String {
    let snapshot = proxy.snapshot();
    let history = proxy.history();
    let rows: Vec<Vec<String>> = snapshot
        .routes()
        .routes()
        .iter()
        .map(|r| {
            let (five, last) = history.window(&r.name, 5, now);
            let (hour, _) = history.window(&r.name, 60, now);
            let mode = if r.enforce {
                "enforce".to_owned()
            } else {
                "<span class=\"shadow\">shadow</span>".to_owned()
            };
            vec![
                esc(&r.name),
                esc(r.scheme.provider()),
                mode,
                outcomes(&five),
                outcomes(&hour),
                format!("{} / {}", micros(hour.p50_us), micros(hour.p99_us)),
                last.map_or_else(|| "never".into(), |ms| esc(&spool::rfc3339(ms))),
                slots(&hour),
            ]
        })
        .collect();
    let head = [
        "route",
        "provider",
        "mode",
        "last 5 min",
        "last hour",
        "p50 / p99 (hour)",
        "last forwarded",
        "secret slots matched (hour)",
    ];
    format!("<h2 id=\"routes\">Routes</h2>{}", table(&head, &rows))
}

fn recent(proxy: &Proxy, f: &Filter) -> String {
    let entries = proxy.history().recent(f.limit, |e| f.keeps(e));
    let rows: Vec<Vec<String>> = entries.iter().map(entry_row).collect();
    let head = [
        "time",
        "route",
        "provider",
        "outcome",
        "reason",
        "status",
        "upstream",
        "delivery id",
        "request id",
        "client",
        "elapsed",
        "slot",
    ];
    format!(
        "<h2 id=\"recent\">Recent requests</h2>{}<p class=\"muted\">the last {} kept in memory; \
         newest first</p>{}",
        filter_form(f),
        proxy.history().capacity(),
        table(&head, &rows)
    )
}

fn entry_row(e: &Entry) -> Vec<String> {
    let class = if e.status >= 400 { "bad" } else { "ok" };
    let id = match (&e.delivery_id, e.verified) {
        (None, _) => "–".to_owned(),
        (Some(id), true) => format!("<code>{}</code>", esc(id)),
        (Some(id), false) => format!(
            "<code>{}</code> <span class=\"muted\">(unverified)</span>",
            esc(id)
        ),
    };
    vec![
        esc(&spool::rfc3339(e.at_ms)),
        esc(&e.route),
        esc(e.provider),
        esc(e.outcome.as_str()),
        esc(e.reason),
        format!("<span class=\"{class}\">{}</span>", e.status),
        e.upstream_status
            .map_or_else(|| "–".into(), |s| s.to_string()),
        id,
        format!("<code>{}</code>", esc(&e.request_id)),
        esc(e.client.as_deref().unwrap_or("unix socket")),
        format!("{:.2} ms", e.elapsed_us as f64 / 1000.0),
        e.slot.map_or_else(|| "–".into(), |s| s.to_string()),
    ]
}

fn filter_form(f: &Filter) -> String {
    let value = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    format!(
        "<form method=\"get\" action=\"/\">route <input name=\"route\" value=\"{}\"> \
         outcome <input name=\"outcome\" value=\"{}\"> reason <input name=\"reason\" value=\"{}\"> \
         <button>filter</button> <a href=\"/\">clear</a></form>",
        value(&f.route),
        value(&f.outcome),
        value(&f.reason)
    )
}

/// Deliveries of the spool listed per state.
const SPOOL_ROWS: usize = 100;

async fn spool_section(proxy: &Proxy, csrf: &str) -> String {
    let mut out = String::from("<h2 id=\"spool\">Spool</h2>");
    let Some(spool) = proxy.spool() else {
        out.push_str("<p class=\"muted\">no route spools</p>");
        return out;
    };
    for state in [State::Pending, State::Dead] {
        let filter = SpoolFilter {
            state: Some(state),
            route: None,
            limit: SPOOL_ROWS,
        };
        match spool.store().list(filter).await {
            Ok(list) => out.push_str(&spool_table(state, &list, csrf)),
            Err(e) => {
                let _ = write!(
                    out,
                    "<p class=\"bad\">the spool store does not answer: {}</p>",
                    esc(&e.to_string())
                );
                return out;
            }
        }
    }
    out.push_str(&redrive_forms(proxy, csrf));
    out
}

fn spool_table(state: State, list: &[Summary], csrf: &str) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                format!("<code>{}</code>", esc(&s.id)),
                esc(&s.route),
                s.attempts.to_string(),
                esc(&spool::rfc3339(s.received_at_ms)),
                s.next_attempt_at_ms
                    .map_or_else(|| "–".into(), |ms| esc(&spool::rfc3339(ms))),
                s.last_status.map_or_else(|| "–".into(), |c| c.to_string()),
                esc(s.last_error.as_deref().unwrap_or("–")),
                esc(s.dead_reason.map_or("–", |r| r.code())),
                format!(
                    "{} {}",
                    action(&format!("/spool/{}/retry", s.id), "Retry", csrf),
                    action(&format!("/spool/{}/drop", s.id), "Drop", csrf)
                ),
            ]
        })
        .collect();
    let head = [
        "id",
        "route",
        "attempts",
        "received",
        "next attempt",
        "last status",
        "last error",
        "dead reason",
        "",
    ];
    format!("<h3>{}</h3>{}", esc(state.as_str()), table(&head, &rows))
}

/// A one-button POST form carrying the anti-forgery token.
fn action(path: &str, label: &str, csrf: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" \
         value=\"{}\"><button>{}</button></form>",
        esc(path),
        esc(csrf),
        esc(label)
    )
}

fn redrive_forms(proxy: &Proxy, csrf: &str) -> String {
    let snapshot = proxy.snapshot();
    let forms: Vec<String> = snapshot
        .routes()
        .routes()
        .iter()
        .filter(|r| r.delivery != crate::config::DeliveryMode::Forward)
        .map(|r| {
            let path = format!(
                "/spool/redrive?route={}",
                form_urlencoded::byte_serialize(r.name.as_bytes()).collect::<String>()
            );
            action(
                &path,
                &format!("Redrive the dead deliveries of {}", r.name),
                csrf,
            )
        })
        .collect();
    format!("<p>{}</p>", forms.join(" "))
}

fn route_table(proxy: &Proxy) -> String {
    let snapshot = proxy.snapshot();
    let rows: Vec<Vec<String>> = snapshot
        .routes()
        .routes()
        .iter()
        .map(|r| {
            let sources: Vec<String> = r.secret_sources.iter().map(ToString::to_string).collect();
            vec![
                esc(&r.name),
                esc(&r.path.to_string()),
                esc(&r
                    .methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(",")),
                esc(r.scheme.provider()),
                esc(&r.upstream.to_string()),
                esc(r.delivery.as_str()),
                esc(&sources.join(", ")),
            ]
        })
        .collect();
    let head = [
        "route", "match", "methods", "provider", "upstream", "delivery", "secrets",
    ];
    format!("<h2 id=\"table\">Route table</h2>{}", table(&head, &rows))
}
