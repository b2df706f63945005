//! The embeddable web chat: one `<script>` tag on any site adds a "Support" button that
//! opens `/chat` of this server in a small frame, the way Zendesk's or Chatwoot's widgets
//! do. Nothing is built or fetched from elsewhere: the script is served from here and
//! finds this server's address from its own `src`.
//!
//! The visitor's identity is the chat cookie of `/chat`; behind https it is
//! `SameSite=None; Secure; Partitioned`, so the frame keeps its conversation on a site of
//! another domain (a cookie partitioned per embedding site, CHIPS). The chat's writes take
//! JSON only, which another site cannot send without a CORS permission this server never
//! gives.

use axum::http::header;
use axum::response::IntoResponse;

/// The snippet operators paste into their pages (`HOST` replaced by this server's address).
pub const SNIPPET: &str = r#"<script src="https://HOST/chat/widget.js" async></script>"#;

const WIDGET_SCRIPT: &str = r#"(function () {
  var me = document.currentScript;
  if (!me || window.frontdeskWidget) return;
  var origin = new URL(me.src, location.href).origin;
  var label = me.getAttribute('data-label') || 'Support';
  var color = me.getAttribute('data-color') || '#1f3b63';
  var frame = null;
  var button = document.createElement('button');
  function toggle() {
    if (!frame) {
      frame = document.createElement('iframe');
      frame.id = 'frontdesk-chat';
      frame.title = label;
      frame.src = origin + '/chat';
      frame.style.cssText = 'position:fixed;right:20px;bottom:78px;z-index:2147483000;' +
        'width:370px;max-width:calc(100vw - 40px);height:540px;max-height:calc(100vh - 110px);' +
        'border:1px solid #cfd6e0;border-radius:12px;background:#fff;' +
        'box-shadow:0 6px 24px rgba(0,0,0,.22)';
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute('aria-expanded', String(!frame.hidden));
  }
  function start() {
    button.type = 'button';
    button.id = 'frontdesk-launcher';
    button.textContent = label;
    button.setAttribute('aria-expanded', 'false');
    button.style.cssText = 'position:fixed;right:20px;bottom:20px;z-index:2147483000;' +
      'padding:12px 20px;border:0;border-radius:24px;background:' + color + ';color:#fff;' +
      'font:600 15px system-ui,sans-serif;cursor:pointer;box-shadow:0 2px 10px rgba(0,0,0,.25)';
    button.addEventListener('click', toggle);
    document.body.appendChild(button);
  }
  window.frontdeskWidget = { open: function () { if (!frame || frame.hidden) toggle(); } };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"#;

/// `GET /chat/widget.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        WIDGET_SCRIPT,
    )
}
