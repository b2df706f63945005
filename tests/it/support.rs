//! Shared test helpers: a recording transport, a temporary store, a small knowledge base.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use frontdesk::domain::{CustomerIdentity, Language, Outbound, Platform};
use frontdesk::faq::{Answer, Entry, KnowledgeBase, Phrasing, Topic};
use frontdesk::ports::{ChatTransport, Delivered, DeliveryError};

/// Remembers everything delivered, in order.
#[derive(Default)]
pub struct RecordingTransport {
    pub platform: Option<Platform>,
    pub sent: Mutex<Vec<Outbound>>,
}

impl RecordingTransport {
    pub fn new(platform: Platform) -> Arc<RecordingTransport> {
        Arc::new(RecordingTransport {
            platform: Some(platform),
            sent: Mutex::new(Vec::new()),
        })
    }

    pub fn take(&self) -> Vec<Outbound> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

#[async_trait]
impl ChatTransport for RecordingTransport {
    fn platform(&self) -> Platform {
        self.platform.unwrap_or(Platform::Console)
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(Delivered::default())
    }
}

pub fn customer(user: &str) -> CustomerIdentity {
    CustomerIdentity {
        platform: Platform::Console,
        user_id: user.into(),
        chat_id: format!("chat-{user}"),
        display_name: user.into(),
        language: None,
    }
}

fn entry(
    id: &str,
    topic: &str,
    en: &[&str],
    zh: &[&str],
    answer_en: &str,
    answer_zh: &str,
) -> Entry {
    let mut questions: Vec<Phrasing> = en
        .iter()
        .map(|q| Phrasing {
            language: Language::En,
            text: q.to_string(),
        })
        .collect();
    questions.extend(zh.iter().map(|q| Phrasing {
        language: Language::Zh,
        text: q.to_string(),
    }));
    Entry {
        id: id.into(),
        topic: topic.into(),
        questions,
        keywords: Vec::new(),
        patterns: Vec::new(),
        answer: Answer {
            en: answer_en.into(),
            zh: answer_zh.into(),
        },
        opens_ticket: false,
    }
}

/// A small knowledge base with clearly separated entries.
pub fn small_kb() -> KnowledgeBase {
    KnowledgeBase {
        topics: vec![
            Topic {
                id: "account".into(),
                title_en: "Account".into(),
                title_zh: "账户".into(),
            },
            Topic {
                id: "orders".into(),
                title_en: "Orders".into(),
                title_zh: "订单".into(),
            },
        ],
        entries: vec![
            entry(
                "account.reset-password",
                "account",
                &[
                    "How do I reset my password?",
                    "I forgot my password",
                    "change my password",
                    "password reset link",
                ],
                &["怎么重置密码", "忘记密码了", "如何修改密码"],
                "Tap \"Forgot password\" on the sign-in screen.",
                "在登录页点击“忘记密码”。",
            ),
            entry(
                "orders.track",
                "orders",
                &[
                    "Where is my order?",
                    "How can I track my package?",
                    "tracking number for my order",
                    "when will my parcel arrive",
                ],
                &["我的订单到哪了", "怎么查物流", "包裹什么时候到"],
                "Open Orders and tap Track.",
                "打开“订单”，点击“物流跟踪”。",
            ),
            entry(
                "orders.cancel",
                "orders",
                &[
                    "How do I cancel my order?",
                    "cancel an order I just placed",
                    "I want to cancel my purchase",
                ],
                &["怎么取消订单", "我想取消刚下的订单"],
                "Open the order and tap Cancel within 1 hour of ordering.",
                "下单 1 小时内可在订单页点击“取消”。",
            ),
        ],
        synonyms: Vec::new(),
    }
}

/// The customer pipeline on a SQLite file in `dir`, with a recording console transport:
/// what the service, desk and SLA tests all start from.
pub struct Stack {
    pub store: std::sync::Arc<dyn frontdesk::store::Store>,
    pub service: frontdesk::service::Service,
    pub outbox: frontdesk::outbox::OutboxWorker,
    pub transport: Arc<RecordingTransport>,
}

pub async fn console_stack(
    dir: &std::path::Path,
    clock: Arc<dyn frontdesk::ports::Clock>,
    vip: &[&str],
) -> Stack {
    let transport = RecordingTransport::new(Platform::Console);
    let (store, service, outbox) = service_stack(
        dir,
        clock,
        vip,
        vec![transport.clone() as Arc<dyn ChatTransport>],
    )
    .await;
    Stack {
        store,
        service,
        outbox,
        transport,
    }
}

/// The customer pipeline on a SQLite file in `dir`, delivering through `transports`.
pub async fn service_stack(
    dir: &std::path::Path,
    clock: Arc<dyn frontdesk::ports::Clock>,
    vip: &[&str],
    transports: Vec<Arc<dyn ChatTransport>>,
) -> (
    Arc<dyn frontdesk::store::Store>,
    frontdesk::service::Service,
    frontdesk::outbox::OutboxWorker,
) {
    let url = format!("sqlite://{}", dir.join("fd.db").display());
    let store: Arc<dyn frontdesk::store::Store> = Arc::new(
        frontdesk::store::sqlite::SqliteStore::open(&url)
            .await
            .unwrap(),
    );
    let transports = transports.into_iter().map(|t| (t.platform(), t)).collect();
    let outbox = frontdesk::outbox::OutboxWorker::new(
        store.clone(),
        transports,
        clock.clone(),
        frontdesk::outbox::OutboxConfig::default(),
    );
    let service = frontdesk::service::Service::new(
        store.clone(),
        frontdesk::service::Knowledge::new(small_kb()),
        Arc::new(frontdesk::triage::TriageRules::builtin()),
        frontdesk::sla::SlaPolicy::default(),
        vip.iter().map(|v| v.to_string()).collect(),
        clock,
    );
    (store, service, outbox)
}
