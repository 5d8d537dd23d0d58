//! The Redis store's answers read back: a delivery's hash fields (in the order of the
//! scripts' `RECORD` and `SUMMARY` lists) as a [`Record`] or a [`Summary`], and the counts.
//! A field that does not read back is a damaged store: [`StoreError::Unavailable`].

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::Method;
use redis::Value;

use crate::spool::record::{decode_headers, Record};
use crate::spool::{Counts, DeadReason, State, StoreError, Summary};

/// One delivery's fields; a missing field is `None`.
pub(super) type Fields = Vec<Option<Vec<u8>>>;

fn damaged(what: &str) -> StoreError {
    StoreError::Unavailable(format!("spool store: a damaged delivery ({what})"))
}

fn text(f: &Fields, i: usize) -> Result<Option<String>, StoreError> {
    match f.get(i).cloned().flatten() {
        None => Ok(None),
        Some(b) => String::from_utf8(b).map(Some).map_err(|_| damaged("text")),
    }
}

fn required(f: &Fields, i: usize) -> Result<String, StoreError> {
    text(f, i)?.ok_or_else(|| damaged("a field is missing"))
}

fn number(f: &Fields, i: usize) -> Result<Option<u64>, StoreError> {
    text(f, i)?
        .map(|s| s.parse::<u64>().map_err(|_| damaged("a number")))
        .transpose()
}

fn bytes(f: &mut Fields, i: usize) -> Vec<u8> {
    f.get_mut(i).and_then(Option::take).unwrap_or_default()
}

/// A claimed delivery's record and attempt number, from its `RECORD` fields.
pub(super) fn record(mut f: Fields) -> Result<(Record, u32), StoreError> {
    let method = required(&f, 2)?;
    let target = required(&f, 3)?;
    let headers = decode_headers(&bytes(&mut f, 4)).map_err(|e| damaged(&e))?;
    let body = Bytes::from(bytes(&mut f, 5));
    let record = Record {
        id: required(&f, 0)?,
        route: required(&f, 1)?,
        method: Method::from_bytes(method.as_bytes()).map_err(|_| damaged("method"))?,
        target: PathAndQuery::try_from(target).map_err(|_| damaged("target"))?,
        headers,
        body,
        delivery_id: text(&f, 6)?,
        replay_key: text(&f, 7)?,
        received_at_ms: number(&f, 8)?.unwrap_or(0),
        client: text(&f, 9)?,
    };
    let attempts = number(&f, 10)?.unwrap_or(0);
    Ok((record, u32::try_from(attempts).unwrap_or(u32::MAX)))
}

/// A delivery's metadata from its `SUMMARY` fields; `None` when there is no such delivery.
pub(super) fn summary(f: &Fields) -> Result<Option<Summary>, StoreError> {
    let Some(id) = text(f, 0)? else {
        return Ok(None);
    };
    let state = State::from_i64(number(f, 2)?.unwrap_or(0) as i64);
    Ok(Some(Summary {
        id,
        route: required(f, 1)?,
        state,
        attempts: u32::try_from(number(f, 3)?.unwrap_or(0)).unwrap_or(u32::MAX),
        received_at_ms: number(f, 4)?.unwrap_or(0),
        next_attempt_at_ms: if state == State::Pending {
            number(f, 5)?
        } else {
            None
        },
        last_status: number(f, 6)?.and_then(|n| u16::try_from(n).ok()),
        last_error: text(f, 7)?,
        delivery_id: text(f, 8)?,
        bytes: number(f, 9)?.unwrap_or(0),
        dead_reason: text(f, 10)?.and_then(|c| DeadReason::from_code(&c)),
        updated_at_ms: number(f, 11)?.unwrap_or(0),
    }))
}

/// The `COUNTS` script's answer: kept, bytes, then `route state count oldest` groups.
pub(super) fn counts(values: Vec<Value>) -> Result<Counts, StoreError> {
    let bad = || damaged("counts");
    let int = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let (head, groups) = values.split_at(values.len().min(2));
    let [kept, bytes] = head else {
        return Err(bad());
    };
    let mut by_route = Vec::new();
    for group in groups.chunks(4) {
        let [Value::BulkString(route), state, n, oldest] = group else {
            return Err(bad());
        };
        let route = String::from_utf8(route.clone()).map_err(|_| bad())?;
        let state = State::from_i64(int(state)? as i64);
        by_route.push((route, state, int(n)?, int(oldest)?));
    }
    Ok(Counts {
        by_route,
        kept: int(kept)?,
        bytes: int(bytes)?,
    })
}
