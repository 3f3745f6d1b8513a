//! Logging setup: text for people, JSON for machines; `RUST_LOG` overrides the configured level.
//! With `[tracing] otlp_endpoint` (and the `otel` feature), the same spans are also exported as
//! OpenTelemetry traces over OTLP/HTTP, each request's span continuing the caller's trace when
//! it sends a W3C `traceparent` (W3C Trace Context §3.2).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, TracingSettings};

/// Held while the process runs: dropping it sends the spans still buffered.
#[must_use = "dropping the guard stops the trace export"]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("tessera: the last traces were not exported: {e}");
        }
    }
}

/// Installs the global subscriber (once; later calls are ignored), and the trace exporter when
/// `tracing` says where to.
pub fn init(format: LogFormat, level: &str, tracing: Option<&TracingSettings>) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.compact().boxed(),
    };
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = match tracing.map(otel::exporter) {
            Some(Ok((layer, provider))) => {
                EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
                (Some(layer), Some(provider))
            }
            Some(Err(e)) => {
                eprintln!("tessera: traces are not exported: {e}");
                (None, None)
            }
            None => (None, None),
        };
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .with(layer)
            .try_init();
        TelemetryGuard { provider }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = tracing;
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init();
        TelemetryGuard {}
    }
}

/// Makes `span` (a request's) continue the trace its caller names in `traceparent`, if any.
pub fn continue_remote_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    #[cfg(feature = "otel")]
    otel::continue_remote_trace(span, headers);
    #[cfg(not(feature = "otel"))]
    let _ = (span, headers);
}

/// Whether spans are exported (set once by [`init`]).
#[cfg(feature = "otel")]
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Names `span` in the exported trace (a request's span is named once its route is known);
/// `name` is only made when spans are exported.
pub fn name_span(span: &tracing::Span, name: impl FnOnce() -> String) {
    #[cfg(feature = "otel")]
    if EXPORTING.load(std::sync::atomic::Ordering::Relaxed) {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        span.context().span().update_name(name());
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, name);
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::registry::LookupSpan;

    use crate::config::TracingSettings;

    type Built<S> = (
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    );

    /// The layer that turns spans into OpenTelemetry spans, and the provider that batches and
    /// posts them (from a thread of its own) to the collector.
    pub(super) fn exporter<S>(settings: &TracingSettings) -> anyhow::Result<Built<S>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(settings.traces_url.as_str())
            .build()?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))))
            .build();
        let tracer = provider.tracer("tessera");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer);
        Ok((layer, provider))
    }

    struct Headers<'a>(&'a axum::http::HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    pub(super) fn continue_remote_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
        if !headers.contains_key("traceparent") {
            return;
        }
        // W3C Trace Context §4.3: a malformed traceparent is ignored and a new trace begins.
        let context = TraceContextPropagator::new().extract(&Headers(headers));
        if context.span().span_context().is_valid() {
            let _ = span.set_parent(context);
        }
    }
}
