//! Precision and recall of a taxonomy on a labelled set, per top-level theme.
//!
//! A labelled set is a TSV file: `input <TAB> field <TAB> expected`, where field is
//! `query`, `title` or `path` and expected lists top-level themes separated by commas
//! (`-` for none). Lines starting with `#` are comments.

use std::collections::{BTreeMap, BTreeSet};

use luister_schema::taxonomy::top_level;

use super::{Input, Matcher};

/// Counts for one top-level theme.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Expected and found.
    pub true_positives: u32,
    /// Found, not expected.
    pub false_positives: u32,
    /// Expected, not found.
    pub false_negatives: u32,
}

impl Counts {
    /// TP / (TP + FP); 1 when nothing was found.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    /// TP / (TP + FN); 1 when nothing was expected.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Default)]
pub struct Report {
    /// Per top-level theme.
    pub themes: BTreeMap<String, Counts>,
    /// Lines evaluated.
    pub lines: usize,
    /// Lines whose set of top-level themes was exactly right.
    pub exact: usize,
    /// The lines that were not exactly right: input, expected, found.
    pub misses: Vec<(String, String, String)>,
}

impl Report {
    /// A Markdown table of precision and recall per top-level theme.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| theme | precision | recall | expected |\n|---|---|---|---|\n");
        for (t, c) in &self.themes {
            out.push_str(&format!(
                "| {t} | {:.2} | {:.2} | {} |\n",
                c.precision(),
                c.recall(),
                c.true_positives + c.false_negatives
            ));
        }
        out.push_str(&format!(
            "\n{} of {} lines exactly right ({:.0}%).\n",
            self.exact,
            self.lines,
            100.0 * self.exact as f64 / self.lines.max(1) as f64
        ));
        out
    }
}

/// A line of a labelled set that cannot be read, counted from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LabelledLineError {
    /// The line.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// Evaluates `matcher` on the labelled set's text.
pub fn evaluate(matcher: &Matcher, labelled: &str) -> Result<Report, LabelledLineError> {
    let mut report = Report::default();
    for (n, line) in labelled.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [input, field, expected] = cols[..] else {
            return Err(LabelledLineError {
                line: n + 1,
                problem: "expected 3 tab-separated columns".into(),
            });
        };
        let mut inp = Input::default();
        match field {
            "query" => inp.query = Some(input),
            "title" => inp.title = Some(input),
            "path" => inp.path = Some(input),
            other => {
                return Err(LabelledLineError {
                    line: n + 1,
                    problem: format!("field {other:?} is not query, title or path"),
                })
            }
        }
        let want: BTreeSet<&str> = expected
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "-")
            .collect();
        let got: BTreeSet<&str> = matcher.classify(&inp).into_iter().map(top_level).collect();
        for t in want.union(&got) {
            let c = report.themes.entry((*t).to_owned()).or_default();
            match (want.contains(t), got.contains(t)) {
                (true, true) => c.true_positives += 1,
                (false, true) => c.false_positives += 1,
                (true, false) => c.false_negatives += 1,
                (false, false) => {}
            }
        }
        report.lines += 1;
        if want == got {
            report.exact += 1;
        } else {
            let join = |s: &BTreeSet<&str>| {
                if s.is_empty() {
                    "-".to_owned()
                } else {
                    s.iter().copied().collect::<Vec<_>>().join(",")
                }
            };
            report
                .misses
                .push((input.to_owned(), join(&want), join(&got)));
        }
    }
    Ok(report)
}
