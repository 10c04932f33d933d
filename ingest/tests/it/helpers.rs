//! Starting the collector in-process for the integration tests.

use luister_ingest::config::{IngestConfig, SiteConfig};
use luister_schema::SiteId;
use luister_service::kafka::KafkaConfig;
use luister_testkit::Running;

/// The collector with site `demo` on `localhost`, trusting `x-forwarded-for`.
/// Checks that the collector took a request (2xx), with its answer in the message.
pub async fn assert_taken(r: reqwest::Response, what: &str) {
    let status = r.status().as_u16();
    assert!(
        (200..300).contains(&status),
        "{what}: {status} {}",
        r.text().await.unwrap()
    );
}

pub async fn start_ingest(kafka: KafkaConfig) -> Running {
    start_ingest_with(kafka, |_| {}).await
}

/// As [`start_ingest`], after `adjust` changed the configuration.
pub async fn start_ingest_with(
    kafka: KafkaConfig,
    adjust: impl FnOnce(&mut IngestConfig),
) -> Running {
    let mut config = IngestConfig {
        kafka,
        sites: vec![{
            let mut s = SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost"]);
            s.matomo_idsite = Some("1".into());
            s.plausible_domain = Some("localhost".into());
            s
        }],
        ..IngestConfig::default()
    };
    config.http.client_ip_header = "x-forwarded-for".into();
    config.privacy.salt_key_file = luister_testkit::salt_key_file();
    adjust(&mut config);
    Running::start(move |listener, shutdown| luister_ingest::serve(config, listener, shutdown))
        .await
}

/// Serves `tests/fixtures/gemeente.html` (with the collector's address filled in) on
/// every path of a loopback port, and returns its base URL.
pub async fn serve_page(collector: &str) -> String {
    serve_html(include_str!("../fixtures/gemeente.html").replace("@COLLECTOR@", collector)).await
}

/// Serves `html` on every path of a loopback port, and returns its base URL.
pub async fn serve_html(html: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let html = html.clone();
        async move { axum::response::Html(html) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
