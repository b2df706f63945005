//! Telegram text rules: the one HTML escaping function and splitting at the 4,096 limit.
//!
//! Pure string work. Every text the service hands the transport is plain text (customer
//! words included), so all of it goes through [`escape_html`]; nothing else in the adapter
//! builds markup by hand.

/// Longest message text Telegram accepts (counted in UTF-16 code units after entity
/// parsing; we count before escaping, which is what the customer sees).
pub const MESSAGE_LIMIT: usize = 4096;

/// Escapes text for `parse_mode=HTML`: the only three characters Telegram's HTML parser
/// treats specially outside tags are `&`, `<` and `>`.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Length as Telegram counts it (UTF-16 code units: an emoji can count twice).
pub fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Splits `text` into parts of at most `limit` UTF-16 units: at paragraph breaks
/// (blank lines) where possible, else at line breaks, else at spaces, else anywhere (never
/// inside a character). Parts are trimmed of the separators they were cut at; empty
/// parts are dropped, so an empty text gives no parts.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(2);
    let mut parts = Vec::new();
    let mut rest = text.trim_matches('\n');
    while !rest.is_empty() {
        if telegram_len(rest) <= limit {
            parts.push(rest.to_string());
            break;
        }
        let window_end = byte_index_at_units(rest, limit);
        let window = &rest[..window_end];
        // Prefer the last paragraph break, then line break, then space inside the window;
        // a cut at position 0 would make no progress, so it does not count.
        let cut = ["\n\n", "\n", " "].iter().find_map(|sep| {
            let at = if rest[window_end..].starts_with(sep) {
                Some(window_end)
            } else {
                window.rfind(sep).filter(|&at| at > 0)
            };
            at.map(|at| (at, sep.len()))
        });
        let (head, tail) = match cut {
            Some((at, sep_len)) => (&rest[..at], &rest[at + sep_len..]),
            None => (window, &rest[window_end..]),
        };
        let head = head.trim_end();
        if !head.is_empty() {
            parts.push(head.to_string());
        }
        rest = tail.trim_start_matches(['\n', ' ']);
    }
    parts
}

/// Byte index of the longest prefix of `text` that fits in `units` UTF-16 units.
fn byte_index_at_units(text: &str, units: usize) -> usize {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > units {
            return i;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three_html_specials_and_nothing_else() {
        assert_eq!(
            escape_html("a < b && c > d \"q\" 'x' 你好"),
            "a &lt; b &amp;&amp; c &gt; d \"q\" 'x' 你好"
        );
        assert_eq!(escape_html("<b>bold</b>"), "&lt;b&gt;bold&lt;/b&gt;");
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("hello", MESSAGE_LIMIT), vec!["hello"]);
        assert!(split_text("", MESSAGE_LIMIT).is_empty());
    }

    #[test]
    fn splits_at_paragraphs_first() {
        let a = "a".repeat(30);
        let b = "b".repeat(30);
        let c = "c".repeat(30);
        let text = format!("{a}\n{a}\n\n{b}\n\n{c}");
        let parts = split_text(&text, 70);
        assert_eq!(parts, vec![format!("{a}\n{a}"), format!("{b}\n\n{c}")]);
        let parts = split_text(&text, 61);
        assert_eq!(parts, vec![format!("{a}\n{a}"), b.clone(), c.clone()]);
    }

    #[test]
    fn falls_back_to_lines_then_spaces_then_hard() {
        let line = "x".repeat(40);
        let parts = split_text(&format!("{line}\n{line}"), 50);
        assert_eq!(parts, vec![line.clone(), line.clone()]);

        let parts = split_text("aaaa bbbb cccc", 9);
        assert_eq!(parts, vec!["aaaa bbbb", "cccc"]);
        let parts = split_text("aaaa bbbb cccc", 8);
        assert_eq!(parts, vec!["aaaa", "bbbb", "cccc"]);

        let parts = split_text(&"z".repeat(25), 10);
        assert_eq!(parts, vec!["z".repeat(10), "z".repeat(10), "z".repeat(5)]);
    }

    #[test]
    fn never_exceeds_the_limit_and_keeps_all_words() {
        let text: String = (0..3000)
            .map(|i| match i % 50 {
                0 => "\n\n".to_string(),
                7 => "\n".to_string(),
                _ => format!("w{i}😀 "),
            })
            .collect();
        let parts = split_text(&text, MESSAGE_LIMIT);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(telegram_len(p) <= MESSAGE_LIMIT, "{}", telegram_len(p));
        }
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&parts.join(" ")), words(&text));
    }

    #[test]
    fn counts_utf16_units_and_never_cuts_a_character() {
        let text = "😀".repeat(10); // 20 UTF-16 units
        let parts = split_text(&text, 5);
        assert!(parts.iter().all(|p| telegram_len(p) <= 5));
        assert_eq!(parts.concat(), text);
        let zh = "你好".repeat(3000);
        let parts = split_text(&zh, MESSAGE_LIMIT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), zh);
    }
}
