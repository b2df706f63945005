//! The pages' frame: one small stylesheet inline (no CDN, works offline) and the console's
//! navigation with the logout form.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::auth::Operator;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.5em 1em;display:flex;gap:1em;align-items:center}
header a{color:#fff}header form{margin-left:auto}
main{padding:1em;max-width:1100px;margin:auto}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.problem{color:#a00}.muted{color:#777}.figure{font-size:1.6em;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:1em}.card{background:#fff;border:1px solid #ddd;padding:.7em;min-width:12em}
.msg{background:#fff;border:1px solid #ddd;margin:.4em 0;padding:.4em;white-space:pre-wrap}
.msg.inbound{border-left:4px solid #3a7}.msg.outbound{border-left:4px solid #37a}.msg.internal{border-left:4px solid #a83;background:#fffbe8}
form.inline{display:inline}label{display:block;margin:.3em 0}
";

/// A whole page; `operator` adds the console's navigation.
pub fn layout(title: &str, operator: Option<&Operator>, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · frontdesk" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                @if let Some(op) = operator {
                    header {
                        strong { "frontdesk" }
                        a href="/console" { "Overview" }
                        a href="/console/tickets" { "Tickets" }
                        a href="/console/faq" { "FAQ insights" }
                        span.muted { (op.name) }
                        form method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(op.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(page.into_string())
}
