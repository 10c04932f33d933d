//! The taxonomy in use: loaded from the configured file (or the built-in default) and
//! reloaded without a restart when the file changes. A new file that does not parse
//! keeps the old taxonomy running; the error is logged with its line and counted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use luister_schema::taxonomy::{Taxonomy, TaxonomyError};

use crate::attribution::Matcher;
use crate::metrics::ProcessorMetrics;

/// The default taxonomy shipped with Luister.
pub const DEFAULT_TAXONOMY: &str = include_str!("../taxonomy/default.toml");

/// Why a taxonomy could not be used; each message holds the cause's.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read taxonomy {file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not a taxonomy.
    #[error("{file}: {error}")]
    Parse {
        /// The file, or `default taxonomy`.
        file: String,
        /// What is wrong in it.
        error: TaxonomyError,
    },
    /// A pattern in it does not compile.
    #[error("{file}: {error}")]
    Pattern {
        /// The file, or `default taxonomy`.
        file: String,
        /// The regular expression's error.
        error: regex::Error,
    },
}

/// Reads a taxonomy file, or the default when `file` is `None`.
pub fn load_taxonomy(file: Option<&Path>) -> Result<Taxonomy, LoadError> {
    let name = shown(file);
    let text = match file {
        None => DEFAULT_TAXONOMY.to_owned(),
        Some(path) => std::fs::read_to_string(path).map_err(|error| LoadError::Read {
            file: name.clone(),
            error,
        })?,
    };
    Taxonomy::parse(&text).map_err(|error| LoadError::Parse { file: name, error })
}

/// A taxonomy file's name in messages.
fn shown(file: Option<&Path>) -> String {
    file.map_or_else(
        || "default taxonomy".to_owned(),
        |p| p.display().to_string(),
    )
}

/// Reads a taxonomy ([`load_taxonomy`]) and compiles its matcher.
fn load_matcher(file: Option<&Path>) -> Result<Matcher, LoadError> {
    let taxonomy = load_taxonomy(file)?;
    Matcher::new(&taxonomy).map_err(|error| LoadError::Pattern {
        file: shown(file),
        error,
    })
}

/// The matcher in use, swapped as a whole when the file changes.
#[derive(Clone)]
pub struct LiveTaxonomy {
    current: Arc<RwLock<Arc<Matcher>>>,
}

impl LiveTaxonomy {
    /// Loads the taxonomy once; a bad file here stops the start.
    pub fn load(file: Option<&Path>) -> Result<Self, LoadError> {
        let matcher = load_matcher(file)?;
        Ok(Self {
            current: Arc::new(RwLock::new(Arc::new(matcher))),
        })
    }

    /// The matcher to use now.
    pub fn matcher(&self) -> Arc<Matcher> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn replace(&self, matcher: Matcher) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(matcher);
    }

    /// Watches `file` (by modification time, every `every`) and reloads it on change.
    pub async fn watch(self, file: PathBuf, every: Duration, metrics: ProcessorMetrics) {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen: Option<SystemTime> = modified(&file);
        loop {
            tokio::time::sleep(every).await;
            let now = modified(&file);
            if now == seen {
                continue;
            }
            seen = now;
            match load_matcher(Some(&file)) {
                Ok(m) => {
                    self.replace(m);
                    metrics.taxonomy_reloads.with_label_values(&["ok"]).inc();
                    tracing::info!(file = %file.display(), "taxonomy reloaded");
                }
                Err(e) => {
                    metrics
                        .taxonomy_reloads
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::error!(error = %e, "the changed taxonomy is not valid; the previous one stays in use");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::Input;

    #[tokio::test]
    async fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old() {
        let dir = std::env::temp_dir().join(format!("luister-tax-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(
            &file,
            "[[theme]]\nid = \"a\"\nlabel = \"A\"\nkeywords = [\"appel\"]\n",
        )
        .unwrap();
        let live = LiveTaxonomy::load(Some(&file)).unwrap();
        let metrics = ProcessorMetrics::new(&prometheus::Registry::new()).unwrap();
        tokio::spawn(
            live.clone()
                .watch(file.clone(), Duration::from_millis(20), metrics.clone()),
        );
        let q = |live: &LiveTaxonomy| {
            live.matcher()
                .classify(&Input {
                    query: Some("peer appel"),
                    ..Input::default()
                })
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(q(&live), vec!["a"]);

        tokio::time::sleep(Duration::from_millis(30)).await;
        std::fs::write(
            &file,
            "[[theme]]\nid = \"b\"\nlabel = \"B\"\nkeywords = [\"peer\"]\n",
        )
        .unwrap();
        bump_mtime(&file);
        wait_until(|| q(&live) == vec!["b"]).await;

        std::fs::write(&file, "[[theme]]\nid = \"b\nbroken").unwrap();
        bump_mtime(&file);
        wait_until(|| {
            metrics
                .taxonomy_reloads
                .with_label_values(&["failed"])
                .get()
                == 1
        })
        .await;
        assert_eq!(q(&live), vec!["b"], "the old taxonomy stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn bump_mtime(file: &Path) {
        let f = std::fs::File::options().append(true).open(file).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(1))
            .unwrap();
    }

    async fn wait_until(mut cond: impl FnMut() -> bool) {
        for _ in 0..200 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }
}
