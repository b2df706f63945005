//! Masks personal data in log lines (SPEC §7): e-mail addresses, phone numbers, payment
//! card numbers and (Chinese) resident ID numbers become `[email]`, `[phone]`, `[card]`,
//! `[id]`. frontdesk logs no message text at info level; this catches what still slips
//! into a line — an error that quotes a platform's reply, a debug line, a library's
//! warning.
//!
//! Tuned not to mask the numbers operators need to read: ticket numbers, chat, user and
//! update ids (Telegram ids are at most 13 digits, Discord snowflakes 17–19 digits without
//! separators), unix-millisecond times (13 digits). So a contiguous digit run counts as a
//! card only with 15 or 16 digits and a valid Luhn check digit, as an ID only with 18
//! characters, a plausible birth date and a valid ISO 7064 check character, and as a phone
//! only with a leading `+`, as a Chinese mobile number (11 digits, `1[3-9]…`), or written
//! with separators.
//!
//! [`Masked`] wraps the log writer, so every line of every crate passes through it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::LazyLock;

use regex::{Captures, Regex};
use tracing_subscriber::fmt::MakeWriter;

/// Word boundaries are ASCII ones, so a number right after Chinese text (`手机13800138000`)
/// is still found.
static PERSONAL: LazyLock<Regex> = LazyLock::new(|| {
    let email = r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})";
    // Digits with single spaces or dashes between them (card numbers as people type them).
    let grouped = r"(?P<grouped>(?-u:\b)[0-9]{2,6}(?:[ -][0-9]{2,6}){2,5}(?-u:\b))";
    let id = r"(?P<id>(?-u:\b)[0-9]{17}[[0-9]Xx](?-u:\b))";
    let digits = r"(?P<digits>(?-u:\b)[0-9]{11,19}(?-u:\b))";
    let international = r"(?P<intl>\+[0-9][[0-9] ().-]{6,20}[0-9])";
    let local = r"(?P<local>\([0-9]{2,5}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}(?-u:\b)|(?-u:\b)0[0-9]{1,4}[ /-][0-9]{3,8}(?:[ -][0-9]{2,5})?(?-u:\b))";
    Regex::new(&[email, international, local, id, grouped, digits].join("|"))
        .unwrap_or_else(|e| unreachable!("the patterns are fixed: {e}"))
});

/// `text` with its personal data masked (borrowed when there is none).
pub fn mask(text: &str) -> Cow<'_, str> {
    PERSONAL.replace_all(text, |c: &Captures| replacement(c).to_string())
}

fn replacement<'a>(c: &'a Captures) -> &'a str {
    let whole = c.get(0).map_or("", |m| m.as_str());
    if c.name("email").is_some() {
        return "[email]";
    }
    if c.name("intl").is_some() || c.name("local").is_some() {
        return "[phone]";
    }
    if c.name("id").is_some() {
        return if resident_id(whole) { "[id]" } else { whole };
    }
    let digits: String = whole.chars().filter(char::is_ascii_digit).collect();
    if c.name("grouped").is_some() {
        return match digits.len() {
            _ if is_date(whole) => whole,
            13..=19 if luhn(&digits) => "[card]",
            10..=15 => "[phone]",
            _ => whole,
        };
    }
    // A contiguous run of 11–19 digits.
    match digits.len() {
        15 | 16 if luhn(&digits) => "[card]",
        11 if digits.as_bytes()[1].wrapping_sub(b'3') <= 6 && digits.starts_with('1') => "[phone]",
        _ => whole,
    }
}

/// Starts like a date, `YYYY-MM-DD` (a date and time written with a space).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && (text.starts_with("19") || text.starts_with("20"))
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The Luhn check of a card number.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// An 18-character resident ID (GB 11643): a birth date at characters 7–14 and the
/// ISO 7064 MOD 11-2 check character last.
fn resident_id(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let number = |range: std::ops::Range<usize>| {
        id.get(range)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (number(6..10), number(10..12), number(12..14));
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

/// A log writer that masks each line before it reaches `M`'s writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Masked<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masked<M> {
    type Writer = MaskedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedWriter {
            inner: self.0.make_writer(),
            line: Vec::new(),
        }
    }
}

/// Collects one formatted event and writes it masked when flushed or dropped.
pub struct MaskedWriter<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> MaskedWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.line);
        let result = self.inner.write_all(mask(&text).as_bytes());
        self.line.clear();
        result
    }
}

impl<W: Write> Write for MaskedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for MaskedWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked() {
        for (line, masked) in [
            ("mail ana.li+shop@example.co.uk now", "mail [email] now"),
            ("call +49 170 1234567 today", "call [phone] today"),
            ("call +86 138-0013-8000", "call [phone]"),
            ("手机 13800138000 谢谢", "手机 [phone] 谢谢"),
            ("我的手机13800138000", "我的手机[phone]"),
            ("US (555) 123-4567", "US [phone]"),
            ("Berlin 030 12345678", "Berlin [phone]"),
            ("card 4111 1111 1111 1111 exp", "card [card] exp"),
            ("card 4111-1111-1111-1111", "card [card]"),
            ("card 4111111111111111", "card [card]"),
            ("amex 378282246310005", "amex [card]"),
            ("id 11010519491231002X ok", "id [id] ok"),
            ("id 110105194912310021 ok", "id 110105194912310021 ok"),
        ] {
            assert_eq!(mask(line), masked, "{line}");
        }
    }

    #[test]
    fn the_numbers_operators_read_stay() {
        for line in [
            "ticket=#1234 chat=-1001234567890 user=7012345678 update=912345678",
            "discord channel=1187654321098765432 guild=987654321098765432",
            "at=1700000000123 took 1.25 s, 429 after 30 s",
            "2026-12-06T02:57:08.123456Z  INFO frontdesk: outbox delivered id=42",
            "version 0.17.0, sqlx 0.8.6, 127.0.0.1:8080",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "at 2026-12-06 02:57:08 UTC, ids 123 456 789",
            // Luhn-invalid 16 digits, an 11-digit number not a Chinese mobile.
            "4111111111111112 and 12345678901",
        ] {
            assert_eq!(mask(line), line);
        }
    }

    #[test]
    fn the_writer_masks_each_event_it_is_given() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Masked(move || out.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                error = "rejected: ana@example.com",
                "delivery failed for ticket 7"
            );
        });
        let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("error=\"rejected: [email]\""), "{logged}");
        assert!(logged.contains("ticket 7"), "{logged}");
        assert!(!logged.contains("ana@"), "{logged}");
    }
}
