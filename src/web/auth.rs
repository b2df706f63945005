//! Console access: `FRONTDESK_ADMIN_TOKEN` grants a login; a login starts a session named
//! by a random id in an HttpOnly, SameSite=Strict cookie (Secure behind https); every form
//! carries the session's CSRF token and is refused without it.
//!
//! Sessions live in the store ([`crate::store::Store::start_console_session`]), which
//! keeps only the SHA-256 of their ids: a restart keeps operators logged in and every
//! replica knows every login. Time comes from the [`Web`] clock.
//!
//! Owns sessions only; what an operator may do is the desk's business.

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ConsoleSession, StoreError};

use super::{cookie, is_https, random_token, set_cookie, Web};

/// Cookie naming the operator's session.
pub const SESSION_COOKIE: &str = "fd_session";
/// Cookie holding the login form's CSRF token (before there is a session).
pub const LOGIN_COOKIE: &str = "fd_login";
/// A session ends this long after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The console's access: the admin token. Sessions are in the store.
pub struct Console {
    token: SecretString,
}

/// How a session id is kept in the store: its SHA-256 as hex.
fn session_hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A session id as we make them (32 hex digits); anything else is not looked up.
fn plausible_session(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Console {
    pub fn new(token: SecretString) -> Console {
        Console { token }
    }

    fn token_matches(&self, given: &str) -> bool {
        let expected = self.token.expose_secret().as_bytes();
        bool::from(expected.ct_eq(given.trim().as_bytes()))
    }
}

/// Starts a session for `operator`: its id (for the cookie), stored hashed.
async fn start_session(web: &Web, operator: String) -> Result<Option<String>, StoreError> {
    let (Some(id), Some(csrf)) = (random_token(), random_token()) else {
        return Ok(None);
    };
    let now = web.clock.now();
    let lifetime = chrono::Duration::from_std(SESSION_LIFETIME).unwrap_or(chrono::TimeDelta::MAX);
    let session = ConsoleSession {
        id_hash: session_hash(&id),
        operator,
        csrf,
        created_at: now,
        expires_at: now.checked_add_signed(lifetime).unwrap_or(now),
    };
    web.service.store().start_console_session(&session).await?;
    Ok(Some(id))
}

/// A logged-in operator. As an extractor it refuses everyone else: a page request is
/// sent to the login form, anything else gets 401.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
    /// The stored hash of the session id.
    session: String,
}

impl Operator {
    /// Refuses a form whose CSRF token is not this session's (403).
    pub fn check_csrf(&self, given: &str) -> Result<(), Forbidden> {
        if bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }
}

/// A form without this session's CSRF token.
#[derive(Debug)]
pub struct Forbidden;

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        forbidden()
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The form's security token is missing or stale: reload the page and try again.",
    )
        .into_response()
}

impl FromRequestParts<Web> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let refuse = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                Redirect::to("/console/login").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "Log in first.").into_response()
            }
        };
        if web.console.is_none() {
            return Err(StatusCode::NOT_FOUND.into_response());
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).filter(|id| plausible_session(id))
        else {
            return Err(refuse());
        };
        let hash = session_hash(&id);
        match web
            .service
            .store()
            .console_session(&hash, web.clock.now())
            .await
        {
            Ok(Some(s)) => Ok(Operator {
                name: s.operator,
                csrf: s.csrf,
                session: hash,
            }),
            Ok(None) => Err(refuse()),
            Err(e) => {
                tracing::warn!("console: session not readable: {e}");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not answering; try again shortly.",
                )
                    .into_response())
            }
        }
    }
}

/// The login form, with a fresh CSRF token in a cookie and a hidden field.
pub async fn login_form(headers: HeaderMap) -> Response {
    login_page(&headers, None)
}

fn login_page(headers: &HeaderMap, problem: Option<&str>) -> Response {
    let Some(token) = random_token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response();
    };
    let body = html! {
        h1 { "frontdesk console" }
        @if let Some(p) = problem { p.problem { (p) } }
        form method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(token);
            label { "Your name " input name="name" required autocomplete="username"; }
            label { "Admin token " input name="token" type="password" required autocomplete="current-password"; }
            button type="submit" { "Log in" }
        }
    };
    let cookie = set_cookie(LOGIN_COOKIE, &token, "Strict", is_https(headers), None);
    (
        [(header::SET_COOKIE, cookie)],
        super::page::layout("Log in", None, body),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    token: String,
}

/// Checks the login form's CSRF token and the admin token; starts a session.
pub async fn login(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(console) = &web.console else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return forbidden();
    }
    let name: String = form.name.trim().chars().take(64).collect();
    if name.is_empty() || !console.token_matches(&form.token) {
        tracing::info!("console login refused");
        return login_page(&headers, Some("Wrong token (or no name given)."));
    }
    let id = match start_session(&web, name).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response()
        }
        Err(e) => {
            tracing::warn!("console: session not stored: {e}");
            return (StatusCode::SERVICE_UNAVAILABLE, "cannot start a session").into_response();
        }
    };
    let secure = is_https(&headers);
    (
        AppendHeaders([
            (
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &id, "Strict", secure, None),
            ),
            (
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", "Strict", secure, Some(0)),
            ),
        ]),
        Redirect::to("/console"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (CSRF-checked, so another site cannot log an operator out).
pub async fn logout(
    State(web): State<Web>,
    operator: Operator,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    if let Err(e) = web
        .service
        .store()
        .end_console_session(&operator.session)
        .await
    {
        tracing::warn!("console: logout not stored: {e}");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not logged out: the database is not answering; try again shortly.",
        )
            .into_response();
    }
    (
        [(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", "Strict", is_https(&headers), Some(0)),
        )],
        Redirect::to("/console/login"),
    )
        .into_response()
}
