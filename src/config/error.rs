//! What is wrong with a config: each [`Problem`] names the file, the position, the route and
//! the key, never a value; [`ConfigError`] is all of them for one file. Also how a stage-one
//! (TOML) error, which has only a byte offset, finds its line and its route.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    /// `route 2 (github)`, for problems inside a route.
    pub route: Option<String>,
    /// The key to blame, where there is one.
    pub key: Option<String>,
    pub message: String,
}

/// Everything wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some((line, col)) = p.position {
                write!(f, ":{line}:{col}")?;
            }
            f.write_str(": ")?;
            if let Some(route) = &p.route {
                write!(f, "{route}: ")?;
            }
            if let Some(key) = &p.key {
                write!(f, "{key}: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// `route N (label)` when byte `offset` of `text` lies inside the N-th `[[route]]` table:
/// stage one reports positions only, and an operator looks for routes by name.
pub(super) fn route_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let mut index = 0;
    let mut in_route = false;
    for line in before.lines() {
        let line = line.trim_start();
        if line.starts_with('[') {
            in_route = line.starts_with("[[route]]");
            if in_route {
                index += 1;
            }
        }
    }
    if !in_route {
        return None;
    }
    // The label needs the table; a file with a syntax error has none to offer.
    let label = toml::from_str::<toml::Table>(text).ok().and_then(|t| {
        let route = t.get("route")?.as_array()?.get(index - 1)?.as_table()?;
        ["name", "path", "path_prefix"]
            .iter()
            .find_map(|k| route.get(*k)?.as_str().map(str::to_owned))
    });
    Some(match label {
        Some(l) => format!("route {index} ({l})"),
        None => format!("route {index}"),
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
