//! The whole pipeline in-process: collector, processor and API on one scratch topic
//! and database, against the real broker and ClickHouse.

use std::time::Duration;

use luister_schema::SiteId;
use luister_store::ClickHouseConfig;
use luister_testkit::{clickhouse_url, Running, Scratch};

/// The three services, started in data-flow order.
pub struct Pipeline {
    pub ingest: Running,
    pub processor: Running,
    pub api: Running,
}

fn clickhouse(scratch: &Scratch) -> ClickHouseConfig {
    ClickHouseConfig {
        url: clickhouse_url(),
        database: scratch.database.clone(),
        ..ClickHouseConfig::default()
    }
}

impl Pipeline {
    pub async fn start(scratch: &Scratch) -> Self {
        let mut processor = luister_processor::config::ProcessorConfig {
            kafka: scratch.kafka(),
            clickhouse: clickhouse(scratch),
            ..Default::default()
        };
        processor.consumer.batch_max_wait_ms = 200;
        let processor = Running::start(move |l, s| luister_processor::serve(processor, l, s)).await;
        processor.wait_ready(Duration::from_secs(60)).await;

        let ingest = luister_ingest::config::IngestConfig {
            kafka: scratch.kafka(),
            sites: vec![luister_ingest::config::SiteConfig::new(
                SiteId::parse("demo").unwrap(),
                &["localhost"],
            )],
            ..Default::default()
        };
        let ingest = Running::start(move |l, s| luister_ingest::serve(ingest, l, s)).await;
        ingest.wait_ready(Duration::from_secs(30)).await;

        let api = luister_api::config::ApiConfig {
            clickhouse: clickhouse(scratch),
            sites: vec![luister_api::config::SiteConfig {
                id: SiteId::parse("demo").unwrap(),
            }],
            ..Default::default()
        };
        let api = Running::start(move |l, s| luister_api::serve(api, l, s)).await;
        api.wait_ready(Duration::from_secs(30)).await;
        Self {
            ingest,
            processor,
            api,
        }
    }

    pub async fn stop(self) {
        self.ingest.stop().await.unwrap();
        self.processor.stop().await.unwrap();
        self.api.stop().await.unwrap();
    }
}
