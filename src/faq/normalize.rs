//! Text normalisation and tokenisation for the matcher.
//!
//! Owns the one canonical form every comparison uses: NFKC (which also folds
//! full-width forms to half-width), lower case, no control characters, single
//! spaces, and Chinese in simplified characters (customers from Hong Kong and Taiwan
//! write traditional ones; knowledge bases and rules are written in simplified). Also
//! splits normalised text into word tokens (stemmed English words, single Han
//! characters). Pure functions only: no I/O; the one piece of state is the
//! traditional → simplified table, built once and never changed.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use crate::domain::is_han;

/// The most characters of a message the matcher looks at. Longer messages are cut
/// here so a 100 KB paste costs the same as a long paragraph.
pub const MAX_CHARS: usize = 2000;

/// Canonical form of `text`: controls removed, NFKC, lower case, whitespace collapsed
/// and trimmed, traditional Chinese characters folded to simplified. Idempotent:
/// `normalize(&normalize(x)) == normalize(x)`.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        // ASCII is already NFKC; this fast path is most English traffic.
        let mut out = String::with_capacity(text.len());
        for word in text.split(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
            if word.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        }
        return out;
    }
    // Controls become spaces *before* NFKC: removing one between a letter and a
    // combining mark afterwards would let them compose later and break idempotence.
    let mut current: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // NFKC and lower-casing can each undo the other on rare characters (`㎒` → `MHz`),
    // so iterate to a fixed point; it is reached in one or two rounds in practice.
    for _ in 0..4 {
        let next: String = current.nfkc().collect::<String>().to_lowercase();
        if next == current {
            break;
        }
        current = next;
    }
    let mut out = String::with_capacity(current.len());
    for word in current.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().any(|c| simplified_char(c) != c) {
        out = out.chars().map(simplified_char).collect();
    }
    out
}

/// The simplified form of one character (門 → 门, 帳 → 账); others unchanged.
///
/// The table of `simplet2s` (which also reads a character's neighbours for a few
/// one-to-many cases a matcher need not tell apart), looked up once per character of
/// the CJK blocks into a flat array on first use, so normalising costs an index per
/// character instead of several hash lookups.
fn simplified_char(c: char) -> char {
    const FIRST: u32 = 0x3400;
    const LAST: u32 = 0x9FFF;
    static TABLE: OnceLock<Vec<char>> = OnceLock::new();
    let code = u32::from(c);
    if !(FIRST..=LAST).contains(&code) {
        return c;
    }
    let table = TABLE.get_or_init(|| {
        (FIRST..=LAST)
            .map(|u| {
                let Some(t) = char::from_u32(u) else {
                    return '\0';
                };
                let mut buf = [0u8; 4];
                let s = simplet2s::convert(t.encode_utf8(&mut buf));
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    // The converter writes 帐, a simplified variant; 账 is what rules
                    // and knowledge bases write for "account" and "bill".
                    (Some('帐'), None) => '账',
                    (Some(one), None) => one,
                    _ => t,
                }
            })
            .collect()
    });
    table.get((code - FIRST) as usize).copied().unwrap_or(c)
}

/// Normalise at most [`MAX_CHARS`] characters of `text`.
pub fn normalize_capped(text: &str) -> String {
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => normalize(&text[..cut]),
        None => normalize(text),
    }
}

/// A piece of normalised text the matcher treats as one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A run of letters/digits that are not Han characters (English words, numbers).
    Word(&'a str),
    /// One Han character: Chinese has no spaces, so characters (and their bigrams)
    /// play the role of words.
    Han(&'a str),
}

/// Whether `c` belongs to a word (letters and digits of any script).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Split normalised text into word tokens; punctuation, spaces and emoji separate them.
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_han(c) {
            if let Some(s) = start.take() {
                out.push(Token::Word(&text[s..i]));
            }
            out.push(Token::Han(&text[i..i + c.len_utf8()]));
        } else if is_word_char(c) {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push(Token::Word(&text[s..i]));
        }
    }
    if let Some(s) = start {
        out.push(Token::Word(&text[s..]));
    }
    out
}

/// Maximal runs of word characters (Han included), for character n-grams.
pub fn word_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c))
        .filter(|s| !s.is_empty())
}

/// English light stemmer (Porter 2 / Snowball), shared by every matcher.
pub struct Stemmer(rust_stemmers::Stemmer);

impl Default for Stemmer {
    fn default() -> Self {
        Stemmer(rust_stemmers::Stemmer::create(
            rust_stemmers::Algorithm::English,
        ))
    }
}

impl Stemmer {
    /// Stem one lower-case word; words with digits or non-ASCII letters stay as they are.
    pub fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        if word.len() > 3 && word.bytes().all(|b| b.is_ascii_lowercase()) {
            self.0.stem(word)
        } else {
            std::borrow::Cow::Borrowed(word)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_case_fold() {
        assert_eq!(normalize("ＲＥＦＵＮＤ"), "refund");
        assert_eq!(normalize("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(normalize("退款？"), "退款?");
    }

    #[test]
    fn traditional_chinese_reads_as_simplified() {
        assert_eq!(normalize("我的帳號被盜了"), "我的账号被盗了");
        assert_eq!(normalize("門鈴離線，請問怎麼辦"), "门铃离线,请问怎么办");
        let simple = "退款还没到账，我的账号被盗了";
        assert_eq!(normalize(simple), normalize(&normalize(simple)));
        assert_eq!(normalize(simple), "退款还没到账,我的账号被盗了");
    }

    #[test]
    fn controls_removed() {
        assert_eq!(normalize("re\u{0}fund\u{7}"), "re fund");
        assert_eq!(normalize("\u{1b}[31mred"), "[31mred");
    }

    #[test]
    fn tokens_split_han_and_words() {
        let t = tokens("我要refund 2 次!");
        assert_eq!(
            t,
            vec![
                Token::Han("我"),
                Token::Han("要"),
                Token::Word("refund"),
                Token::Word("2"),
                Token::Han("次"),
            ]
        );
    }

    #[test]
    fn stemming_is_light() {
        let s = Stemmer::default();
        assert_eq!(s.stem("refunds"), "refund");
        assert_eq!(s.stem("charged"), "charg");
        assert_eq!(s.stem("a1b2"), "a1b2");
    }
}
