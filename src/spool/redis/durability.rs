//! What a Redis promises of a spooled delivery once it has answered: its version (whether it
//! has `WAITAOF`, Redis 7.2 and later) and its append-only file settings, read once at the
//! first connect, put as one line for the start-up log and `hookwall check`.

use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError};

/// A Redis server's version and `appendonly` and `appendfsync` settings (`unknown` where
/// `INFO` or `CONFIG GET` is not allowed: some managed services, and ACL users without
/// `@dangerous`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durability {
    version: String,
    appendonly: String,
    appendfsync: String,
}

impl Durability {
    /// Reads `INFO server` and the two settings.
    ///
    /// # Errors
    /// The connection fails. A command the server refuses reads as `unknown`, which counts
    /// as weak: no `WAITAOF`, and the warning.
    pub(super) async fn read(conn: &mut ConnectionManager) -> Result<Durability, RedisError> {
        let info = redis::cmd("INFO")
            .arg("server")
            .query_async::<String>(conn)
            .await;
        let version = match info {
            Ok(info) => info
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .unwrap_or("unknown")
                .trim()
                .to_owned(),
            Err(e) if refused(&e) => "unknown".to_owned(),
            Err(e) => return Err(e),
        };
        Ok(Durability {
            version,
            appendonly: config_get(conn, "appendonly").await,
            appendfsync: config_get(conn, "appendfsync").await,
        })
    }

    /// Whether each insert waits on `WAITAOF 1 0`: Redis 7.2 or later, with an append-only
    /// file to wait on.
    pub(super) fn waitaof(&self) -> bool {
        has_waitaof(&self.version) && self.appendonly == "yes"
    }

    /// Whether an acknowledged delivery may be lost if Redis dies.
    pub(super) fn weak(&self) -> bool {
        self.appendonly != "yes" || (!self.waitaof() && self.appendfsync != "always")
    }

    /// The line the start-up log and `hookwall check` show.
    pub fn line(&self) -> String {
        let v = &self.version;
        let (ao, fs) = (&self.appendonly, &self.appendfsync);
        let mut line = if self.waitaof() {
            format!(
                "Redis {v} with appendonly=yes: each delivery is acknowledged once WAITAOF \
                 reports it fsynced to the append-only file"
            )
        } else if has_waitaof(v) {
            format!("Redis {v} has appendonly={ao}: WAITAOF has no append-only file to wait on")
        } else {
            format!(
                "Redis {v} has no WAITAOF: acknowledgements are as durable as appendonly={ao} \
                 appendfsync={fs}"
            )
        };
        if self.weak() {
            line.push_str(
                "; an acknowledged delivery can be lost if Redis stops: set appendonly yes \
                 and appendfsync always",
            );
        }
        line
    }
}

/// Whether the server answered with an error (a refused command), rather than the
/// connection failing.
fn refused(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// A setting's value, or `unknown`.
async fn config_get(conn: &mut ConnectionManager, name: &str) -> String {
    let got: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await;
    got.ok()
        .and_then(|pair| pair.into_iter().nth(1))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a `redis_version` is 7.2 or later.
fn has_waitaof(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (7, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(version: &str, appendonly: &str, appendfsync: &str) -> Durability {
        Durability {
            version: version.into(),
            appendonly: appendonly.into(),
            appendfsync: appendfsync.into(),
        }
    }

    #[test]
    fn waitaof_from_7_2_with_an_append_only_file() {
        assert!(redis("7.2.4", "yes", "everysec").waitaof());
        assert!(redis("8.0.1", "yes", "no").waitaof());
        assert!(!redis("7.2.4", "no", "always").waitaof());
        assert!(!redis("7.0.15", "yes", "always").waitaof());
        assert!(!redis("unknown", "yes", "always").waitaof());
        assert!(!redis("6.2.14", "unknown", "unknown").waitaof());
    }

    #[test]
    fn the_line_says_what_an_acknowledgement_is_worth() {
        let old = redis("7.0.15", "yes", "always");
        assert!(!old.weak());
        assert_eq!(
            old.line(),
            "Redis 7.0.15 has no WAITAOF: acknowledgements are as durable as appendonly=yes \
             appendfsync=always"
        );
        let loose = redis("7.0.15", "yes", "everysec");
        assert!(loose.weak() && loose.line().contains("can be lost"));
        let new = redis("7.2.4", "yes", "everysec");
        assert!(!new.weak() && new.line().contains("WAITAOF reports it fsynced"));
        let off = redis("7.2.4", "no", "everysec");
        assert!(off.weak() && off.line().contains("appendonly=no"));
    }
}
