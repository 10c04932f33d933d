//! The shared visitor salt against anyone who can reach the broker: only collectors may
//! read or write the salt topic (the local stack's ACLs), what is in it is sealed with
//! the collectors' key, and a record a collector did not seal is never used.

use std::net::IpAddr;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use luister_ingest::salt::seal::SaltKey;
use luister_ingest::salt::{day_of, KafkaSalts};
use luister_ingest::visitor::Salter;
use luister_schema::{Event, SiteId, VisitorKey};
use luister_service::kafka::KafkaConfig;
use luister_testkit::{consume, kafka_admin, kafka_as, luister_home, unique, Scratch};

use crate::helpers::start_ingest;

/// The salts of `kafka.salt_topic`, sealed with the tests' key file.
pub fn kafka_salts(kafka: &KafkaConfig) -> KafkaSalts {
    let key = SaltKey::from_file(std::path::Path::new(&luister_testkit::salt_key_file())).unwrap();
    KafkaSalts::new(kafka, key, prometheus::IntCounter::new("x", "x").unwrap()).unwrap()
}

/// Every byte of the local broker's segment files of `topic`.
pub fn segment_bytes(topic: &str) -> Vec<u8> {
    let dir = luister_home().join("kafka/data").join(format!("{topic}-0"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

/// Whether `user` can read one record of partition 0 of `topic` from the start.
fn can_read(user: &KafkaConfig, topic: &str) -> Result<(), String> {
    let consumer: BaseConsumer = user
        .client_config()
        .set("group.id", unique("luister-ingest-acl-test"))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => return Ok(()),
            Some(Err(e)) => return Err(e.to_string()),
            None => {}
        }
    }
    Err("no record within 10 s".into())
}

async fn can_write(user: &KafkaConfig, topic: &str, key: &str, value: &[u8]) -> Result<(), String> {
    let producer: FutureProducer = user
        .client_config()
        .set("message.timeout.ms", "5000")
        .create()
        .map_err(|e| e.to_string())?;
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

#[tokio::test]
async fn only_collectors_may_read_or_write_the_salt_topic() {
    let topic = format!("luister.salts.it_{}", unique("acl"));
    let collector = KafkaConfig {
        salt_topic: topic.clone(),
        ..kafka_as("collector")
    };
    assert_eq!(
        collector.security_protocol,
        "sasl_plaintext",
        "the local stack's broker has SASL users ({} holds their passwords)",
        luister_home().join("kafka/credentials").display()
    );
    let salts = kafka_salts(&collector);
    salts.ensure_topic().await.unwrap();
    let today = day_of(chrono::Utc::now().timestamp_millis());
    salts.salt_for(today).await.unwrap();
    assert_eq!(can_read(&collector, &topic), Ok(()), "the collector reads");
    for user in ["processor", "loadgen"] {
        let other = kafka_as(user);
        let read = can_read(&other, &topic);
        assert!(
            read.as_ref().is_err_and(|e| e.contains("uthoriz")),
            "{user} read the salt topic: {read:?}"
        );
        let write = can_write(&other, &topic, &today.to_string(), &[7; 32]).await;
        assert!(
            write.as_ref().is_err_and(|e| e.contains("uthoriz")),
            "{user} wrote to the salt topic: {write:?}"
        );
    }
    let anonymous = KafkaConfig {
        brokers: collector.brokers.clone(),
        ..KafkaConfig::default()
    };
    assert!(
        can_read(&anonymous, &topic).is_err(),
        "a client without a login"
    );
    luister_testkit::delete_topic(&topic).await;
}

/// The visitor key a salt gives a page view of `demo` from `ip` with `ua` now.
fn key_under(salt: [u8; 32], ip: IpAddr, ua: &str) -> VisitorKey {
    let salter = Salter::shared();
    let now = chrono::Utc::now().timestamp_millis();
    salter.install(day_of(now), salt);
    salter
        .visitor_key(&SiteId::parse("demo").unwrap(), ip, ua, now)
        .unwrap()
}

#[tokio::test]
async fn the_salt_in_kafka_is_sealed_and_a_salt_planted_before_the_collector_is_never_used() {
    let scratch = Scratch::new("ingest_salt_planted");
    let today = day_of(chrono::Utc::now().timestamp_millis());
    // Before any collector runs, someone with access to the broker writes today's
    // "salt": bare bytes, and one sealed with another key.
    let admin = kafka_admin();
    luister_service::kafka::ensure_topic_specs(
        &admin,
        &[luister_service::kafka::TopicSpec {
            name: &scratch.salts,
            partitions: 1,
            settings: &[],
        }],
    )
    .await
    .unwrap();
    let bare = [0x5a; 32];
    let other_key = SaltKey::from_bytes([9; 32]);
    let forged_salt = [0x3c; 32];
    let forged = other_key.seal(&scratch.salts, today, &forged_salt).unwrap();
    for value in [&bare[..], &forged[..]] {
        can_write(&admin, &scratch.salts, &today.to_string(), value)
            .await
            .unwrap();
    }

    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let ip: IpAddr = "198.51.100.77".parse().unwrap();
    let r = reqwest::Client::new()
        .post(ingest.url("/v1/events"))
        .header("user-agent", ua)
        .header("x-forwarded-for", ip.to_string())
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = consume(&scratch.topic, 1, Duration::from_secs(20)).await;
    let visitor = Event::from_json(got[0].payload.as_bytes()).unwrap().visitor;
    assert_ne!(
        visitor,
        key_under(bare, ip, ua),
        "the bare planted salt was used"
    );
    assert_ne!(
        visitor,
        key_under(forged_salt, ip, ua),
        "the salt sealed with another key was used"
    );
    let metrics = ingest.metrics().await;
    assert!(
        metrics.contains("luister_ingest_salt_records_rejected_total 2"),
        "both planted records were counted as rejected:\n{metrics}"
    );

    // The collector's upkeep deletes what comes before today's first sealed record: the
    // planted ones. What is left cannot give the visitor keys: no 32 bytes of it are
    // the salt that made them.
    let watermarks: BaseConsumer = admin.client_config().create().unwrap();
    let deleted = luister_testkit::wait_for(Duration::from_secs(30), || async {
        let (low, _) = watermarks
            .fetch_watermarks(&scratch.salts, 0, Duration::from_secs(5))
            .ok()?;
        (low >= 2).then_some(())
    })
    .await;
    assert!(deleted.is_some(), "the planted records were not deleted");
    let records = consume_raw(&admin, &scratch.salts, 1);
    assert_eq!(records.len(), 1, "the collector's record");
    assert_eq!(records[0].len(), luister_ingest::salt::seal::SEALED_LEN);
    for m in records {
        assert!(
            !m.windows(32)
                .any(|w| key_under(w.try_into().unwrap(), ip, ua) == visitor),
            "the salt is in the topic in the clear"
        );
    }
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

/// The values of the first `n` records of partition 0 of `topic`, as bytes.
fn consume_raw(user: &KafkaConfig, topic: &str, n: usize) -> Vec<Vec<u8>> {
    use rdkafka::message::Message;
    let consumer: BaseConsumer = user
        .client_config()
        .set("group.id", unique("it-raw"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    out
}
