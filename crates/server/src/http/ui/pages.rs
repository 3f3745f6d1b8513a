//! The HTML pages: templates built in, each replaceable from a theme directory, rendered with
//! auto-escaping, and served with headers that keep them out of frames and caches.

use std::path::Path;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// Built-in templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../templates/layout.html"),
    ),
    ("login.html", include_str!("../../../templates/login.html")),
    (
        "device.html",
        include_str!("../../../templates/device.html"),
    ),
    ("ciba.html", include_str!("../../../templates/ciba.html")),
    (
        "factor.html",
        include_str!("../../../templates/factor.html"),
    ),
    (
        "account.html",
        include_str!("../../../templates/account.html"),
    ),
    (
        "passkey_form.html",
        include_str!("../../../templates/passkey_form.html"),
    ),
    (
        "federation_link.html",
        include_str!("../../../templates/federation_link.html"),
    ),
    (
        "account_totp.html",
        include_str!("../../../templates/account_totp.html"),
    ),
    (
        "account_codes.html",
        include_str!("../../../templates/account_codes.html"),
    ),
    (
        "consent.html",
        include_str!("../../../templates/consent.html"),
    ),
    ("error.html", include_str!("../../../templates/error.html")),
    (
        "form_post.html",
        include_str!("../../../templates/form_post.html"),
    ),
    (
        "logout.html",
        include_str!("../../../templates/logout.html"),
    ),
    (
        "signed_out.html",
        include_str!("../../../templates/signed_out.html"),
    ),
    (
        "password_forgot.html",
        include_str!("../../../templates/password_forgot.html"),
    ),
    (
        "password_reset.html",
        include_str!("../../../templates/password_reset.html"),
    ),
];

const STYLE: &str = include_str!("../../../templates/style.css");
const FORM_POST_JS: &str = include_str!("../../../templates/form_post.js");
const SIGNED_OUT_JS: &str = include_str!("../../../templates/signed_out.js");

/// Pages may load styles and images from us, nothing else; no script runs except on the
/// form_post page; no one may frame them (SEC: clickjacking).
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";
/// The form_post page runs one script of ours that submits the form.
const PASSKEY_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";
const FORM_POST_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The compiled templates and assets.
pub struct Pages {
    env: Environment<'static>,
    style: String,
    /// The issuer's host is a domain name, so passkeys are offered and their pages run the
    /// ceremony's script (WebAuthn relying parties are domains, §5.1.1).
    passkeys: bool,
}

/// A template that failed to load or compile.
#[derive(Debug, thiserror::Error)]
#[error("ui.templates: {0}")]
pub struct ThemeError(pub String);

impl Pages {
    /// The built-in pages, with files of the same name from `theme` replacing them.
    /// `base` (the issuer) prefixes the links and form actions of the pages.
    pub fn load(theme: Option<&Path>, base: &str) -> Result<Pages, ThemeError> {
        let mut env = Environment::new();
        env.add_global("base", base.trim_end_matches('/').to_string());
        for (name, builtin) in TEMPLATES {
            let source = match theme.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| ThemeError(format!("cannot read {}: {e}", path.display())))?,
                None => (*builtin).to_string(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| ThemeError(format!("{name}: {e}")))?;
        }
        let style = match theme.map(|d| d.join("style.css")).filter(|p| p.is_file()) {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| ThemeError(format!("cannot read {}: {e}", path.display())))?,
            None => STYLE.to_string(),
        };
        let passkeys = url::Url::parse(base).is_ok_and(|u| u.domain().is_some());
        Ok(Pages {
            env,
            style,
            passkeys,
        })
    }

    /// Renders `name` with `context` as a response with `status`.
    pub fn render(&self, status: StatusCode, name: &str, context: impl Serialize) -> Response {
        let csp = match name {
            "form_post.html" => FORM_POST_CSP,
            // The passkey ceremony's script and its request for options.
            "login.html" | "factor.html" | "account.html" if self.passkeys => PASSKEY_CSP,
            _ => PAGE_CSP,
        };
        self.render_with_csp(status, name, context, HeaderValue::from_static(csp))
    }

    /// Renders `name` with its own Content-Security-Policy.
    pub fn render_with_csp(
        &self,
        status: StatusCode,
        name: &str,
        context: impl Serialize,
        csp: HeaderValue,
    ) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => html_response(status, html, csp),
            Err(e) => {
                tracing::error!(template = name, error = %e, "a page template failed to render");
                html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>The page could not be shown.</p>".into(),
                    HeaderValue::from_static(PAGE_CSP),
                )
            }
        }
    }

    /// An error page: the message is shown, nothing is redirected.
    pub fn error(&self, status: StatusCode, title: &str, message: &str, code: &str) -> Response {
        self.render(
            status,
            "error.html",
            minijinja::context! { title, message, code },
        )
    }

    /// The stylesheet.
    pub fn style(&self) -> Response {
        asset("text/css; charset=utf-8", self.style.clone())
    }

    /// The form_post script.
    pub fn form_post_script(&self) -> Response {
        asset("text/javascript; charset=utf-8", FORM_POST_JS.to_string())
    }

    /// The signed-out page's script.
    pub fn signed_out_script(&self) -> Response {
        asset("text/javascript; charset=utf-8", SIGNED_OUT_JS.to_string())
    }
}

fn asset(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The policy of the signed-out page: the page's own, plus the front-channel logout pages of
/// `frame_origins` in frames (Front-Channel Logout §3) and our script that leaves once they
/// have loaded.
pub fn signed_out_csp(frame_origins: &[String]) -> HeaderValue {
    if frame_origins.is_empty() {
        return HeaderValue::from_static(PAGE_CSP);
    }
    HeaderValue::from_str(&format!(
        "{FORM_POST_CSP}; frame-src {}",
        frame_origins.join(" ")
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(PAGE_CSP))
}

/// An HTML response that is never cached or framed.
fn html_response(status: StatusCode, html: String, csp: HeaderValue) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pages_render_and_escape() {
        let pages = Pages::load(None, "https://id.example").unwrap();
        let r = pages.render(
            StatusCode::OK,
            "login.html",
            minijinja::context! { interaction => "i", csrf => "c", username => "<script>", client_name => "App" },
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    }

    #[test]
    fn every_builtin_page_renders() {
        let pages = Pages::load(None, "https://id.example").unwrap();
        for (name, _) in TEMPLATES {
            let rendered = pages
                .env
                .get_template(name)
                .and_then(|t| t.render(minijinja::context! { interaction => "i", csrf => "c" }));
            assert!(rendered.is_ok(), "{name}: {rendered:?}");
        }
        let logout = pages.env.get_template("logout.html").and_then(|t| {
            t.render(minijinja::context! {
                interaction => "i", csrf => "c",
                client_name => Some("Alpha".to_string()), username => Some("alice".to_string()),
            })
        });
        assert!(logout.is_ok(), "{logout:?}");
        let signed_out = pages.env.get_template("signed_out.html").and_then(|t| {
            t.render(minijinja::context! {
                signed_out => true, frames => vec!["https://a/b?x=1&y=2".to_string()],
                redirect => Some("https://c/d?state=s".to_string()), client_name => None::<String>,
            })
        });
        assert!(signed_out.is_ok(), "{signed_out:?}");
    }

    #[test]
    fn a_theme_replaces_templates_and_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("style.css"), "body{}").unwrap();
        assert_eq!(Pages::load(Some(dir.path()), "").unwrap().style, "body{}");
        std::fs::write(dir.path().join("login.html"), "{% if %}").unwrap();
        assert!(Pages::load(Some(dir.path()), "").is_err());
    }
}
