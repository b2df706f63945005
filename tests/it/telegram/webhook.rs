//! Webhook mode: setWebhook with the secret on start; the route refuses requests without
//! the secret (401, nothing stored) and answers 200 only after storing; a re-delivered
//! update is acknowledged and ignored.

use frontdesk::adapters::telegram::{Mode, WEBHOOK_SECRET_HEADER};
use frontdesk::domain::CustomerId;
use frontdesk::http::{router, HttpState};
use secrecy::SecretString;
use serde_json::json;

use super::fake::private_message;
use super::{fast_limits, Rig};

const SECRET: &str = "webhook-secret_123";

#[tokio::test]
async fn webhook_checks_the_secret_and_stores_before_answering() {
    let (rig, hook) = Rig::start_mode(fast_limits(), |_| Mode::Webhook {
        url: "https://bot.example.com/telegram/hook".parse().unwrap(),
        secret: SecretString::from(SECRET),
    })
    .await;
    let hook = hook.expect("webhook mode gives an endpoint");
    assert_eq!(hook.path(), "/telegram/hook");
    rig.fake
        .wait_for("setWebhook", |f| !f.calls("setwebhook").is_empty())
        .await;
    let set = &rig.fake.calls("setwebhook")[0].body;
    assert_eq!(set["url"], "https://bot.example.com/telegram/hook");
    assert_eq!(set["secret_token"], SECRET);
    assert!(
        rig.fake.calls("getupdates").is_empty(),
        "no polling in webhook mode"
    );

    let state = HttpState {
        store: rig.store.clone(),
        knowledge: rig.service.knowledge().clone(),
        channels: vec!["telegram".into()],
        web: None,
        telegram_webhook: Some(hook),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    let url = format!("http://{addr}/telegram/hook");
    let client = reqwest::Client::new();
    let update = json!({
        "update_id": 5001,
        "message": private_message(&rig.fake, 1001, json!({"text": "/new my card was charged twice"}))
    });

    let missing = client.post(&url).json(&update).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = client
        .post(&url)
        .header(WEBHOOK_SECRET_HEADER, "guess")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    rig.fake.settle().await;
    assert!(
        rig.store.customer(CustomerId(1)).await.unwrap().is_none(),
        "nothing stored"
    );
    assert!(rig.fake.sends_to(1001).is_empty());

    let accepted = client
        .post(&url)
        .header(WEBHOOK_SECRET_HEADER, SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    // 200 came after the commit: the ticket is already there.
    let tickets = rig.store.list_tickets(&Default::default()).await.unwrap();
    assert_eq!(tickets.len(), 1);
    let sent = rig.fake.wait_sends(1001, 1).await;
    assert!(sent[0].body["text"].as_str().unwrap().contains("#1"));

    // Telegram delivers the same update again (it did not see our 200): no second ticket.
    let again = client
        .post(&url)
        .header(WEBHOOK_SECRET_HEADER, SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    // Garbage is acknowledged (Telegram would resend it forever) and changes nothing.
    let garbage = client
        .post(&url)
        .header(WEBHOOK_SECRET_HEADER, SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 200);
    rig.fake.settle().await;
    assert_eq!(rig.fake.sends_to(1001).len(), 1);
    assert_eq!(
        rig.store
            .list_tickets(&Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
    rig.shutdown().await;
}
