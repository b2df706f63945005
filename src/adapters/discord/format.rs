//! Discord text rules: markdown escaping and splitting at the 2,000-character limit.
//!
//! Pure string work. Every text the service hands the transport is plain text (customer
//! words included), so all of it is escaped here; nothing else in the adapter builds
//! markdown by hand. Mentions are not escaped but disarmed: every message is sent with
//! `allowed_mentions` empty, so `@everyone` in a customer's words pings nobody.

/// Longest message content Discord accepts.
pub const MESSAGE_LIMIT: usize = 2000;
/// Longest embed description (the ticket card).
pub const EMBED_LIMIT: usize = 4096;

/// Backslash-escapes Discord markdown: emphasis, code, spoilers, strike-through and masked
/// links anywhere; quotes, headings and list markers at the start of a line.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut line_start = true;
    for c in text.chars() {
        let special = match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' => true,
            '>' | '#' | '-' => line_start,
            _ => false,
        };
        if special {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c == ' ');
    }
    out
}

/// Splits plain `text` into escaped parts that each fit `limit`: split first (at
/// paragraphs, lines, spaces), then escape; a part that escaping pushed over the limit is
/// split again finer, so an escape is never cut from the character it protects.
pub fn split_escaped(text: &str, limit: usize) -> Vec<String> {
    split_escaped_at(text, limit, limit)
}

/// Splits at `cut` characters, escapes, and halves `cut` for any part still over `limit`
/// (escaping at most doubles a text, so this ends by `limit / 2`).
fn split_escaped_at(text: &str, cut: usize, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    for part in split_text(text, cut) {
        let escaped = escape_markdown(&part);
        if discord_len(&escaped) <= limit || cut <= 2 {
            parts.push(escaped);
        } else {
            parts.extend(split_escaped_at(&part, (cut / 2).max(2), limit));
        }
    }
    parts
}

/// Length as counted against the limit (UTF-16 units: never less than Discord's count).
pub fn discord_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The same splitting rules as the Telegram channel (paragraph, line, space, hard cut).
pub use crate::adapters::telegram::format::split_text;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped_and_plain_text_left_alone() {
        assert_eq!(
            escape_markdown("**bold** _x_ `c`"),
            "\\*\\*bold\\*\\* \\_x\\_ \\`c\\`"
        );
        assert_eq!(
            escape_markdown("> quote\n# head\n- item"),
            "\\> quote\n\\# head\n\\- item"
        );
        assert_eq!(escape_markdown("ticket #12 - a > b"), "ticket #12 - a > b");
        assert_eq!(
            escape_markdown("||spoiler|| [x](y)"),
            "\\|\\|spoiler\\|\\| \\[x\\](y)"
        );
        assert_eq!(escape_markdown("你好 @everyone"), "你好 @everyone");
    }

    #[test]
    fn parts_fit_the_limit_after_escaping() {
        let text = "*".repeat(3000);
        let parts = split_escaped(&text, MESSAGE_LIMIT);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| discord_len(p) <= MESSAGE_LIMIT));
        assert_eq!(parts.concat().replace('\\', ""), text);
        let words = "word ".repeat(1000);
        let parts = split_escaped(&words, MESSAGE_LIMIT);
        assert_eq!(parts.len(), 3);
        assert!(split_escaped("", MESSAGE_LIMIT).is_empty());
    }
}
