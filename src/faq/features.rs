//! Turning normalised text into sparse TF-IDF feature vectors.
//!
//! Owns the feature definitions (stemmed word uni/bi-grams, Han character uni/bi-grams,
//! character 2–5-grams inside word boundaries, synonym concepts, keyword hits) and the
//! one aho-corasick pass that finds lexicon terms and entry keywords. Knows nothing
//! about classes or decisions; no I/O.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::normalize::{normalize, tokens, word_runs, Stemmer, Token};
use crate::domain::is_han;

/// A sparse vector: (feature index, value), sorted by index, no duplicates.
pub type SparseVec = Vec<(u32, f32)>;

/// Concept features count more than one ordinary word: they carry the meaning the
/// knowledge base author wrote in other words.
const CONCEPT_WEIGHT: f32 = 1.5;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn fnv_u32(h: u64, v: u32) -> u64 {
    (h ^ u64::from(v)).wrapping_mul(FNV_PRIME)
}

const SEED_WORD: u64 = FNV_OFFSET ^ 0x11;
const SEED_BIGRAM: u64 = FNV_OFFSET ^ 0x22;
const SEED_CHAR: u64 = FNV_OFFSET ^ 0x33;
const SEED_CONCEPT: u64 = FNV_OFFSET ^ 0x44;

/// Hasher for keys that already are good 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(self.0 ^ FNV_OFFSET, bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type PreHashedMap<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// What one aho-corasick pattern means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    /// A synonym: emits the concept feature of its group (index into `concepts`).
    Concept(u32),
    /// An entry keyword: boosts that entry.
    Keyword(u32),
}

/// Synonym groups and entry keywords, matched in one pass.
pub struct PhraseIndex {
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, what a hit means.
    hits: Vec<Vec<Hit>>,
    /// For each pattern: (needs a word boundary at the start, at the end).
    boundaries: Vec<(bool, bool)>,
    /// Per synonym group: its concept feature and its canonical term.
    concepts: Vec<(u64, String)>,
}

impl PhraseIndex {
    /// `groups` are synonym groups (first term canonical); `keywords` are (entry, phrase).
    pub fn new(groups: &[Vec<String>], keywords: &[(u32, String)]) -> PhraseIndex {
        let mut by_pattern: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut hits: Vec<Vec<Hit>> = Vec::new();
        let mut add = |term: &str, hit: Hit| {
            let term = normalize(term);
            if term.is_empty() {
                return;
            }
            let i = *by_pattern.entry(term.clone()).or_insert_with(|| {
                patterns.push(term);
                hits.push(Vec::new());
                patterns.len() - 1
            });
            if !hits[i].contains(&hit) {
                hits[i].push(hit);
            }
        };
        let mut concepts = Vec::new();
        for group in groups {
            let Some(canonical) = group.first() else {
                continue;
            };
            let canonical = normalize(canonical);
            let id = concepts.len() as u32;
            concepts.push((fnv(SEED_CONCEPT, canonical.as_bytes()), canonical));
            for term in group {
                add(term, Hit::Concept(id));
            }
        }
        for (entry, phrase) in keywords {
            add(phrase, Hit::Keyword(*entry));
        }
        let boundaries = patterns
            .iter()
            .map(|p| {
                let first = p.chars().next().is_some_and(needs_boundary);
                let last = p.chars().next_back().is_some_and(needs_boundary);
                (first, last)
            })
            .collect();
        let automaton = if patterns.is_empty() {
            None
        } else {
            // Patterns come from our own normalised strings; building only fails on
            // absurd sizes, in which case phrase hits are simply off.
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok()
        };
        PhraseIndex {
            automaton,
            hits,
            boundaries,
            concepts,
        }
    }

    /// Calls `f` for every hit in normalised `text`.
    fn scan(&self, text: &str, mut f: impl FnMut(Hit)) {
        let Some(ac) = &self.automaton else {
            return;
        };
        for m in ac.find_iter(text) {
            let i = m.pattern().as_usize();
            let (start_b, end_b) = self.boundaries[i];
            if start_b
                && text[..m.start()]
                    .chars()
                    .next_back()
                    .is_some_and(needs_boundary)
            {
                continue;
            }
            if end_b && !end_ok(&text[m.end()..]) {
                continue;
            }
            for hit in &self.hits[i] {
                f(*hit);
            }
        }
    }
}

/// Latin letters and digits glue into words; Han characters do not.
fn needs_boundary(c: char) -> bool {
    c.is_alphanumeric() && !is_han(c)
}

/// A term ends at a word boundary, or before a common English inflection (`refunds`).
fn end_ok(rest: &str) -> bool {
    let word_len = rest
        .char_indices()
        .find(|(_, c)| !needs_boundary(*c))
        .map_or(rest.len(), |(i, _)| i);
    matches!(&rest[..word_len], "" | "s" | "es" | "ed" | "d" | "ing")
}

/// Raw (hashed, unweighted) features of one text.
#[derive(Debug, Default, Clone)]
pub struct RawFeatures {
    pub word: Vec<u64>,
    pub chars: Vec<u64>,
    /// Entries whose keywords occur in the text.
    pub keyword_entries: Vec<u32>,
}

/// Extracts raw features; shared by training and matching so both see the same thing.
pub struct Extractor {
    stemmer: Stemmer,
    phrases: PhraseIndex,
    /// Per concept: its feature and the word features of its canonical term, emitted
    /// on any synonym hit so "money back" also reads as "refund".
    concept_words: Vec<Vec<u64>>,
}

impl Extractor {
    pub fn new(phrases: PhraseIndex) -> Extractor {
        let mut ex = Extractor {
            stemmer: Stemmer::default(),
            phrases,
            concept_words: Vec::new(),
        };
        let mut words = Vec::new();
        ex.concept_words = ex
            .phrases
            .concepts
            .iter()
            .map(|(hash, canonical)| {
                words.clear();
                ex.word_features(canonical, &mut words);
                let mut all = vec![*hash];
                all.extend(&words);
                all
            })
            .collect();
        ex
    }

    /// Word unigrams and bigrams (stemmed words, Han characters).
    fn word_features(&self, norm: &str, out: &mut Vec<u64>) {
        let mut prev: Option<u64> = None;
        for tok in tokens(norm) {
            let h = match tok {
                Token::Word(w) => fnv(SEED_WORD, self.stemmer.stem(w).as_bytes()),
                Token::Han(c) => fnv(SEED_WORD, c.as_bytes()),
            };
            out.push(h);
            if let Some(p) = prev {
                out.push(fnv_u32(SEED_BIGRAM ^ p, (h >> 32) as u32) ^ h);
            }
            prev = Some(h);
        }
    }

    /// Features of already normalised text (see [`super::normalize::normalize_capped`]).
    pub fn extract(&self, norm: &str, out: &mut RawFeatures) {
        out.word.clear();
        out.chars.clear();
        out.keyword_entries.clear();
        self.word_features(norm, &mut out.word);
        let mut buf: Vec<u32> = Vec::with_capacity(64);
        for run in word_runs(norm) {
            buf.clear();
            buf.push(u32::from(' '));
            buf.extend(run.chars().map(u32::from));
            buf.push(u32::from(' '));
            for start in 0..buf.len() {
                let mut h = SEED_CHAR;
                for (n, c) in buf[start..].iter().take(5).enumerate() {
                    h = fnv_u32(h, *c);
                    if n >= 1 {
                        out.chars.push(h);
                    }
                }
            }
        }
        let word = &mut out.word;
        let kw = &mut out.keyword_entries;
        let concept_words = &self.concept_words;
        self.phrases.scan(norm, |hit| match hit {
            Hit::Concept(c) => {
                if let Some(ws) = concept_words.get(c as usize) {
                    word.extend(ws);
                }
            }
            Hit::Keyword(e) => {
                if !kw.contains(&e) {
                    kw.push(e);
                }
            }
        });
        out.word.sort_unstable();
        out.chars.sort_unstable();
    }
}

/// Vocabulary and IDF learnt from the training phrasings.
pub struct FeatureSpace {
    index: PreHashedMap<u32>,
    idf: Vec<f32>,
    concept_hashes: PreHashedMap<()>,
}

impl FeatureSpace {
    /// Learn the vocabulary from `docs`; features seen in fewer than `min_df` documents
    /// are dropped (they cannot generalise and cost memory on large knowledge bases).
    ///
    /// `max_df` (a share of documents) drops features common to a large share of the
    /// phrasings: they say little and, on knowledge bases with thousands of entries,
    /// their weight lists would make every match walk thousands of classes.
    /// Synonym concepts are always kept.
    pub fn fit(
        docs: &[&RawFeatures],
        min_df: u32,
        max_df: Option<f32>,
        concepts: &[u64],
    ) -> FeatureSpace {
        let mut df: PreHashedMap<u32> = PreHashedMap::default();
        for d in docs {
            for list in [&d.word, &d.chars] {
                let mut last = None;
                for h in list.iter() {
                    if last != Some(*h) {
                        *df.entry(*h).or_insert(0) += 1;
                        last = Some(*h);
                    }
                }
            }
        }
        let n = docs.len() as f32;
        let max_count = max_df.map_or(u32::MAX, |r| ((r * n).ceil() as u32).max(min_df));
        let is_concept = |h: &u64| concepts.contains(h);
        let mut keys: Vec<(u64, u32)> = df
            .into_iter()
            .filter(|(h, c)| *c >= min_df && (*c <= max_count || is_concept(h)))
            .collect();
        keys.sort_unstable();
        let mut index = PreHashedMap::default();
        index.reserve(keys.len());
        let mut idf = Vec::with_capacity(keys.len());
        for (i, (h, c)) in keys.iter().enumerate() {
            index.insert(*h, i as u32);
            idf.push(((1.0 + n) / (1.0 + *c as f32)).ln() + 1.0);
        }
        let concept_hashes = concepts.iter().map(|c| (*c, ())).collect();
        FeatureSpace {
            index,
            idf,
            concept_hashes,
        }
    }

    pub fn len(&self) -> usize {
        self.idf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// Sublinear TF-IDF, each group (words, characters) L2-normalised on its own and
    /// scaled by 1/√2 so a text with both has unit norm.
    pub fn vectorize(&self, raw: &RawFeatures) -> SparseVec {
        self.vectorize_known(raw).0
    }

    /// The vector and the share of the text's distinct word features that the
    /// knowledge base has ever seen (low for messages about something else entirely).
    pub fn vectorize_known(&self, raw: &RawFeatures) -> (SparseVec, f32) {
        let mut out = SparseVec::with_capacity(raw.word.len() + raw.chars.len());
        let (known, distinct) = self.group(&raw.word, true, &mut out);
        self.group(&raw.chars, false, &mut out);
        out.sort_unstable_by_key(|(i, _)| *i);
        let share = if distinct == 0 {
            0.0
        } else {
            known as f32 / distinct as f32
        };
        (out, share)
    }

    /// Adds one group's weighted features; returns (known, distinct) feature counts.
    fn group(&self, sorted: &[u64], words: bool, out: &mut SparseVec) -> (usize, usize) {
        let start = out.len();
        let mut distinct = 0;
        let mut i = 0;
        while i < sorted.len() {
            let h = sorted[i];
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == h {
                j += 1;
            }
            distinct += 1;
            if let Some(idx) = self.index.get(&h) {
                let tf = 1.0 + ((j - i) as f32).ln();
                let mut v = tf * self.idf[*idx as usize];
                if words && self.concept_hashes.contains_key(&h) {
                    v *= CONCEPT_WEIGHT;
                }
                out.push((*idx, v));
            }
            i = j;
        }
        let norm: f32 = out[start..].iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            let scale = std::f32::consts::FRAC_1_SQRT_2 / norm;
            for (_, v) in &mut out[start..] {
                *v *= scale;
            }
        }
        (out.len() - start, distinct)
    }
}

/// Concept feature hashes of synonym groups (so they can be weighted up).
pub fn concept_hashes(groups: &[Vec<String>]) -> Vec<u64> {
    groups
        .iter()
        .filter_map(|g| g.first())
        .map(|c| fnv(SEED_CONCEPT, normalize(c).as_bytes()))
        .collect()
}

/// Dot product of two sorted sparse vectors.
pub fn dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<Vec<String>> {
        vec![vec!["refund".into(), "money back".into(), "退钱".into()]]
    }

    #[test]
    fn synonyms_share_a_concept() {
        let ex = Extractor::new(PhraseIndex::new(&groups(), &[(7, "tracking".into())]));
        let mut a = RawFeatures::default();
        let mut b = RawFeatures::default();
        ex.extract("i want my money back", &mut a);
        ex.extract("我要退钱", &mut b);
        let concept = concept_hashes(&groups())[0];
        assert!(a.word.contains(&concept));
        assert!(b.word.contains(&concept));
        ex.extract("where is the tracking number", &mut a);
        assert_eq!(a.keyword_entries, vec![7]);
        ex.extract("prefund", &mut a);
        assert!(!a.word.contains(&concept), "no hit inside another word");
        ex.extract("two refunds", &mut a);
        assert!(a.word.contains(&concept), "plural still hits");
    }

    #[test]
    fn vectors_are_unit_length() {
        let ex = Extractor::new(PhraseIndex::new(&[], &[]));
        let mut a = RawFeatures::default();
        ex.extract("cancel my order please", &mut a);
        let space = FeatureSpace::fit(&[&a], 1, None, &[]);
        let v = space.vectorize(&a);
        let n: f32 = v.iter().map(|(_, x)| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4, "{n}");
        assert!((dot(&v, &v) - 1.0).abs() < 1e-4);
    }
}
