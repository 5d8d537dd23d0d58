//! `hookwall sign`: the headers a sender would add for the body on stdin, as a configured
//! route signs (`--config` and `--route`) or from flags that mirror the route keys
//! (`--provider`, `--secret-env` and the scheme's text keys, from `scheme::with_text_keys`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use http::{HeaderMap, Uri};

use super::need_config;
use crate::config;
use crate::scheme::{self, with_text_keys, Scheme, Signed};
use crate::secret;

/// Defines [`SignArgs`] with a flag per text key of the table.
macro_rules! sign_args {
    ($( $(#[$doc:meta])* $key:ident = $value:literal ),* $(,)?) => {
        /// `hookwall sign`: either `--config` and `--route`, or `--provider` and `--secret-env`.
        #[derive(Debug, Args)]
        pub struct SignArgs {
            /// Sign as this configured route does (with `--config`).
            #[arg(long, conflicts_with_all = ["provider", "secret_env"])]
            pub route: Option<String>,
            /// The provider, as in config (`github`, `stripe`, `standard-webhooks`, …, or `hmac`).
            #[arg(long, required_unless_present = "route")]
            pub provider: Option<String>,
            /// The environment variable that holds the secret.
            #[arg(long, value_name = "NAME", required_unless_present = "route")]
            pub secret_env: Option<String>,
            $( $(#[$doc])* #[arg(long, value_name = $value)] pub $key: Option<String>, )*
            /// Unix seconds to sign with (default: now).
            #[arg(long, value_name = "UNIX_SECONDS")]
            pub timestamp: Option<u64>,
            /// The request target the signature is for (its query is signed by URL-signed schemes).
            #[arg(long, default_value = "/", value_name = "PATH_AND_QUERY")]
            pub target: String,
            /// The request method.
            #[arg(long, default_value = "POST")]
            pub method: String,
            /// A request header the signature depends on, as `Name: value`: a delivery id such as
            /// `webhook-id: msg_1`, or `Content-Type: application/x-www-form-urlencoded` for Twilio
            /// form parameters. Repeatable.
            #[arg(long = "header", value_name = "NAME: VALUE")]
            pub headers: Vec<String>,
        }

        impl SignArgs {
            /// The scheme keys the flags give, as a route's.
            fn options<'a>(&'a self, provider: &'a str) -> scheme::Options<'a> {
                scheme::Options {
                    provider,
                    $( $key: self.$key.as_deref(), )*
                    ..scheme::Options::default()
                }
            }
        }
    };
}
with_text_keys!(sign_args);

/// Runs `hookwall sign`.
///
/// # Errors
/// A flag that does not fit, a route or secret that does not load, a public-key scheme.
pub(super) fn sign(
    config_path: Option<&Path>,
    args: &SignArgs,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let scheme = match &args.route {
        Some(name) => route_scheme(config_path, name)?,
        None => flag_scheme(args)?,
    };
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let now = args
        .timestamp
        .map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let uri: Uri = args
        .target
        .parse()
        .map_err(|_| format!("--target `{}` is not a request target", args.target))?;
    let method = http::Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("--method `{}` is not an HTTP method", args.method))?;
    let request_headers = header_flags(&args.headers)?;
    let signed = Signed {
        method: &method,
        uri: &uri,
        headers: &request_headers,
        body: &body,
    };
    let headers = scheme.sign(&signed, now);
    if headers.is_empty() {
        return Err(format!(
            "provider `{}` checks signatures with the sender's public key; only the sender can sign",
            scheme.provider()
        )
        .into());
    }
    let mut out = std::io::stdout().lock();
    for (name, value) in &headers {
        writeln!(out, "{}: {}", title_case(name.as_str()), value.to_str()?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The scheme of the configured route `name`.
fn route_scheme(
    config_path: Option<&Path>,
    name: &str,
) -> Result<Arc<dyn Scheme>, Box<dyn std::error::Error>> {
    let config = config::load(need_config(config_path)?)?;
    let route = config
        .routes
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
            format!("no route named `{name}`; routes: {}", names.join(", "))
        })?;
    Ok(route.scheme.clone())
}

/// The scheme the flags describe, its secret from `--secret-env`. Errors name the flag.
fn flag_scheme(args: &SignArgs) -> Result<Arc<dyn Scheme>, Box<dyn std::error::Error>> {
    if let Some(p) = args
        .provider
        .as_deref()
        .filter(|p| matches!(*p, "discord" | "sendgrid"))
    {
        return Err(format!(
            "provider `{p}` checks signatures with the sender's public key; only the sender, who holds the private key, can sign"
        )
        .into());
    }
    let (Some(provider), Some(var)) = (&args.provider, &args.secret_env) else {
        return Err("give --route, or --provider and --secret-env".into());
    };
    let mut table = toml::Table::new();
    table.insert("env".into(), toml::Value::String(var.clone()));
    let value = toml::Value::Table(table);
    let secrets = secret::load(&value, Path::new("."), &secret::process_env)
        .map_err(|e| format!("secret: {e}"))?;
    let scheme = scheme::build(&args.options(provider), secrets).map_err(|e| {
        let flag = if e.key == "secret" {
            "secret-env".to_owned()
        } else {
            e.key.replace('_', "-")
        };
        format!("--{flag}: {}", e.message)
    })?;
    Ok(scheme)
}

/// `--header Name: value` flags, as a header map.
fn header_flags(flags: &[String]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for h in flags {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header `{h}` is not `Name: value`"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header `{h}`: bad header name"))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header `{h}`: bad header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// `x-hub-signature-256` -> `X-Hub-Signature-256`, for readable output.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
