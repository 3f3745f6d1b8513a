//! A scripted browser for the login and consent pages: reqwest with its cookie jar, redirects
//! followed by hand so that the test sees where the server sends the user.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use url::Url;

/// Where a navigation ended.
#[derive(Debug)]
pub enum Landing {
    /// An HTML page of the server.
    Page {
        /// Its URL.
        url: String,
        /// Status.
        status: StatusCode,
        /// Headers.
        headers: HeaderMap,
        /// The HTML.
        html: String,
    },
    /// A redirect away from the server (to the client).
    Client(Url),
}

impl Landing {
    /// The page's HTML, or a panic with where it went instead.
    pub fn page(&self) -> &str {
        match self {
            Landing::Page { html, .. } => html,
            other => panic!("expected a page, got {other:?}"),
        }
    }

    /// The client redirect, or a panic.
    pub fn client(&self) -> &Url {
        match self {
            Landing::Client(url) => url,
            Landing::Page {
                url, status, html, ..
            } => {
                panic!("expected a redirect to the client, got page {url} ({status}):\n{html}")
            }
        }
    }

    /// Whether this is the login page.
    pub fn is_login(&self) -> bool {
        matches!(self, Landing::Page { url, .. } if url.contains("/login"))
    }

    /// Whether this is the consent page.
    pub fn is_consent(&self) -> bool {
        matches!(self, Landing::Page { url, .. } if url.contains("/consent"))
    }

    /// A query (or fragment) parameter of the client redirect.
    pub fn param(&self, name: &str) -> Option<String> {
        let url = self.client();
        let pairs = url
            .query_pairs()
            .chain(url::form_urlencoded::parse(
                url.fragment().unwrap_or_default().as_bytes(),
            ))
            .collect::<Vec<_>>();
        pairs
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Decodes the HTML character references the templates produce.
pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of the input named `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

/// A browser: one cookie jar.
pub struct Browser {
    pub http: reqwest::Client,
    /// The cookie jar, to look at what the server keeps in the browser.
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Browser {
    /// A browser with an empty cookie jar, for the server at `base`.
    pub fn new(base: &str) -> Browser {
        Self::with_builder(base, reqwest::Client::builder())
    }

    /// A browser whose connections come from `address` (any of 127.0.0.0/8 on loopback), so
    /// that the server sees a distinct client address.
    pub fn from_address(base: &str, address: std::net::IpAddr) -> Browser {
        Self::with_builder(base, reqwest::Client::builder().local_address(address))
    }

    fn with_builder(base: &str, builder: reqwest::ClientBuilder) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Browser {
            http: builder
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
            base: base.to_string(),
        }
    }

    /// The same browser (cookie jar and all) looking at the server at `base`: for flows that
    /// cross to another server and back.
    pub fn at(&self, base: &str) -> Browser {
        Browser {
            http: self.http.clone(),
            jar: self.jar.clone(),
            base: base.to_string(),
        }
    }

    /// The cookies this browser would send to the server, as (name, value).
    pub fn cookies(&self) -> Vec<(String, String)> {
        use reqwest::cookie::CookieStore as _;
        let url = Url::parse(&self.base).unwrap();
        let header = self.jar.cookies(&url);
        let text = header
            .as_ref()
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default();
        text.split("; ")
            .filter_map(|c| c.split_once('='))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    async fn land(&self, mut response: reqwest::Response) -> Landing {
        for _ in 0..10 {
            let url = response.url().to_string();
            if response.status().is_redirection() {
                let location = response.headers()[LOCATION].to_str().unwrap().to_string();
                let next = Url::parse(&url).unwrap().join(&location).unwrap();
                if !next.as_str().starts_with(&self.base) {
                    return Landing::Client(next);
                }
                response = self.http.get(next).send().await.unwrap();
                continue;
            }
            let status = response.status();
            let headers = response.headers().clone();
            let html = response.text().await.unwrap();
            return Landing::Page {
                url,
                status,
                headers,
                html,
            };
        }
        panic!("too many redirects");
    }

    /// Follows the server's redirects from `response`.
    pub async fn follow(&self, response: reqwest::Response) -> Landing {
        self.land(response).await
    }

    /// Opens `url` and follows the server's redirects.
    pub async fn open(&self, url: &str) -> Landing {
        let response = self.http.get(url).send().await.unwrap();
        self.land(response).await
    }

    /// Submits the form of `page` to `path` with the page's hidden fields and `fields`.
    pub async fn submit(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> Landing {
        let mut form = vec![
            ("interaction".to_string(), field(page, "interaction")),
            ("csrf".to_string(), field(page, "csrf")),
        ];
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        self.land(response).await
    }

    /// Signs in on the login page `page`.
    pub async fn login(&self, page: &Landing, username: &str, password: &str) -> Landing {
        assert!(page.is_login(), "not the login page: {page:?}");
        self.submit(
            page.page(),
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("action", "login"),
            ],
        )
        .await
    }

    /// Allows on the consent page `page`.
    pub async fn allow(&self, page: &Landing, remember: bool) -> Landing {
        assert!(page.is_consent(), "not the consent page: {page:?}");
        let mut fields = vec![("action", "allow")];
        if remember {
            fields.push(("remember", "yes"));
        }
        self.submit(page.page(), "/consent", &fields).await
    }

    /// Runs an authorization request to its end: signs in and consents where asked.
    pub async fn authorize(&self, url: &str, username: &str, password: &str) -> Landing {
        let mut landing = self.open(url).await;
        if landing.is_login() {
            landing = self.login(&landing, username, password).await;
        }
        if landing.is_consent() {
            landing = self.allow(&landing, true).await;
        }
        landing
    }
}
