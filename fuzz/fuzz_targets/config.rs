//! The config loader: `config::parse` on any UTF-8 text, with an environment in which every
//! variable is set. Whatever it accepts must have routes a request can reach: paths that
//! `check_path` accepts, at least one method, a body limit of at least one byte.
#![no_main]

use std::path::Path;

use hookwall::config::{self, PathMatch};
use hookwall::target::check_path;
use hookwall_fuzz::{config_is_safe_to_load, env, CONFIG_PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if !config_is_safe_to_load(text) {
        return;
    }
    let Ok(cfg) = config::parse(text, Path::new(CONFIG_PATH), &env) else {
        return;
    };
    assert!(!cfg.routes.is_empty());
    for route in &cfg.routes {
        let (PathMatch::Exact(path) | PathMatch::Prefix(path)) = &route.path;
        assert!(check_path(path).is_ok(), "{path:?}");
        assert!(!route.methods.is_empty());
        assert!(route.max_body >= 1);
    }
});
