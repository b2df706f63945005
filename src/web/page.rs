//! The pages' frame: one small stylesheet inline (no CDN, works offline) and the console's
//! navigation with the logout form.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::auth::Operator;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.5em 1em;display:flex;gap:1em;align-items:center}
header a{color:#fff}header form{margin-left:auto}
main{padding:1em;max-width:1180px;margin:auto}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.problem{color:#a00}.muted{color:#6b7280}.figure{font-size:1.7em;font-weight:650;line-height:1.3}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:.8em;margin:.8em 0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:.7em .8em;font-size:.92em}
.card>div.muted:last-child{font-size:.88em}.card.ringed{position:relative}.card.ringed svg.ring{position:absolute;top:.6em;right:.6em}
.titlebar{display:flex;align-items:baseline;gap:1em;flex-wrap:wrap}.titlebar h1{margin:.4em 0 .1em}
.periods{display:inline-flex;border:1px solid #c5ccd6;border-radius:6px;overflow:hidden;background:#fff}
.periods a,.periods strong{padding:.25em .9em;text-decoration:none;color:#1f3a5f;border-right:1px solid #c5ccd6}
.periods>:last-child{border-right:0}.periods strong{background:#1f3a5f;color:#fff}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(470px,1fr));gap:1em}
.panel{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:.6em 1em .8em}
.panel.wide{grid-column:1/-1}.panel h2{font-size:1.05em;margin:.2em 0 .5em}
.panel table td,.panel table th{font-size:.9em}
.note{color:#6b7280;font-size:.85em;margin:.4em 0 0}
svg.chart{display:block;width:100%;height:auto;font-family:inherit}
svg.chart text{font-size:12px;fill:#4b5563}svg.chart text.label{font-size:13px;fill:#1f2937;font-weight:600}
svg.chart text.value{font-size:12px;fill:#111827;font-weight:600}svg.chart text.small{font-size:11px;fill:#6b7280}
svg.chart text.tick{font-size:11px;fill:#6b7280}svg.chart text.axis{font-size:11px;fill:#6b7280;font-style:italic}
svg.chart text.sla{font-size:11px;fill:#d64545;font-weight:600}svg.chart text.legend{font-size:11.5px;fill:#374151}
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
