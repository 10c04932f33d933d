//! Loading a service configuration: defaults, then the TOML file, then environment.
//!
//! Environment overrides are `LUISTER_<SECTION>__<KEY>` (double underscore between
//! levels), for example `LUISTER_KAFKA__BROKERS=10.0.0.5:9092` sets `kafka.brokers`.
//! Variables with a single underscore (`LUISTER_KAFKA_BROKERS`, read by the local stack
//! scripts) are not configuration keys and are ignored here.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{de::DeserializeOwned, Serialize};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named on the command line does not exist.
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    /// A value is malformed, unknown or of the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The command line could not be understood.
    #[error("{0}")]
    Usage(String),
}

/// A setting that cannot work, and what to change: what `check-config` prints and a
/// service refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSetting(pub String);

impl From<String> for InvalidSetting {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for InvalidSetting {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// Reads `T` from its defaults, the optional TOML file and `LUISTER_*__*` variables.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
) -> Result<T, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(
        Env::prefixed("LUISTER_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    figment.extract().map_err(|e| {
        let mut text = String::new();
        for err in e {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&err.to_string());
        }
        ConfigError::Invalid(text)
    })
}

/// What a binary needs of its service's configuration to check it and start.
pub trait ServiceConfig: Serialize + DeserializeOwned + Default {
    /// Checks the whole configuration before any traffic arrives.
    fn validate(&self) -> Result<(), InvalidSetting>;
    /// The `[log]` section.
    fn log(&self) -> &crate::telemetry::LogConfig;
    /// The `http.listen` address.
    fn listen(&self) -> &str;
}

/// Reads a service's configuration ([`load`]) and checks it: what `check-config`
/// does, and the first step of a start.
pub fn load_checked<T: ServiceConfig>(file: Option<&Path>) -> Result<T, ConfigError> {
    let config: T = load(file)?;
    config.validate().map_err(|e| ConfigError::Invalid(e.0))?;
    Ok(config)
}

/// `check-config`: loads and checks the configuration, and says so when it is valid.
pub fn check_config<T: ServiceConfig>(args: &Args) -> Result<(), ConfigError> {
    load_checked::<T>(args.config.as_deref())?;
    println!("configuration is valid");
    Ok(())
}

/// Starts logging as `config.log` says and binds `http.listen`, logging the address:
/// what every service does between reading its configuration and serving.
pub async fn start<T: ServiceConfig>(
    name: &str,
    config: &T,
) -> std::io::Result<tokio::net::TcpListener> {
    crate::telemetry::init(config.log());
    let listener = tokio::net::TcpListener::bind(config.listen())
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {} (http.listen): {e}", config.listen()),
            )
        })?;
    tracing::info!(addr = %listener.local_addr()?, "{name} listening");
    Ok(listener)
}

/// The command line every service binary accepts: `[--config FILE] [SUBCOMMAND ...]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The configuration file, from `--config FILE` or `LUISTER_CONFIG`.
    pub config: Option<PathBuf>,
    /// Words that are not options, for services with subcommands.
    pub rest: Vec<String>,
    /// `--help` or `-h`: the binary prints its usage and exits.
    pub help: bool,
}

impl Args {
    /// Parses the process arguments as [`Args::parse`]; `None` when `--help` asked for
    /// `usage`, which is then printed. A mistake's message ends with `usage`.
    pub fn parse_or_usage(
        args: impl IntoIterator<Item = String>,
        usage: &str,
    ) -> Result<Option<Self>, ConfigError> {
        let args = Self::parse(args).map_err(|e| ConfigError::Usage(format!("{e}\n{usage}")))?;
        if args.help {
            println!("{usage}");
            return Ok(None);
        }
        Ok(Some(args))
    }

    /// Parses the process arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, ConfigError> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--config" | "-c" => {
                    let f = it
                        .next()
                        .ok_or_else(|| ConfigError::Usage("--config needs a file name".into()))?;
                    out.config = Some(PathBuf::from(f));
                }
                "--help" | "-h" => out.help = true,
                s if s.starts_with("--config=") => {
                    out.config = Some(PathBuf::from(&s["--config=".len()..]));
                }
                s if s.starts_with('-') && s != "-" => {
                    return Err(ConfigError::Usage(format!("unknown option {s}")))
                }
                _ => out.rest.push(a),
            }
        }
        if out.config.is_none() {
            out.config = std::env::var_os("LUISTER_CONFIG").map(PathBuf::from);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Conf {
        kafka: Kafka,
    }
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Kafka {
        brokers: String,
        linger_ms: u64,
    }
    impl Default for Kafka {
        fn default() -> Self {
            Kafka {
                brokers: "127.0.0.1:9092".into(),
                linger_ms: 5,
            }
        }
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("svc.toml", "[kafka]\nlinger_ms = 20\nbrokers = \"a:1\"\n")?;
            jail.set_env("LUISTER_KAFKA__BROKERS", "b:2");
            jail.set_env("LUISTER_KAFKA_BROKERS", "ignored:3");
            let c: Conf = load(Some(Path::new("svc.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.kafka.brokers, "b:2");
            assert_eq!(c.kafka.linger_ms, 20);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_types_are_named_in_the_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("svc.toml", "[kafka]\nlinger = 20\n")?;
            let e = load::<Conf>(Some(Path::new("svc.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("linger"), "{e}");
            jail.create_file("svc.toml", "[kafka]\nlinger_ms = \"soon\"\n")?;
            let e = load::<Conf>(Some(Path::new("svc.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("linger_ms"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let e = load::<Conf>(Some(Path::new("/nonexistent/luister.toml"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/luister.toml"));
    }

    #[test]
    fn args_take_config_and_subcommands() {
        let a = Args::parse(["--config".into(), "x.toml".into(), "classify".into()]).unwrap();
        assert_eq!(a.config, Some(PathBuf::from("x.toml")));
        assert_eq!(a.rest, vec!["classify".to_owned()]);
        assert!(!a.help);
        assert!(Args::parse(["--help".into()]).unwrap().help);
        assert!(
            Args::parse(["check-config".into(), "-h".into()])
                .unwrap()
                .help
        );
        assert!(Args::parse(["--bogus".into()]).is_err());
        assert!(Args::parse(["--config".into()]).is_err());
    }
}
