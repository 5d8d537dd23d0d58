//! Secrets: where they come from (`{ env = "NAME" }`, `{ file = "PATH" }`, or a rotation list
//! of those), loading them at start-up, and refusing the ones that protect nothing.
//!
//! A [`Secret`] never prints its value: it has no `Display`, and its `Debug` is redacted. Error
//! messages name the variable or the file, never what it holds. What a scheme does with the
//! bytes is the scheme's business.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret was read from; safe to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file, by the path as resolved against the config file's folder.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env var {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A loaded secret. Its bytes are reachable only through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret {
    bytes: Box<[u8]>,
    source: SecretSource,
}

impl Secret {
    /// The secret's bytes, for a scheme to key its MAC with. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the secret came from.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// A secret made in code, for tests and for `hookwall sign`.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>, source: SecretSource) -> Secret {
        Secret {
            bytes: bytes.into().into_boxed_slice(),
            source,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, from {})", self.source)
    }
}

/// Looks an environment variable up; the real one is [`process_env`]. Tests pass their own so
/// that they never call `set_var`.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`EnvLookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Values that appear in tutorials and sample code: a secret equal to one of them (ignoring
/// case and surrounding blanks) is as good as none.
const WELL_KNOWN: &[&str] = &[
    "secret",
    "super-secret-key",
    "super_secret_key",
    "supersecretkey",
    "super-secret",
    "supersecret",
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "replace-me",
    "replaceme",
    "password",
    "passw0rd",
    "mysecret",
    "my-secret",
    "my_secret",
    "your-secret",
    "your_secret",
    "yoursecret",
    "secret-key",
    "secret_key",
    "secretkey",
    "webhook-secret",
    "webhook_secret",
    "webhooksecret",
    "my-webhook-secret",
    "default",
    "test",
    "testing",
    "example",
    "admin",
    "letmein",
    "hunter2",
    "xxx",
    "todo",
    "123456",
    "12345678",
    "1234567890",
    "it's a secret to everybody",
];

/// Reads the `secret` value of a route: one source table, or a non-empty list of them.
///
/// `base` is the config file's folder, against which relative file paths resolve.
///
/// # Errors
/// A message, ready to follow `secret: `, that names the variable or the file but never the
/// value: an inline string, a table that is not exactly one of `env` / `file`, an empty list,
/// a variable that is unset, a file that cannot be read, and a secret that is empty,
/// whitespace-only or a well-known default.
pub fn load(value: &toml::Value, base: &Path, env: EnvLookup<'_>) -> Result<Vec<Secret>, String> {
    match value {
        toml::Value::String(_) => Err(
            "a secret is never written in the config file, where it would end up in version \
             control and backups; put it in an environment variable and write \
             `secret = { env = \"NAME\" }`, or in a file and write `secret = { file = \"PATH\" }`"
                .into(),
        ),
        toml::Value::Table(_) => Ok(vec![load_one(value, base, env)?]),
        toml::Value::Array(items) if items.is_empty() => {
            Err("the list is empty: give at least one `{ env = \"NAME\" }` or `{ file = \"PATH\" }`".into())
        }
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                load_one(item, base, env).map_err(|e| format!("entry {}: {e}", i + 1))
            })
            .collect(),
        other => Err(format!(
            "expected `{{ env = \"NAME\" }}`, `{{ file = \"PATH\" }}` or a list of them, found a {}",
            other.type_str()
        )),
    }
}

fn load_one(value: &toml::Value, base: &Path, env: EnvLookup<'_>) -> Result<Secret, String> {
    let source = parse_source(value, base)?;
    let bytes = match &source {
        SecretSource::Env(name) => env(name)
            .ok_or_else(|| format!("env var {name} is not set (or is not valid UTF-8)"))?
            .into_bytes(),
        SecretSource::File(path) => {
            let mut bytes = std::fs::read(path)
                .map_err(|e| format!("file {} cannot be read: {e}", path.display()))?;
            // One trailing newline is what editors and `echo` add; it is not part of the secret.
            if bytes.ends_with(b"\r\n") {
                bytes.truncate(bytes.len() - 2);
            } else if bytes.ends_with(b"\n") {
                bytes.truncate(bytes.len() - 1);
            }
            bytes
        }
    };
    check_strength(&bytes).map_err(|why| format!("{source} {why}"))?;
    Ok(Secret {
        bytes: bytes.into_boxed_slice(),
        source,
    })
}

/// Reads a `public_key` value: the key written inline (it is not a secret), one
/// `{ env = "NAME" }` / `{ file = "PATH" }` source, or a list of those (rotation).
///
/// # Errors
/// A message, ready to follow `public_key: `: an empty list or value, an unset variable, an
/// unreadable file.
pub fn load_public(
    value: &toml::Value,
    base: &Path,
    env: EnvLookup<'_>,
) -> Result<Vec<String>, String> {
    let one = |item: &toml::Value| -> Result<String, String> {
        let text = match item {
            toml::Value::String(s) => s.clone(),
            table @ toml::Value::Table(_) => match parse_source(table, base)? {
                SecretSource::Env(name) => env(&name)
                    .ok_or_else(|| format!("env var {name} is not set (or is not valid UTF-8)"))?,
                SecretSource::File(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("file {} cannot be read: {e}", path.display()))?,
            },
            other => {
                return Err(format!(
                    "expected the key as a string, `{{ env = \"NAME\" }}` or `{{ file = \"PATH\" }}`, found a {}",
                    other.type_str()
                ))
            }
        };
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err("is empty".into());
        }
        Ok(text)
    };
    match value {
        toml::Value::Array(items) if items.is_empty() => Err("the list is empty".into()),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| one(item).map_err(|e| format!("entry {}: {e}", i + 1)))
            .collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn parse_source(value: &toml::Value, base: &Path) -> Result<SecretSource, String> {
    let toml::Value::Table(table) = value else {
        return Err(format!(
            "expected `{{ env = \"NAME\" }}` or `{{ file = \"PATH\" }}`, found a {}",
            value.type_str()
        ));
    };
    if let Some(key) = table.keys().find(|k| *k != "env" && *k != "file") {
        return Err(format!("unknown key `{key}`: expected `env` or `file`"));
    }
    match (table.get("env"), table.get("file")) {
        (Some(_), Some(_)) => Err("give either `env` or `file`, not both".into()),
        (Some(toml::Value::String(name)), None) => {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                Err(format!("`{name}` is not a valid environment variable name"))
            } else {
                Ok(SecretSource::Env(name.clone()))
            }
        }
        (None, Some(toml::Value::String(path))) if !path.is_empty() => {
            Ok(SecretSource::File(base.join(path)))
        }
        (None, Some(toml::Value::String(_))) => Err("`file` is empty".into()),
        (Some(v), None) | (None, Some(v)) => {
            Err(format!("expected a string, found a {}", v.type_str()))
        }
        (None, None) => Err("expected `env` or `file`".into()),
    }
}

/// Refuses a secret that protects nothing. The message follows the source's name.
fn check_strength(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.is_empty() {
        return Err("is empty");
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("holds only whitespace");
    }
    let trimmed = bytes.trim_ascii();
    if WELL_KNOWN
        .iter()
        .any(|weak| weak.as_bytes().eq_ignore_ascii_case(trimmed))
    {
        return Err(
            "holds a well-known default value that anyone can guess; generate a random secret \
             (for example with `openssl rand -hex 32`) and give it to the sender too",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn value(text: &str) -> toml::Value {
        let table: toml::Table = toml::from_str(&format!("secret = {text}")).unwrap();
        table["secret"].clone()
    }

    #[test]
    fn loads_from_env() {
        let env = env_with(&[("GH", "0123456789abcdef")]);
        let secrets = load(&value(r#"{ env = "GH" }"#), Path::new("."), &env).unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].expose(), b"0123456789abcdef");
        assert_eq!(secrets[0].source(), &SecretSource::Env("GH".into()));
    }

    #[test]
    fn loads_from_a_file_relative_to_the_config_and_strips_one_newline() {
        let dir = std::env::temp_dir().join(format!("hookwall-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s1"), "first-value-xyz\n\n").unwrap();
        std::fs::write(dir.join("s2"), "second-value-xyz\r\n").unwrap();
        let env = env_with(&[]);
        let secrets = load(&value(r#"[{ file = "s1" }, { file = "s2" }]"#), &dir, &env).unwrap();
        assert_eq!(secrets[0].expose(), b"first-value-xyz\n");
        assert_eq!(secrets[1].expose(), b"second-value-xyz");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_an_inline_secret_and_says_why() {
        let err = load(
            &value(r#""hunter3-but-inline""#),
            Path::new("."),
            &env_with(&[]),
        )
        .unwrap_err();
        assert!(err.contains("never written in the config file"), "{err}");
        assert!(err.contains("env = "), "{err}");
        assert!(!err.contains("hunter3"), "{err}");
    }

    #[test]
    fn names_an_unset_variable() {
        let err = load(
            &value(r#"{ env = "NOPE" }"#),
            Path::new("."),
            &env_with(&[]),
        )
        .unwrap_err();
        assert_eq!(err, "env var NOPE is not set (or is not valid UTF-8)");
    }

    #[test]
    fn names_an_unreadable_file() {
        let err = load(
            &value(r#"{ file = "/nonexistent/hookwall/secret" }"#),
            Path::new("."),
            &env_with(&[]),
        )
        .unwrap_err();
        assert!(
            err.starts_with("file /nonexistent/hookwall/secret cannot be read"),
            "{err}"
        );
    }

    #[test]
    fn refuses_empty_and_blank_secrets() {
        let env = env_with(&[("EMPTY", ""), ("BLANK", " \t ")]);
        let err = load(&value(r#"{ env = "EMPTY" }"#), Path::new("."), &env).unwrap_err();
        assert_eq!(err, "env var EMPTY is empty");
        let err = load(&value(r#"{ env = "BLANK" }"#), Path::new("."), &env).unwrap_err();
        assert_eq!(err, "env var BLANK holds only whitespace");
    }

    #[test]
    fn refuses_well_known_defaults_without_echoing_them() {
        for weak in [
            "super-secret-key",
            "secret",
            "changeme",
            "Secret ",
            "CHANGEME",
        ] {
            let vars: &'static [(&str, &str)] = Box::leak(Box::new([("W", weak)]));
            let err =
                load(&value(r#"{ env = "W" }"#), Path::new("."), &env_with(vars)).unwrap_err();
            assert!(
                err.starts_with("env var W holds a well-known default"),
                "{err}"
            );
            assert!(
                !err.to_lowercase().contains(&weak.trim().to_lowercase())
                    || weak.trim().eq_ignore_ascii_case("secret"),
                "{err}"
            );
        }
    }

    #[test]
    fn reports_which_list_entry_failed() {
        let env = env_with(&[("A", "a-fine-long-secret")]);
        let err = load(
            &value(r#"[{ env = "A" }, { env = "B" }]"#),
            Path::new("."),
            &env,
        )
        .unwrap_err();
        assert_eq!(err, "entry 2: env var B is not set (or is not valid UTF-8)");
    }

    #[test]
    fn refuses_malformed_sources() {
        let env = env_with(&[]);
        let base = Path::new(".");
        assert!(load(&value("[]"), base, &env)
            .unwrap_err()
            .contains("empty"));
        assert!(load(&value("42"), base, &env)
            .unwrap_err()
            .contains("found a integer"));
        assert!(load(&value(r#"{ env = "A", file = "b" }"#), base, &env)
            .unwrap_err()
            .contains("not both"));
        assert!(load(&value(r#"{ vault = "x" }"#), base, &env)
            .unwrap_err()
            .contains("unknown key `vault`"));
        assert!(load(&value("{ env = 3 }"), base, &env)
            .unwrap_err()
            .contains("expected a string"));
        assert!(load(&value("{}"), base, &env)
            .unwrap_err()
            .contains("expected `env` or `file`"));
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_bytes("do-not-print-me", SecretSource::Env("X".into()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("do-not-print-me"));
        assert_eq!(shown, "Secret(<redacted>, from env var X)");
    }
}
