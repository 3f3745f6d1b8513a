//! The HTTP surface: one module per endpoint, the error mapping, and the middleware stack.

pub mod admin;
pub mod ciba;
pub mod context;
pub mod cors;
pub mod device;
pub mod discovery;
pub mod error;
pub mod federation_logout;
pub mod form;
pub mod forwarded;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod metrics;
pub mod par;
pub mod register;
pub mod revoke;
pub mod scan_limit;
pub mod token;
pub mod ui;
pub mod userinfo;
pub mod window_limit;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tessera_core::protocol::OrServerError as _;

use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Router, middleware};
use tessera_core::Clock;
use tessera_core::clients::{PresentedCredentials, authenticate_client};
use tessera_core::events::Event;
use tessera_core::grants::TokenContext;
use tessera_core::model::Client;
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::context::RequestContext;
use tessera_core::protocol::paths;
use tessera_core::store::Store;
use tessera_core::tokens::introspect::TokenLookup;
use tessera_core::tokens::{KeyRing, SigningAlg};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::keycache::KeyCache;

/// Readiness flags read by `/readyz`.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Configuration has been written to the store.
    pub provisioned: AtomicBool,
    /// Shutdown has begun.
    pub shutting_down: AtomicBool,
}

/// What every handler can reach.
pub struct AppInner {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Registered clients, in memory.
    pub clients: Arc<crate::clientcache::ClientCache>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Elapsed time for the in-memory limits (throttle, parking, introspection budget).
    pub monotonic: Arc<dyn crate::clock::MonotonicClock>,
    /// Signing keys and the JWKS document.
    pub keys: Arc<KeyCache>,
    /// The discovery document, serialised once.
    pub resources: Arc<crate::resources::LiveResources>,
    /// Readiness flags.
    pub readiness: Arc<Readiness>,
    /// Absolute URLs of the endpoints that authenticate clients.
    pub endpoint_urls: Vec<String>,
    /// The login and consent pages.
    pub pages: ui::pages::Pages,
    /// Cookie names for this issuer.
    pub cookies: ui::cookies::CookieNames,
    /// Authenticates the values of the server's own cookies.
    pub cookie_mac: ui::cookies::CookieMac,
    /// Sign-in throttling.
    pub throttle: ui::throttle::Throttle,
    /// Bounds on parked browser POSTs.
    pub parking: window_limit::WindowLimit,
    /// When each polling device polled last (RFC 8628 §3.5).
    pub device_polls: device::DevicePolls,
    /// The memory of accepted DPoP proofs when this server is its database's only instance
    /// (SQLite); `None` when instances share the database, which then remembers them.
    pub dpop_replay: Option<tessera_core::dpop::LocalReplay>,
    /// Bounds on open dynamic registration, per client address.
    pub registration_limit: window_limit::WindowLimit,
    /// Bounds on wrong user codes (RFC 8628 §5.1).
    pub user_code_guesses: window_limit::WindowLimit,
    /// Introspection's limit on inactive answers per caller (RFC 7662 §4).
    pub scan_limit: scan_limit::ScanLimit,
    /// Password verification, one thread per core.
    pub passwords: crate::hashing::PasswordCheckers,
    /// The hash unknown users' passwords are checked against, made on first use.
    pub dummy_hash: tokio::sync::OnceCell<String>,
    /// Back-channel logout delivery.
    pub backchannel: Arc<crate::backchannel::Backchannel>,
    /// The external identity providers.
    /// The WebAuthn relying party; `None` when the issuer's host is not a domain name.
    pub webauthn: Option<Arc<webauthn_rs::prelude::Webauthn>>,
    pub upstreams: crate::federation::Upstreams,
    /// Where domain events go (the log; later metrics and audit).
    pub events: tessera_core::events::Events,
    /// Configured users whose password is still being checked at start: they cannot sign in
    /// yet.
    pub pending_passwords: Arc<crate::provision::PendingSubjects>,
    /// Clients' key sets by reference (`jwks_uri`).
    pub client_keys: crate::client_keys::RemoteClientKeys,
    /// Where CIBA's device channel and ping callbacks go (the hardened client).
    pub ciba_http: crate::outbound::Outbound,
    /// The CAs of `tls_client_auth` clients' certificates (RFC 8705 §2.1).
    pub mtls_cas: crate::mtls::ClientCas,
    /// Checks the access tokens of admin API callers.
    pub admin_tokens: Arc<tessera_validation::TokenValidator>,
    /// The metrics exposition; `None` when `[metrics]` is off.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The `[smtp]` relay; none: no password reset by mail.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// How many password reset mails may go out.
    pub reset_limit: ui::password_reset::limit::MailLimit,
}

/// Cheaply clonable handle on [`AppInner`].
#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Seconds a DPoP nonce is given out for; it is accepted for one period more (RFC 9449 §8).
const DPOP_NONCE_PERIOD: i64 = 300;

impl AppState {
    /// Where a client assertion presented in `request` may point its `aud`: the issuer or the
    /// endpoint's URL (RFC 7523 §3).
    pub fn assertion_audience<'a>(
        &'a self,
        request: &'a RequestContext,
        certificate: Option<&'a crate::mtls::CheckedCertificate<'a>>,
    ) -> tessera_core::clients::AssertionAudience<'a> {
        tessera_core::clients::AssertionAudience {
            issuer: &self.config.issuer,
            endpoint: &request.url,
            endpoints: &self.endpoint_urls,
            max_lifetime: self.config.max_assertion_lifetime,
            now: self.clock.now(),
            shared_secrets: &self.config.client_jwt_secrets,
            remote_keys: Some(&self.client_keys),
            certificate: certificate.map(|c| c as &dyn tessera_core::clients::PresentedCertificate),
            algs: match self.config.profile {
                Some(tessera_core::profile::Profile::Fapi2) => {
                    tessera_core::profile::FAPI2_ALG_NAMES
                }
                _ => tessera_core::clients::jwk::ASSERTION_ALGS,
            },
        }
    }

    /// Authenticates the client that `presented` credentials in `request` (RFC 6749 §2.3).
    pub async fn authenticate_presented(
        &self,
        presented: &PresentedCredentials,
        request: &RequestContext,
    ) -> Result<Client, OAuthError> {
        // The request's log lines carry the client id it names (verified or not).
        if let Some(id) = presented.claimed_client_id() {
            tracing::Span::current().record("client_id", id);
        }
        let certificate =
            request
                .client_certificate
                .clone()
                .map(|der| crate::mtls::CheckedCertificate {
                    der,
                    cas: &self.mtls_cas,
                    now: self.clock.now(),
                });
        let authenticated = authenticate_client(
            self.clients.as_ref(),
            self.store.as_ref(),
            presented,
            &self.assertion_audience(request, certificate.as_ref()),
        )
        .await;
        if let Err(e @ OAuthError::InvalidClient { .. }) = &authenticated {
            self.events.emit(Event::ClientAuthenticationFailed {
                claimed_client_id: presented.claimed_client_id(),
                reason: e.description(),
                peer: request.peer,
            });
        }
        authenticated
    }

    /// Reads the credentials of a form request and authenticates the client.
    pub async fn authenticate(&self, posted: &form::FormRequest) -> Result<Client, OAuthError> {
        let authorization = form::authorization(&posted.headers)?;
        let presented = PresentedCredentials::extract(authorization, &posted.form)?;
        self.authenticate_presented(&presented, &posted.context)
            .await
    }

    /// The algorithm access tokens and signed responses use: the first configured one.
    pub fn default_alg(&self) -> SigningAlg {
        self.config
            .keys
            .algorithms
            .first()
            .copied()
            .unwrap_or(SigningAlg::Es256)
    }

    /// The nonces a DPoP proof may carry when `[dpop] require_nonce` is set, the current one
    /// first (RFC 9449 §8): MACs of the current and the previous period under the server
    /// secret, so that every instance gives out and accepts the same ones without storing
    /// any. Empty when nonces are not required.
    pub fn dpop_nonces(&self) -> Vec<String> {
        if !self.config.dpop.require_nonce {
            return Vec::new();
        }
        let period = self.clock.now().div_euclid(DPOP_NONCE_PERIOD);
        [period, period - 1]
            .iter()
            .map(|p| self.cookie_mac.sign("dpop-nonce", &p.to_string()))
            .collect()
    }

    /// Where accepted DPoP proofs are remembered (RFC 9449 §11.1).
    pub fn proof_replay(&self) -> tessera_core::dpop::Replay<'_> {
        tessera_core::dpop::Replay {
            grants: self.store.as_ref(),
            local: self.dpop_replay.as_ref(),
        }
    }

    /// A DPoP proof a client sent where tokens are not issued (revocation, introspection of
    /// its own tokens) is checked all the same, and used up (RFC 9449 §4.3), so that a bad or
    /// replayed proof is never silently ignored. Requests without one are unaffected.
    pub async fn check_dpop_if_sent(&self, request: &RequestContext) -> Result<(), OAuthError> {
        let nonces = self.dpop_nonces();
        tessera_core::dpop::check_request_proof(
            request,
            self.proof_replay(),
            &nonces,
            None,
            self.clock.now(),
        )
        .await
        .map(|_| ())
    }

    /// What grants need, with the key ring and resources in force, for the HTTP request `http`
    /// if there is one.
    pub fn token_context<'a>(
        &'a self,
        (ring, resources): (&'a KeyRing, &'a tessera_core::model::Resources),
        http: Option<&'a RequestContext>,
    ) -> TokenContext<'a> {
        TokenContext {
            issuer: &self.config.issuer,
            now: self.clock.now(),
            resources,
            ring,
            alg: self.default_alg(),
            grants: self.store.as_ref(),
            clients: self.clients.as_ref(),
            events: &self.events,
            polls: &self.device_polls,
            http,
            dpop_nonces: &[],
            dpop_replay: self.dpop_replay.as_ref(),
            dpop: None,
            certificate: None,
        }
    }

    /// A hash of a random password: unknown users are checked against it so that a sign-in
    /// for them takes as long as for anyone else.
    pub async fn dummy_password_hash(&self) -> Result<String, OAuthError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let random = tessera_core::crypto::random_handle()
                    .or_server_error("drawing random bytes")?;
                tokio::task::spawn_blocking(move || tessera_core::passwords::hash_password(&random))
                    .await
                    .or_server_error("waiting for a password hash")?
                    .or_server_error("hashing a password")
            })
            .await
            .cloned()
    }

    /// What token lookups (introspection, revocation) need, with the key ring in force.
    pub fn token_lookup<'a>(&'a self, ring: &'a KeyRing) -> TokenLookup<'a> {
        TokenLookup {
            issuer: &self.config.issuer,
            now: self.clock.now(),
            ring,
            grants: self.store.as_ref(),
            clients: self.clients.as_ref(),
            users: self.store.as_ref(),
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the application on the main listener: every endpoint, and the admin API and
/// `/metrics` unless `[admin] listen` gives them their own.
pub fn router(state: AppState) -> Router {
    let routes = if state.config.operations.admin_listen.is_some() {
        routes()
    } else {
        routes().merge(admin_routes())
    };
    stack(state, routes)
}

/// Builds the application on the admin listener: the admin API and `/metrics`.
pub fn admin_router(state: AppState) -> Router {
    stack(state, admin_routes())
}

/// The admin API and `/metrics`.
fn admin_routes() -> Router<AppState> {
    Router::new()
        .route(paths::METRICS, get(metrics::metrics))
        .merge(admin::routes())
}

/// Puts `routes` under the middleware stack (outermost first): request id, tracing, security
/// headers, JSON error bodies, header size limit, timeout, body size limit; then, inside,
/// the client address, the error pages and the metrics of each route.
fn stack(state: AppState, routes: Router<AppState>) -> Router {
    let timeout = state.config.http.request_timeout;
    let body_limit = state.config.http.body_limit;
    let max_header_bytes = state.config.http.max_header_bytes;
    routes
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(middleware::map_response_with_state(
            state.clone(),
            ui::error::render_error_pages,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            forwarded::client_address,
        ))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            // The path only: query strings can carry codes and tokens.
                            let id = req
                                .headers()
                                .get(X_REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default();
                            let span = tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = req.uri().path(),
                                request_id = id,
                                address = tracing::field::Empty,
                                client_id = tracing::field::Empty,
                                // Named by the route once the router matched it (metrics::track).
                                "otel.kind" = "server",
                                "http.route" = tracing::field::Empty,
                                "http.response.status_code" = tracing::field::Empty,
                            );
                            crate::telemetry::continue_remote_trace(&span, req.headers());
                            span
                        })
                        // The access log: one line per request at info, with the span's method,
                        // path (never the query, which can carry codes and tokens), client
                        // address and client, and the status and latency.
                        .on_response(
                            DefaultOnResponse::new()
                                .level(tracing::Level::INFO)
                                .latency_unit(LatencyUnit::Micros),
                        ),
                )
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(middleware::map_response(error::json_error_bodies))
                .layer(middleware::from_fn_with_state(
                    max_header_bytes,
                    error::limit_header_size,
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(RequestBodyLimitLayer::new(body_limit)),
        )
}

/// Every endpoint, by path.
/// The account page, sign-in through upstream providers, and passkey ceremonies.
fn account_routes() -> Router<AppState> {
    Router::new()
        .route(paths::ACCOUNT, get(ui::account::account_page))
        .route(paths::ACCOUNT_SIGN_IN, get(ui::account::account_sign_in))
        .route(
            paths::ACCOUNT_PASSWORD,
            post(ui::account::password::change_password),
        )
        .route(
            paths::ACCOUNT_TOTP_NEW,
            post(ui::account::factors::begin_totp),
        )
        .route(
            paths::ACCOUNT_TOTP,
            post(ui::account::factors::confirm_totp),
        )
        .route(
            paths::ACCOUNT_RECOVERY,
            post(ui::account::factors::renew_recovery_codes),
        )
        .route(
            paths::ACCOUNT_FACTOR_REMOVE,
            post(ui::account::factors::remove_factor),
        )
        .route(
            "/account/consents/revoke",
            post(ui::account::access::revoke_consent),
        )
        .route(
            "/account/links/remove",
            post(ui::account::access::remove_link),
        )
        .route(
            paths::ACCOUNT_SESSION_END,
            post(ui::account::end_own_session),
        )
        .route(
            paths::PASSWORD_FORGOT,
            get(ui::password_reset::forgot_page).post(ui::password_reset::forgot_submit),
        )
        .route(
            paths::PASSWORD_RESET,
            get(ui::password_reset::reset::reset_page)
                .post(ui::password_reset::reset::reset_submit),
        )
        .route("/federation/{name}/callback", get(ui::federation::callback))
        .route(
            "/federation/{name}/backchannel_logout",
            post(federation_logout::backchannel_logout),
        )
        .route(
            paths::FEDERATION_LINK,
            get(ui::federation_link::link_page).post(ui::federation_link::link_submit),
        )
        .route("/passkey/options", post(ui::passkey::options))
        .route("/passkey/finish", post(ui::passkey::finish))
        .route("/assets/passkey.js", get(ui::passkey::script))
}

fn routes() -> Router<AppState> {
    Router::new()
        .merge(account_routes())
        .route(
            paths::OPENID_CONFIGURATION,
            get(discovery::provider_metadata),
        )
        .route(
            paths::OAUTH_AUTHORIZATION_SERVER,
            get(discovery::provider_metadata),
        )
        .route(paths::JWKS, get(jwks::jwks))
        // SEC-64: the endpoints single-page apps call cross-origin.
        .route(
            paths::TOKEN,
            post(token::post_token)
                .options(cors::preflight)
                .layer(cors::vary_origin()),
        )
        .route(
            paths::DEVICE_AUTHORIZATION,
            post(device::post_device_authorization)
                .options(cors::preflight)
                .layer(cors::vary_origin()),
        )
        .route(
            paths::DEVICE,
            get(ui::device::device_page).post(ui::device::device_submit),
        )
        .route(paths::PAR, post(par::post_par))
        .route(paths::BC_AUTHORIZE, post(ciba::post_bc_authorize))
        .route(
            paths::CIBA_APPROVE,
            get(ciba::approval_page).post(ciba::approval_submit),
        )
        .route(paths::INTROSPECT, post(introspect::post_introspect))
        .route(paths::REGISTER, post(register::post_register))
        .route(
            "/register/{client_id}",
            get(register::get_registration)
                .put(register::put_registration)
                .delete(register::delete_registration),
        )
        .route(
            paths::REVOKE,
            post(revoke::post_revoke)
                .options(cors::preflight)
                .layer(cors::vary_origin()),
        )
        .route(
            paths::AUTHORIZE,
            get(ui::flow::authorize).post(ui::flow::authorize),
        )
        .route(
            paths::LOGIN,
            get(ui::login::login_page).post(ui::login::login_submit),
        )
        .route(
            paths::LOGIN_FACTOR,
            get(ui::factor::factor_page).post(ui::factor::factor_submit),
        )
        .route(
            paths::CONSENT,
            get(ui::consent::consent_page).post(ui::consent::consent_submit),
        )
        .route(
            paths::USERINFO,
            get(userinfo::userinfo_get)
                .post(userinfo::userinfo_post)
                .options(cors::preflight)
                .layer(cors::vary_origin()),
        )
        .route(
            paths::END_SESSION,
            get(ui::logout::end_session).post(ui::logout::end_session),
        )
        .route(paths::END_SESSION_CONFIRM, post(ui::logout::confirm))
        .route(paths::CHECK_SESSION, get(ui::check_session::check_session))
        .route(
            paths::CHECK_SESSION_SCRIPT,
            get(ui::check_session::check_session_script),
        )
        .route(paths::STYLE, get(ui::style))
        .route(paths::FORM_POST_SCRIPT, get(ui::form_post_script))
        .route(paths::SIGNED_OUT_SCRIPT, get(ui::signed_out_script))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}
