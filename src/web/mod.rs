//! Web edge: the customers' web chat (`/chat`, a third channel next to Telegram and
//! Discord) and the operators' console (`/console`: login, overview, tickets, desk
//! actions), served by the same axum server as `/healthz`.
//!
//! Translation only: customer messages become [`crate::service::Inbound`], console actions
//! become desk commands ([`crate::service::DeskInbound`]), exactly as the chat desks send
//! them; figures come from [`crate::metrics`]. Pages are rendered on the server with
//! `maud`, which escapes every interpolated value, so customer text can never become markup.
//! Nothing here decides about tickets or touches SQL.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Router;
use secrecy::SecretString;

use crate::ports::Clock;
use crate::service::Service;

pub mod auth;
mod charts;
pub mod chat;
pub mod console;
mod page;
pub mod widget;

pub use chat::WebTransport;

/// What the web pages need: the service (both pipelines), the web chat's transport and,
/// when an admin token is set, the console's sessions.
#[derive(Clone)]
pub struct Web {
    pub service: Arc<Service>,
    pub clock: Arc<dyn Clock>,
    pub chat: Arc<WebTransport>,
    /// `None`: no admin token, the console routes are not served at all.
    pub console: Option<Arc<auth::Console>>,
}

impl Web {
    pub fn new(
        service: Arc<Service>,
        clock: Arc<dyn Clock>,
        chat: Arc<WebTransport>,
        admin_token: Option<SecretString>,
    ) -> Web {
        Web {
            service,
            clock,
            chat,
            console: admin_token.map(|token| Arc::new(auth::Console::new(token))),
        }
    }

    /// The chat routes, and the console's when it is enabled.
    pub fn routes(&self) -> Router<Web> {
        let router = chat::routes();
        if self.console.is_some() {
            // The console is never shown inside another site's frame (clickjacking); the
            // chat is, through the widget.
            router.merge(console::routes().layer(axum::middleware::map_response(deny_framing)))
        } else {
            router
        }
    }
}

/// Headers of every console response: no framing by other pages, no content sniffing, no
/// console addresses (ticket numbers) in other sites' Referer.
async fn deny_framing(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// 128 random bits from the operating system, as 32 hex digits (session ids, CSRF tokens,
/// web chat identities). `None` when the OS cannot provide randomness.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Whether the browser reached us over https (directly or through a proxy that says so):
/// cookies are then marked `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, path `/`, the given SameSite, `Secure` behind https;
/// `max_age` 0 deletes the cookie, `None` keeps it for the browser session.
pub fn set_cookie(
    name: &str,
    value: &str,
    same_site: &str,
    secure: bool,
    max_age: Option<u64>,
) -> String {
    let mut out = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        out.push_str("; Secure");
    }
    out
}
