//! The route table: exact paths first, then the longest `path_prefix`. Which requests may
//! be matched at all is `target`'s business; methods and statuses are `proxy`'s.

use std::collections::HashMap;

use crate::config::{PathMatch, Route};

/// Routes by exact path, else by the longest matching `path_prefix`.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    exact: HashMap<String, usize>,
    prefixes: HashMap<String, usize>,
    /// Distinct prefix lengths, longest first: a lookup tries each once, so its cost grows
    /// with the number of distinct lengths, not with the number of routes.
    prefix_lengths: Vec<usize>,
}

impl RouteTable {
    /// Indexes `routes` (already validated: no two share a path or prefix).
    pub fn new(routes: Vec<Route>) -> RouteTable {
        let mut exact = HashMap::new();
        let mut prefixes = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            match &r.path {
                PathMatch::Exact(p) => exact.entry(p.clone()).or_insert(i),
                PathMatch::Prefix(p) => prefixes.entry(p.clone()).or_insert(i),
            };
        }
        let mut prefix_lengths: Vec<usize> = prefixes.keys().map(String::len).collect();
        prefix_lengths.sort_unstable_by(|a, b| b.cmp(a));
        prefix_lengths.dedup();
        RouteTable {
            routes,
            exact,
            prefixes,
            prefix_lengths,
        }
    }

    /// The route for `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<&Route> {
        self.find(path).map(|i| &self.routes[i])
    }

    /// The index in [`RouteTable::routes`] of the route for `path`, if any.
    pub fn find(&self, path: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(path) {
            return Some(i);
        }
        self.prefix_lengths
            .iter()
            .filter(|&&len| len <= path.len())
            .find_map(|&len| path.get(..len).and_then(|p| self.prefixes.get(p)))
            .copied()
    }

    /// All routes, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(paths: &[PathMatch]) -> RouteTable {
        use crate::secret::{Secret, SecretSource};
        let routes = paths
            .iter()
            .map(|p| {
                let secret = Secret::from_bytes("routing-test-key", SecretSource::Env("K".into()));
                let scheme = crate::scheme::build(
                    &crate::scheme::Options {
                        provider: "github",
                        ..Default::default()
                    },
                    vec![secret],
                )
                .unwrap();
                Route {
                    name: format!("{p}"),
                    path: p.clone(),
                    methods: vec![http::Method::POST],
                    upstream: crate::config::Upstream::Http("127.0.0.1:1".parse().unwrap()),
                    max_body: 1,
                    scheme,
                    secret_sources: vec![],
                    public_keys: 0,
                    handshake: false,
                    enforce: true,
                    replay_window: None,
                    delivery: crate::config::DeliveryMode::Forward,
                    spool: crate::config::RouteSpool::default(),
                    allow_from: None,
                }
            })
            .collect();
        RouteTable::new(routes)
    }

    fn found<'a>(t: &'a RouteTable, path: &str) -> Option<&'a str> {
        t.lookup(path).map(|r| r.name.as_str())
    }

    #[test]
    fn exact_beats_prefix() {
        let t = table(&[
            PathMatch::Prefix("/hooks/".into()),
            PathMatch::Exact("/hooks/github".into()),
        ]);
        assert_eq!(found(&t, "/hooks/github"), Some("= /hooks/github"));
        assert_eq!(found(&t, "/hooks/github/x"), Some("^ /hooks/"));
        assert_eq!(found(&t, "/hooks/other"), Some("^ /hooks/"));
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&[
            PathMatch::Prefix("/hooks/".into()),
            PathMatch::Prefix("/hooks/stripe/".into()),
            PathMatch::Prefix("/h".into()),
        ]);
        assert_eq!(found(&t, "/hooks/stripe/acct_1"), Some("^ /hooks/stripe/"));
        assert_eq!(found(&t, "/hooks/stripe"), Some("^ /hooks/"));
        assert_eq!(found(&t, "/hx"), Some("^ /h"));
    }

    #[test]
    fn exact_paths_match_exactly() {
        let t = table(&[PathMatch::Exact("/webhooks/github".into())]);
        assert_eq!(found(&t, "/webhooks/github"), Some("= /webhooks/github"));
        for miss in [
            "/webhooks/github/",
            "/webhooks/GitHub",
            "/webhooks/githu",
            "/webhooks/github;x",
            "/",
        ] {
            assert_eq!(found(&t, miss), None, "{miss}");
        }
    }
}
