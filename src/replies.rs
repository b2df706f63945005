//! What the bot says to customers, in English and Chinese.
//!
//! Pure text building: no I/O, no platform markup (adapters escape and format). Button
//! payloads are built and parsed here too, so the words on a button and what it does
//! stay in one place.

use crate::domain::{Button, Language, Priority, Ticket, TicketNo, TicketState, Timestamp};
use crate::faq::Topic;

/// What a button press asks for. Encoded in the button's `data` (≤ 64 bytes for Telegram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    /// "That helped" after an FAQ answer.
    Helped(String),
    /// A "did you mean" suggestion or a topic's question: show that entry.
    ShowFaq(String),
    /// "Talk to a person", optionally after an FAQ entry that did not help.
    Human(Option<String>),
    /// Show the questions of a topic.
    Topic(String),
    Status,
    /// "Solved" under a solution: the customer confirms, the ticket closes.
    Solved(TicketNo),
    /// "Not solved" under a solution: the ticket goes back to its agent.
    NotSolved(TicketNo),
    /// A 1–5 satisfaction rating of a closed ticket.
    Rate(TicketNo, u8),
    /// "That helped" under the "meanwhile" answer of a new ticket: recorded, and the
    /// customer is offered to close the ticket (never closed by the press alone).
    MeanwhileHelped(TicketNo, String),
    /// "Yes, close it": the customer closes their own open ticket.
    CloseTicket(TicketNo),
    /// "No, keep it open".
    KeepTicket(TicketNo),
}

impl ButtonAction {
    pub fn encode(&self) -> String {
        match self {
            ButtonAction::Helped(id) => format!("helped:{id}"),
            ButtonAction::ShowFaq(id) => format!("faq:{id}"),
            ButtonAction::Human(Some(id)) => format!("human:{id}"),
            ButtonAction::Human(None) => "human".into(),
            ButtonAction::Topic(id) => format!("topic:{id}"),
            ButtonAction::Status => "status".into(),
            ButtonAction::Solved(no) => format!("solved:{}", no.0),
            ButtonAction::NotSolved(no) => format!("notsolved:{}", no.0),
            ButtonAction::Rate(no, score) => format!("rate:{}:{score}", no.0),
            ButtonAction::MeanwhileHelped(no, id) => format!("mhelped:{}:{id}", no.0),
            ButtonAction::CloseTicket(no) => format!("close:{}", no.0),
            ButtonAction::KeepTicket(no) => format!("keep:{}", no.0),
        }
    }

    /// Parses a payload that came back from a platform; unknown payloads are `None`.
    pub fn decode(data: &str) -> Option<ButtonAction> {
        let (kind, arg) = data
            .split_once(':')
            .map_or((data, None), |(k, a)| (k, Some(a.to_string())));
        match (kind, arg) {
            ("helped", Some(id)) => Some(ButtonAction::Helped(id)),
            ("faq", Some(id)) => Some(ButtonAction::ShowFaq(id)),
            ("human", id) => Some(ButtonAction::Human(id)),
            ("topic", Some(id)) => Some(ButtonAction::Topic(id)),
            ("status", None) => Some(ButtonAction::Status),
            ("solved", Some(no)) => ticket_arg(&no).map(ButtonAction::Solved),
            ("notsolved", Some(no)) => ticket_arg(&no).map(ButtonAction::NotSolved),
            ("mhelped", Some(arg)) => {
                let (no, id) = arg.split_once(':')?;
                Some(ButtonAction::MeanwhileHelped(
                    ticket_arg(no)?,
                    id.to_string(),
                ))
            }
            ("close", Some(no)) => ticket_arg(&no).map(ButtonAction::CloseTicket),
            ("keep", Some(no)) => ticket_arg(&no).map(ButtonAction::KeepTicket),
            ("rate", Some(arg)) => {
                let (no, score) = arg.split_once(':')?;
                let score = score.parse::<u8>().ok().filter(|s| (1..=5).contains(s))?;
                Some(ButtonAction::Rate(ticket_arg(no)?, score))
            }
            _ => None,
        }
    }

    pub fn button(&self, label: impl Into<String>) -> Button {
        Button {
            label: label.into(),
            data: self.encode(),
        }
    }
}

/// A ticket number in a payload: digits only (no `#`), positive.
fn ticket_arg(text: &str) -> Option<TicketNo> {
    text.parse::<i64>().ok().filter(|n| *n > 0).map(TicketNo)
}

fn pick(language: Language, en: &'static str, zh: &'static str) -> &'static str {
    match language {
        Language::En => en,
        Language::Zh => zh,
    }
}

pub fn talk_to_person_label(language: Language) -> &'static str {
    pick(language, "Talk to a person", "转人工")
}

pub fn helped_label(language: Language) -> &'static str {
    pick(language, "That helped", "有帮助")
}

pub fn status_label(language: Language) -> &'static str {
    pick(language, "My tickets", "我的工单")
}

/// Buttons under an FAQ answer.
pub fn answer_buttons(language: Language, entry_id: &str) -> Vec<Vec<Button>> {
    vec![vec![
        ButtonAction::Helped(entry_id.to_string()).button(helped_label(language)),
        ButtonAction::Human(Some(entry_id.to_string())).button(talk_to_person_label(language)),
    ]]
}

/// Greeting / help text with the menu.
pub fn menu_text(language: Language, greeting: bool) -> String {
    let head = if greeting {
        pick(
            language,
            "Hello! I'm the support assistant.",
            "您好！我是客服助手。",
        )
    } else {
        pick(language, "How can I help?", "请问有什么可以帮您？")
    };
    let body = pick(
        language,
        "Ask me a question in your own words, pick a topic below, send /status to see your tickets, or /human to talk to a person.",
        "直接用您自己的话提问，或选择下面的主题；发送 /status 查看您的工单，发送 /human 转人工客服。",
    );
    format!("{head}\n{body}")
}

/// Menu buttons: topics (two per row), then status and "talk to a person".
pub fn menu_buttons(language: Language, topics: &[Topic]) -> Vec<Vec<Button>> {
    let mut rows: Vec<Vec<Button>> = topics
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .map(|t| {
                    let title = match language {
                        Language::En => &t.title_en,
                        Language::Zh => &t.title_zh,
                    };
                    ButtonAction::Topic(t.id.clone()).button(title.clone())
                })
                .collect()
        })
        .collect();
    rows.push(vec![
        ButtonAction::Status.button(status_label(language)),
        ButtonAction::Human(None).button(talk_to_person_label(language)),
    ]);
    rows
}

pub fn thanks_reply(language: Language) -> &'static str {
    pick(
        language,
        "You're welcome! Anything else I can help with?",
        "不客气！还有其他可以帮您的吗？",
    )
}

pub fn goodbye_reply(language: Language) -> &'static str {
    pick(
        language,
        "Goodbye! Write any time if you need help.",
        "再见！如需帮助，随时给我们留言。",
    )
}

pub fn glad_it_helped(language: Language) -> &'static str {
    pick(
        language,
        "Great, glad that helped!",
        "太好了，很高兴能帮到您！",
    )
}

pub fn did_you_mean(language: Language) -> &'static str {
    pick(
        language,
        "I'm not sure I understood. Did you mean one of these?",
        "我不太确定您的意思，您是想问以下问题吗？",
    )
}

pub fn topic_intro(language: Language, title: &str) -> String {
    match language {
        Language::En => format!("{title} — choose a question:"),
        Language::Zh => format!("{title} — 请选择问题："),
    }
}

pub fn empty_message(language: Language) -> &'static str {
    pick(
        language,
        "I received an empty message. Please write your question in words.",
        "收到的是空消息，请用文字描述您的问题。",
    )
}

pub fn unknown_button(language: Language) -> &'static str {
    pick(
        language,
        "That button is no longer available. Please ask again.",
        "该按钮已失效，请重新提问。",
    )
}

/// Acknowledgement when a ticket is created.
pub fn ticket_created(
    language: Language,
    no: TicketNo,
    priority: Priority,
    first_response: &str,
    complaint: bool,
) -> String {
    let mut text = String::new();
    if complaint {
        text.push_str(pick(
            language,
            "We're sorry about your experience — thank you for telling us. ",
            "非常抱歉给您带来不好的体验，感谢您告诉我们。",
        ));
    }
    match language {
        Language::En => text.push_str(&format!(
            "I've passed this to our team as ticket {no} (priority {}). A person will reply within {first_response}. \
             You can add details or files here at any time; /status shows your tickets.",
            priority.label()
        )),
        Language::Zh => text.push_str(&format!(
            "已为您转交人工客服，工单号 {no}（优先级 {}）。客服将在 {first_response} 内回复您。\
             您可以随时在这里补充说明或发送文件；发送 /status 查看工单。",
            priority.label()
        )),
    }
    text
}

/// A new ticket's acknowledgement with an FAQ answer that may help while the customer
/// waits for a person.
pub fn ticket_created_meanwhile(language: Language, ack: &str, answer: &str) -> String {
    let intro = pick(
        language,
        "Meanwhile, this may help:",
        "在等待期间，以下信息或许能帮到您：",
    );
    format!("{ack}\n\n{intro}\n{}", answer.trim())
}

/// The button under a "meanwhile" answer.
pub fn meanwhile_buttons(language: Language, no: TicketNo, entry_id: &str) -> Vec<Vec<Button>> {
    vec![vec![ButtonAction::MeanwhileHelped(
        no,
        entry_id.to_string(),
    )
    .button(helped_label(language))]]
}

/// After "That helped" under a "meanwhile" answer: close the ticket?
pub fn offer_to_close(language: Language, no: TicketNo) -> (String, Vec<Vec<Button>>) {
    let text = match language {
        Language::En => {
            format!("Glad it helped! Shall I close ticket {no}? If not, a person will still reply.")
        }
        Language::Zh => {
            format!("很高兴能帮到您！需要关闭工单 {no} 吗？如果不关闭，人工客服仍会回复您。")
        }
    };
    let buttons = vec![vec![
        ButtonAction::CloseTicket(no).button(pick(language, "Yes, close it", "关闭工单")),
        ButtonAction::KeepTicket(no).button(pick(language, "No, keep it open", "保留工单")),
    ]];
    (text, buttons)
}

pub fn closed_by_customer(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Ticket {no} is closed. Write here any time if you need us again."),
        Language::Zh => format!("工单 {no} 已关闭。如需帮助，随时在这里留言。"),
    }
}

pub fn kept_open(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Ticket {no} stays open; a person will reply."),
        Language::Zh => format!("工单 {no} 保持打开，人工客服会回复您。"),
    }
}

pub fn cannot_close(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Ticket {no} is not open any more."),
        Language::Zh => format!("工单 {no} 已不再处于打开状态。"),
    }
}

/// Acknowledgement of a follow-up added to an existing ticket.
pub fn added_to_ticket(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Added to your ticket {no}."),
        Language::Zh => format!("已补充到您的工单 {no}。"),
    }
}

pub fn state_name(language: Language, state: TicketState) -> &'static str {
    match state {
        TicketState::New => pick(language, "waiting for an agent", "等待客服接单"),
        TicketState::Open => pick(language, "in progress", "处理中"),
        TicketState::WaitingOnCustomer => pick(language, "waiting for your reply", "等待您的回复"),
        TicketState::Resolved => pick(language, "resolved — please confirm", "已解决，待您确认"),
        TicketState::Closed => pick(language, "closed", "已关闭"),
    }
}

fn next_step(language: Language, state: TicketState) -> &'static str {
    match state {
        TicketState::New => pick(language, "an agent will pick it up", "客服即将接单"),
        TicketState::Open => pick(language, "our agent is working on it", "客服正在处理"),
        TicketState::WaitingOnCustomer => pick(
            language,
            "please answer the agent's question",
            "请回复客服的问题",
        ),
        TicketState::Resolved => pick(
            language,
            "tell us if it is solved",
            "请告诉我们问题是否已解决",
        ),
        TicketState::Closed => pick(
            language,
            "nothing — write again if you need help",
            "无需操作，如需帮助请再次留言",
        ),
    }
}

/// `/status`: the customer's own tickets, newest first.
pub fn status_list(language: Language, tickets: &[Ticket], now: Timestamp) -> String {
    if tickets.is_empty() {
        return pick(
            language,
            "You have no tickets. Ask a question any time.",
            "您目前没有工单，欢迎随时提问。",
        )
        .into();
    }
    let mut out = String::from(pick(language, "Your tickets:", "您的工单："));
    for t in tickets {
        let ago = human_ago(language, now - t.updated_at);
        let line = match language {
            Language::En => format!(
                "\n{} · {} · {} · updated {} · next: {}",
                t.no,
                state_name(language, t.state),
                t.priority.label(),
                ago,
                next_step(language, t.state)
            ),
            Language::Zh => format!(
                "\n{} · {} · {} · 更新于{} · 下一步：{}",
                t.no,
                state_name(language, t.state),
                t.priority.label(),
                ago,
                next_step(language, t.state)
            ),
        };
        out.push_str(&line);
    }
    out
}

fn human_ago(language: Language, d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (n, en, zh) = if mins < 1 {
        return pick(language, "just now", "刚刚").into();
    } else if mins < 60 {
        (mins, "min", "分钟")
    } else if mins < 48 * 60 {
        (mins / 60, "h", "小时")
    } else {
        (mins / (24 * 60), "d", "天")
    };
    match language {
        Language::En => format!("{n} {en} ago"),
        Language::Zh => format!("{n}{zh}前"),
    }
}

pub fn solved_label(language: Language) -> &'static str {
    pick(language, "Solved", "已解决")
}

pub fn not_solved_label(language: Language) -> &'static str {
    pick(language, "Not solved", "未解决")
}

/// Under a solution: "Solved" first, "Not solved" second, in one row.
pub fn resolution_buttons(language: Language, no: TicketNo) -> Vec<Vec<Button>> {
    vec![vec![
        ButtonAction::Solved(no).button(solved_label(language)),
        ButtonAction::NotSolved(no).button(not_solved_label(language)),
    ]]
}

/// Five buttons 1…5 in one row.
pub fn rating_buttons(no: TicketNo) -> Vec<Vec<Button>> {
    vec![(1..=5u8)
        .map(|score| ButtonAction::Rate(no, score).button(score.to_string()))
        .collect()]
}

/// Pushed when an agent claims the ticket.
pub fn agent_on_it(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Good news: an agent is now working on your ticket {no}."),
        Language::Zh => format!("客服已开始处理您的工单 {no}。"),
    }
}

/// The automatic progress update when the progress cadence came round and nobody told the
/// customer anything since the last one (SPEC §1.4, §4).
pub fn still_working(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "An update on your ticket {no}: we are still working on it and will write as soon \
             as we know more. No need to send anything."
        ),
        Language::Zh => {
            format!("工单 {no} 进度更新：我们仍在处理中，一有进展会立即通知您，无需再次发送。")
        }
    }
}

/// A rating pressed after the survey's outer limit: thanks, nothing recorded.
pub fn survey_closed(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "Thank you! The satisfaction survey for ticket {no} has closed, so this rating was \
             not recorded."
        ),
        Language::Zh => format!("谢谢！工单 {no} 的满意度调查已结束，本次评分未被记录。"),
    }
}

/// Pushed when an agent reopens the ticket.
pub fn reopened_by_agent(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => {
            format!("Your ticket {no} has been reopened; our agent is looking at it again.")
        }
        Language::Zh => format!("您的工单 {no} 已重新打开，客服会继续跟进。"),
    }
}

/// After "Solved" when no rating is asked (asked before, or surveys are off).
pub fn solved_closed(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!("Thank you for confirming — ticket {no} is now closed."),
        Language::Zh => format!("感谢您的确认，工单 {no} 已关闭。"),
    }
}

/// After "Solved": the ticket is closed; asks for the rating (sent with [`rating_buttons`]).
pub fn solved_ask_rating(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "Thank you for confirming — ticket {no} is now closed. How would you rate our help, from 1 (poor) to 5 (excellent)?"
        ),
        Language::Zh => format!("感谢您的确认，工单 {no} 已关闭。请为我们的服务打分：1（很差）到 5（很好）。"),
    }
}

/// After "Not solved": the ticket goes back to the agent; asks what is missing.
pub fn not_solved_followup(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "Sorry it isn't solved yet. Ticket {no} is reopened and back with our agent. What is still missing? Please reply here with the details."
        ),
        Language::Zh => format!("很抱歉问题仍未解决。工单 {no} 已重新打开并交回客服。请在这里告诉我们还缺少什么。"),
    }
}

/// Thanks for a rating and invites an optional comment (the customer's next words within
/// `window`, e.g. `10 min`).
pub fn rating_thanks(language: Language, score: u8, window: &str) -> String {
    match language {
        Language::En => format!(
            "Thank you for your rating ({score}/5)! It helps us improve. If you'd like to add a \
             comment, just write it here within {window} (optional)."
        ),
        Language::Zh => format!(
            "感谢您的评分（{score}/5）！这能帮助我们改进服务。如需补充意见，请在 {window} 内直接回复（可选）。"
        ),
    }
}

/// After the optional comment of a rating.
pub fn comment_thanks(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "Thank you, your comment on ticket {no} was passed on to the team. If you have a \
             new question, just ask (or send /human)."
        ),
        Language::Zh => format!(
            "谢谢，您对工单 {no} 的意见已转达团队。如有新问题，请直接提问（或发送 /human）。"
        ),
    }
}

pub fn rating_already_given(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => {
            format!("You have already rated ticket {no} — thank you, we keep your first rating.")
        }
        Language::Zh => format!("您已为工单 {no} 评过分，谢谢！我们保留您的第一次评分。"),
    }
}

pub fn rating_not_yet(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => {
            format!("Ticket {no} is not closed yet; you can rate it once it is closed.")
        }
        Language::Zh => format!("工单 {no} 尚未关闭，关闭后即可评分。"),
    }
}

/// A button for a ticket that is not the customer's own (or does not exist).
pub fn not_your_ticket(language: Language) -> &'static str {
    pick(
        language,
        "Sorry, that button is not for one of your tickets. /status shows your tickets.",
        "抱歉，该按钮不属于您的工单。发送 /status 查看您的工单。",
    )
}

/// "Solved" / "Not solved" pressed when the ticket no longer waits for a confirmation.
pub fn confirmation_not_pending(language: Language, no: TicketNo, state: TicketState) -> String {
    match language {
        Language::En => format!(
            "Ticket {no} is {} now, so there is nothing to confirm.",
            state_name(language, state)
        ),
        Language::Zh => format!(
            "工单 {no} 当前状态为「{}」，无需确认。",
            state_name(language, state)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_payloads_round_trip() {
        for action in [
            ButtonAction::Helped("billing.invoice".into()),
            ButtonAction::ShowFaq("a.b".into()),
            ButtonAction::Human(None),
            ButtonAction::Human(Some("x".into())),
            ButtonAction::Topic("orders".into()),
            ButtonAction::Status,
            ButtonAction::Solved(TicketNo(12)),
            ButtonAction::NotSolved(TicketNo(12)),
            ButtonAction::Rate(TicketNo(12), 5),
            ButtonAction::Rate(TicketNo(1), 1),
        ] {
            assert_eq!(ButtonAction::decode(&action.encode()), Some(action));
        }
        assert_eq!(ButtonAction::decode("nonsense"), None);
        assert_eq!(ButtonAction::decode(""), None);
        for bad in [
            "rate:12:6",
            "rate:12:0",
            "rate:12",
            "solved:x",
            "solved:0",
            "notsolved:-3",
        ] {
            assert_eq!(ButtonAction::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn ticket_acknowledgement_has_number_priority_and_promise() {
        let text = ticket_created(Language::En, TicketNo(7), Priority::P2, "30 min", true);
        assert!(text.starts_with("We're sorry"), "{text}");
        assert!(
            text.contains("#7") && text.contains("P2") && text.contains("30 min"),
            "{text}"
        );
        let zh = ticket_created(Language::Zh, TicketNo(7), Priority::P1, "10 min", false);
        assert!(
            zh.contains("#7") && zh.contains("P1") && zh.contains("10 min"),
            "{zh}"
        );
        assert!(!zh.contains("抱歉"));
    }
}
