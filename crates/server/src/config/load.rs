//! Loading: the TOML file, then `TESSERA_*` environment variables, then validation.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};

use super::{Config, RawConfig};

/// Why the configuration cannot be used. Every message names the key it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read configuration file {path}: {reason}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file or environment does not parse into the configuration's shape.
    #[error("{}", format_list(.0))]
    Parse(Vec<String>),
    /// Values are present but wrong.
    #[error("{}", format_list(.0))]
    Invalid(Vec<String>),
}

fn format_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `TESSERA_*` variables that are not configuration keys.
const ENV_NOT_CONFIG: &[&str] = &["config", "test_database_url"];

/// Every other `TESSERA_*` variable is a configuration key, nested ones with `__`
/// (`TESSERA_HTTP__BODY_LIMIT`); a misspelt one is an unknown key, reported like one in the file.
fn env_provider() -> Env {
    Env::prefixed("TESSERA_").ignore(ENV_NOT_CONFIG).split("__")
}

/// Loads the configuration from `path` (if any) and the environment, adds the demo entities
/// with `dev`, and validates it.
pub fn load(path: Option<&Path>, dev: bool) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        // Read it ourselves first: a missing file must be an error, not an empty config.
        std::fs::metadata(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(env_provider());
    let raw: RawConfig = figment.extract().map_err(|errors| {
        ConfigError::Parse(errors.into_iter().map(describe_figment_error).collect())
    })?;
    Config::from_raw(raw, dev)
}

/// Parses and validates configuration text (no file, no environment); for tools and tests.
pub fn load_str(toml: &str, dev: bool) -> Result<Config, ConfigError> {
    let raw: RawConfig = Figment::from(Toml::string(toml))
        .extract()
        .map_err(|errors| {
            ConfigError::Parse(errors.into_iter().map(describe_figment_error).collect())
        })?;
    Config::from_raw(raw, dev)
}

fn describe_figment_error(e: figment::Error) -> String {
    let key = e
        .path
        .iter()
        .filter(|p| p.as_str() != "default")
        .cloned()
        .collect::<Vec<_>>()
        .join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {source})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    let key = if key.is_empty() {
        "configuration".to_string()
    } else {
        key
    };
    format!("{key}: {}{source}", describe_kind(&e.kind))
}

/// What is wrong, naming the kind of value found, never its content: a mistyped secret,
/// password or database URL must not reach a log through the error that refuses it.
fn describe_kind(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", kind_of(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!(
                "{} is not a valid value here; expected {expected}",
                kind_of(actual)
            )
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value; expected one of: {}", expected.join(", "))
        }
        Kind::Unsupported(actual) => format!("{} is not supported here", kind_of(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!("{} cannot be a key; expected {expected}", kind_of(actual))
        }
        Kind::Message(message) => without_source_lines(message),
        other => other.to_string(),
    }
}

/// A value's kind in words.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        Actual::Unit | Actual::Option => "nothing",
        _ => "another kind of value",
    }
}

/// A parser's message without the source lines it quotes (a TOML syntax error shows the line,
/// which may hold a secret): the position and the reason remain.
fn without_source_lines(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains('|'))
        .collect::<Vec<_>>()
        .join(": ")
}
