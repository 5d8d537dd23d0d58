//! The Prometheus / OpenMetrics text exposition as the tests read it: parsed into samples,
//! looked up by family and label set, and expected families built for `assert_eq!`.

use std::collections::BTreeMap;

/// A sample's labels, by name.
pub type Labels = BTreeMap<String, String>;

/// A parsed exposition: every `name{labels} value` line.
#[derive(Debug)]
pub struct Scrape {
    pub samples: Vec<(String, Labels, f64)>,
}

/// The label set of `pairs`.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Builds the expected family for `assert_eq!` against [`Scrape::family`].
pub fn expect(rows: &[(&[(&str, &str)], f64)]) -> BTreeMap<Labels, f64> {
    rows.iter().map(|(l, v)| (labels(l), *v)).collect()
}

impl Scrape {
    /// Parses `name{label="value",...} value` lines; `#` lines are skipped.
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(sample)
            .collect();
        Scrape { samples }
    }

    /// Every sample named exactly `name`, by label set.
    pub fn family(&self, name: &str) -> BTreeMap<Labels, f64> {
        let mut out = BTreeMap::new();
        for (n, l, v) in &self.samples {
            if n == name {
                assert!(
                    out.insert(l.clone(), *v).is_none(),
                    "{name}{l:?} appears twice"
                );
            }
        }
        out
    }

    /// The sample `name` with exactly the label set `pairs`.
    pub fn get(&self, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
        self.family(name).get(&labels(pairs)).copied()
    }
}

/// One sample line: its name, labels and value.
fn sample(line: &str) -> (String, Labels, f64) {
    let Some(i) = line.find(['{', ' ']) else {
        panic!("unparsable metrics line {line:?}")
    };
    let (name, mut rest) = line.split_at(i);
    let mut labels = Labels::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let end = label_set(inner, &mut labels, line);
        rest = &inner[end..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    (name.to_owned(), labels, value)
}

/// Reads `name="value"` pairs, separated by commas, from `inner` (what follows `{`) into
/// `labels`; returns where the text after the closing brace starts.
fn label_set(inner: &str, labels: &mut Labels, line: &str) -> usize {
    let mut chars = inner.char_indices();
    loop {
        let Some((start, c)) = chars.next() else {
            panic!("unterminated labels in {line:?}")
        };
        if c == '}' {
            return start + 1;
        }
        if c == ',' {
            continue;
        }
        let mut key = String::from(c);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape in {line:?}"),
                },
                Some((_, '"')) => break,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        }
        labels.insert(key, value);
    }
}
