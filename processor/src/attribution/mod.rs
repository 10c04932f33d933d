//! Theme attribution: which themes of the taxonomy an event is about.
//!
//! A [`Matcher`] is compiled once from a [`Taxonomy`] and is a pure function from
//! [`Input`] (URL path, page title, search query) to theme ids. Matching understands
//! Dutch as residents type it:
//! - case and diacritics are folded, URL paths split into words ([`normalize`]);
//! - words are compared by their Snowball Dutch stem (`uitkeringen` ~ `uitkering`);
//! - compounds contain keywords (`schuldhulpverleningstraject` → `schuldhulp`): a
//!   keyword of 5+ letters matches at the start or end of a longer word, of 7+ anywhere;
//! - small typos: a word of 5+ letters one edit (insert, delete, substitute, swap) from a
//!   keyword matches it (`bijzondre`, `kwijtscheldng`);
//! - phrases match as consecutive stemmed words; patterns are regular expressions on the
//!   folded text; `exclude` entries cancel their theme.
//!
//! Several themes may match. The answer lists the most specific ones (a parent is
//! dropped when one of its children matched), highest `priority` first, then in file
//! order.
//!
//! Speed: what a word matches does not depend on where it occurs, so each thread keeps
//! what it worked out for the words it saw (stem, keyword and compound hits, typo
//! correction) for the matcher in use, up to [`WORD_CACHE_CAPACITY`] words. A page view
//! of words seen before costs a hash lookup per word (benchmark 4 in `BENCHMARKS.md`).

pub mod evaluate;
pub mod normalize;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::AhoCorasick;
use regex::RegexSet;
use rust_stemmers::{Algorithm, Stemmer};

use luister_schema::taxonomy::{Field, Taxonomy};

use normalize::{fold, words};

/// What an event offers to match on.
#[derive(Debug, Default, Clone, Copy)]
pub struct Input<'a> {
    /// URL path (or a whole URL; only its path is used).
    pub path: Option<&'a str>,
    /// Page title.
    pub title: Option<&'a str>,
    /// Site-search query.
    pub query: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    theme: usize,
    exclude: bool,
}

struct CompiledTheme {
    id: String,
    priority: i32,
    fields: [bool; 3],
}

/// A compiled taxonomy.
pub struct Matcher {
    /// Tells this matcher's entries in the per-thread word cache from another's.
    generation: u64,
    themes: Vec<CompiledTheme>,
    exact: HashMap<String, Vec<Hit>>,
    compound: Option<AhoCorasick>,
    compound_hits: Vec<(usize, Vec<Hit>)>,
    typo_words: Vec<(String, Vec<Hit>)>,
    deletions: HashMap<String, Vec<usize>>,
    /// Every stem that occurs in a phrase, numbered.
    phrase_stems: HashMap<String, u32>,
    /// Phrases as numbered stems, by their first stem.
    phrases: HashMap<u32, Vec<(Vec<u32>, Hit)>>,
    patterns: RegexSet,
    pattern_hits: Vec<Hit>,
    stemmer: Stemmer,
}

/// What a word matches wherever it occurs.
struct Word {
    /// Keyword, compound and typo hits (the field decides later which count).
    hits: Vec<Hit>,
    /// The number of its stem (or of its correction's stem) among the phrase stems.
    phrase_stem: Option<u32>,
}

/// How many words a thread remembers per matcher before it starts over. Words of a
/// municipal site number in the thousands; numbers and codes in URLs are what fills it.
pub const WORD_CACHE_CAPACITY: usize = 100_000;

static GENERATIONS: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct WordCache {
    generation: u64,
    words: hashbrown::HashMap<Box<str>, Word>,
}

thread_local! {
    static WORDS: RefCell<WordCache> = RefCell::default();
}

fn field_index(f: Field) -> usize {
    match f {
        Field::Path => 0,
        Field::Title => 1,
        Field::Query => 2,
    }
}

impl Matcher {
    /// The known word one edit away from `token` (the first in alphabetical order when
    /// several are), with the hits of that word.
    fn correct(&self, token: &str) -> Option<(&str, &[Hit])> {
        let mut best: Option<usize> = None;
        for v in deletion_variants(token) {
            for idx in self.deletions.get(&v).into_iter().flatten() {
                if best.is_none_or(|b| *idx < b)
                    && strsim::damerau_levenshtein(token, &self.typo_words[*idx].0) <= 1
                {
                    best = Some(*idx);
                }
            }
        }
        best.map(|i| {
            (
                self.typo_words[i].0.as_str(),
                self.typo_words[i].1.as_slice(),
            )
        })
    }
}

/// Every string one deletion away from `w`, and `w` itself.
fn deletion_variants(w: &str) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    let mut out = Vec::with_capacity(chars.len() + 1);
    out.push(w.to_owned());
    for i in 0..chars.len() {
        out.push(
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c)
                .collect(),
        );
    }
    out
}

impl Matcher {
    /// Compiles a taxonomy (its regular expressions were checked when it was parsed).
    pub fn new(taxonomy: &Taxonomy) -> Result<Self, regex::Error> {
        let stemmer = Stemmer::create(Algorithm::Dutch);
        let mut themes = Vec::new();
        let mut exact: HashMap<String, Vec<Hit>> = HashMap::new();
        let mut compound_map: HashMap<String, Vec<Hit>> = HashMap::new();
        let mut typo_map: HashMap<String, Vec<Hit>> = HashMap::new();
        let mut phrase_stems: HashMap<String, u32> = HashMap::new();
        let mut phrases: HashMap<u32, Vec<(Vec<u32>, Hit)>> = HashMap::new();
        let mut patterns = Vec::new();
        let mut pattern_hits = Vec::new();
        for (i, t) in taxonomy.themes.iter().enumerate() {
            let mut fields = [t.fields.is_empty(); 3];
            for f in &t.fields {
                fields[field_index(*f)] = true;
            }
            themes.push(CompiledTheme {
                id: t.id.clone(),
                priority: t.priority,
                fields,
            });
            let entries = t
                .keywords
                .iter()
                .chain(&t.synonyms)
                .chain(&t.phrases)
                .map(|w| (w, false))
                .chain(t.exclude.iter().map(|w| (w, true)));
            for (entry, exclude) in entries {
                let hit = Hit { theme: i, exclude };
                let folded = fold(entry);
                let ws: Vec<&str> = words(&folded).collect();
                if ws.len() > 1 {
                    let ids: Vec<u32> = ws
                        .iter()
                        .map(|w| {
                            let next = phrase_stems.len() as u32;
                            *phrase_stems
                                .entry(stemmer.stem(w).into_owned())
                                .or_insert(next)
                        })
                        .collect();
                    phrases.entry(ids[0]).or_default().push((ids, hit));
                    for w in &ws {
                        if w.chars().count() >= 5 {
                            typo_map.entry((*w).to_owned()).or_default();
                        }
                    }
                    continue;
                }
                let Some(word) = ws.first() else { continue };
                let stem = stemmer.stem(word).into_owned();
                for key in [word.to_string(), stem.clone()] {
                    exact.entry(key.clone()).or_default().push(hit);
                    if key.chars().count() >= 5 {
                        compound_map.entry(key).or_default().push(hit);
                    }
                }
                if word.chars().count() >= 5 {
                    typo_map.entry((*word).to_owned()).or_default().push(hit);
                }
            }
            for p in &t.patterns {
                patterns.push(p.clone());
                pattern_hits.push(Hit {
                    theme: i,
                    exclude: false,
                });
            }
        }
        let compound_hits: Vec<(usize, Vec<Hit>)> = compound_map
            .iter()
            .map(|(k, v)| (k.chars().count(), v.clone()))
            .collect();
        let compound = if compound_map.is_empty() {
            None
        } else {
            let keys: Vec<&String> = compound_map.keys().collect();
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(keys)
                .ok()
        };
        let mut typo_words: Vec<(String, Vec<Hit>)> = typo_map.into_iter().collect();
        typo_words.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deletions: HashMap<String, Vec<usize>> = HashMap::new();
        for (idx, (w, _)) in typo_words.iter().enumerate() {
            for v in deletion_variants(w) {
                deletions.entry(v).or_default().push(idx);
            }
        }
        Ok(Self {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            themes,
            exact,
            compound,
            compound_hits,
            typo_words,
            deletions,
            phrase_stems,
            phrases,
            patterns: RegexSet::new(&patterns)?,
            pattern_hits,
            stemmer,
        })
    }

    /// The theme ids `input` is about (see the module documentation).
    pub fn classify(&self, input: &Input<'_>) -> Vec<&str> {
        let mut include = vec![false; self.themes.len()];
        let mut exclude = vec![false; self.themes.len()];
        let mut apply = |hits: &[Hit], field: usize| {
            for h in hits {
                if self.themes[h.theme].fields[field] {
                    if h.exclude {
                        exclude[h.theme] = true;
                    } else {
                        include[h.theme] = true;
                    }
                }
            }
        };
        let path = input
            .path
            .map(|p| percent_encoding::percent_decode_str(url_path(p)).decode_utf8_lossy());
        for (field, text) in [(0, path.as_deref()), (1, input.title), (2, input.query)] {
            let Some(text) = text else { continue };
            let folded = fold(text);
            self.match_text(&folded, field, &mut apply);
        }
        let mut matched: Vec<usize> = (0..self.themes.len())
            .filter(|i| include[*i] && !exclude[*i])
            .collect();
        // Keep the most specific: drop a theme when one of its descendants matched.
        let ids: Vec<&str> = matched
            .iter()
            .map(|i| self.themes[*i].id.as_str())
            .collect();
        matched.retain(|i| {
            let id = &self.themes[*i].id;
            !ids.iter().any(|other| {
                other.len() > id.len()
                    && other.starts_with(id.as_str())
                    && other.as_bytes()[id.len()] == b'/'
            })
        });
        matched.sort_by_key(|i| (-self.themes[*i].priority, *i));
        matched
            .into_iter()
            .map(|i| self.themes[i].id.as_str())
            .collect()
    }

    fn match_text(&self, folded: &str, field: usize, apply: &mut impl FnMut(&[Hit], usize)) {
        let mut stems: Vec<Option<u32>> = Vec::new();
        WORDS.with_borrow_mut(|cache| {
            if cache.generation != self.generation || cache.words.len() >= WORD_CACHE_CAPACITY {
                cache.words.clear();
                cache.generation = self.generation;
            }
            for token in words(folded) {
                let word = cache
                    .words
                    .entry_ref(token)
                    .or_insert_with(|| self.analyse(token));
                apply(&word.hits, field);
                stems.push(word.phrase_stem);
            }
        });
        for (i, stem) in stems.iter().enumerate() {
            let Some(first) = stem else { continue };
            for (phrase, hit) in self.phrases.get(first).into_iter().flatten() {
                let rest = &stems[i..];
                if rest.len() >= phrase.len()
                    && rest.iter().zip(phrase).all(|(s, p)| *s == Some(*p))
                {
                    apply(std::slice::from_ref(hit), field);
                }
            }
        }
        for p in self.patterns.matches(folded).iter() {
            apply(std::slice::from_ref(&self.pattern_hits[p]), field);
        }
    }

    /// What `token` (a folded word) matches: its keyword and stem hits, the keywords it
    /// contains as a compound and, when it matched no keyword, the keyword one typo away.
    fn analyse(&self, token: &str) -> Word {
        let len = token.chars().count();
        let mut hits = Vec::new();
        let stem = self.stemmer.stem(token);
        for key in [token, stem.as_ref()] {
            if let Some(h) = self.exact.get(key) {
                hits.extend_from_slice(h);
            }
        }
        let found = !hits.is_empty();
        if let Some(ac) = &self.compound {
            for m in ac.find_overlapping_iter(token) {
                let (klen, h) = &self.compound_hits[m.pattern().as_usize()];
                let at_edge = m.start() == 0 || m.end() == token.len();
                if *klen < len && (at_edge || *klen >= 7) {
                    hits.extend_from_slice(h);
                }
            }
        }
        let mut phrase_stem = self.phrase_stems.get(stem.as_ref()).copied();
        if !found && len >= 5 {
            if let Some((word, h)) = self.correct(token) {
                hits.extend_from_slice(h);
                // Phrases see the corrected word.
                phrase_stem = self
                    .phrase_stems
                    .get(self.stemmer.stem(word).as_ref())
                    .copied();
            }
        }
        Word { hits, phrase_stem }
    }
}

/// The path of a URL (without query and fragment); `url` itself when it has no scheme.
fn url_path(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return url;
    }
    rest.find('/').map_or("/", |i| &rest[i..])
}

#[cfg(test)]
mod tests;
