//! Helpers for integration tests against the real broker and the real ClickHouse.
//!
//! Addresses come from `LUISTER_TEST_KAFKA_BROKERS` (default `127.0.0.1:9092`) and
//! `LUISTER_TEST_CLICKHOUSE_URL` (default `http://127.0.0.1:8123`); `deploy/local/test.sh`
//! starts both. Every test uses its own topic and database ([`unique`]) and removes
//! them when done ([`Scratch`]). Tests build events with [`events::event`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use luister_service::kafka::KafkaConfig;

pub mod events;
pub mod http_probe;

/// The broker the tests use.
pub fn kafka_brokers() -> String {
    std::env::var("LUISTER_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The local stack's data folder (`LUISTER_HOME`, default `.luister` in the checkout).
pub fn luister_home() -> std::path::PathBuf {
    std::env::var("LUISTER_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.luister"))
}

/// A `[kafka]` section that logs in to the test broker as `user`: with the local
/// stack's SASL password of that user (`deploy/local/lib.sh` keeps them in
/// `LUISTER_HOME/kafka/credentials`), or without SASL when the broker has none.
pub fn kafka_as(user: &str) -> KafkaConfig {
    let password = std::fs::read_to_string(luister_home().join("kafka/credentials").join(user))
        .map(|p| p.trim().to_owned())
        .ok();
    match password {
        Some(password) => KafkaConfig {
            brokers: kafka_brokers(),
            security_protocol: "sasl_plaintext".into(),
            sasl_username: user.to_owned(),
            sasl_password: password,
            ..KafkaConfig::default()
        },
        None => KafkaConfig {
            brokers: kafka_brokers(),
            ..KafkaConfig::default()
        },
    }
}

/// The `[kafka]` section of the tests: the broker's administrator, who may use any
/// topic and group (the scratch topics have no ACLs of their own).
pub fn kafka_admin() -> KafkaConfig {
    kafka_as("admin")
}

/// The `LUISTER_KAFKA__*` variables that log a child process (a binary under test)
/// in like `kafka`.
pub fn kafka_env(kafka: &KafkaConfig) -> Vec<(String, String)> {
    [
        ("SECURITY_PROTOCOL", &kafka.security_protocol),
        ("SASL_MECHANISM", &kafka.sasl_mechanism),
        ("SASL_USERNAME", &kafka.sasl_username),
        ("SASL_PASSWORD", &kafka.sasl_password),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (format!("LUISTER_KAFKA__{k}"), v.clone()))
    .collect()
}

/// The TOML keys of a `[kafka]` section that log in like `kafka` (for the
/// configuration file of a binary under test).
pub fn kafka_toml(kafka: &KafkaConfig) -> String {
    let mut out = String::new();
    for (k, v) in [
        ("security_protocol", &kafka.security_protocol),
        ("sasl_mechanism", &kafka.sasl_mechanism),
        ("sasl_username", &kafka.sasl_username),
        ("sasl_password", &kafka.sasl_password),
    ] {
        if !v.is_empty() {
            out.push_str(&format!("{k} = \"{v}\"\n"));
        }
    }
    out
}

/// A key file for `privacy.salt_key_file`, made once per test process.
pub fn salt_key_file() -> String {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(unique("luister-salt-key"));
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("randomness");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, hex).expect("salt key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
        path.display().to_string()
    })
    .clone()
}

/// The ClickHouse HTTP URL the tests use.
pub fn clickhouse_url() -> String {
    std::env::var("LUISTER_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `prefix` plus 12 random hex digits: a topic, database or group name of one test.
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("randomness");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// A topic pair and a database of one test, removed on [`Scratch::cleanup`].
pub struct Scratch {
    /// The events topic.
    pub topic: String,
    /// The dead-letter topic.
    pub dlq: String,
    /// The visitor-salt topic.
    pub salts: String,
    /// The refusals topic.
    pub refusals: String,
    /// The ClickHouse database.
    pub database: String,
}

impl Scratch {
    /// New unique names (nothing is created yet: the services create what they need).
    pub fn new(name: &str) -> Self {
        Self {
            topic: unique(&format!("it.{name}.events")),
            dlq: unique(&format!("it.{name}.dlq")),
            salts: unique(&format!("it.{name}.salts")),
            refusals: unique(&format!("it.{name}.refusals")),
            database: unique(&format!("it_{name}")),
        }
    }

    /// A `[kafka]` section for these topics on the test broker, as its administrator.
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            topic: self.topic.clone(),
            dead_letter_topic: self.dlq.clone(),
            salt_topic: self.salts.clone(),
            refusals_topic: self.refusals.clone(),
            partitions: 3,
            ..kafka_admin()
        }
    }

    /// Deletes the topics and drops the database.
    pub async fn cleanup(&self) {
        let admin: AdminClient<DefaultClientContext> =
            client_config().create().expect("admin client");
        let _ = admin
            .delete_topics(
                &[&self.topic, &self.dlq, &self.salts, &self.refusals],
                &AdminOptions::new(),
            )
            .await;
        let _ = clickhouse(&format!("DROP DATABASE IF EXISTS {}", self.database)).await;
    }
}

/// Runs a function of `deploy/local/lib.sh` (for example `stop_pid kafka` or
/// `start_clickhouse`) to stop or start a shared local server in an outage test.
pub fn local_stack(command: &str) {
    let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/lib.sh");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source '{lib}' && {command}"))
        .status()
        .expect("bash");
    assert!(status.success(), "{command} failed");
}

/// Sends SIGKILL to a server of the local stack (`clickhouse`, `kafka`) at once, from
/// this process (a shell would take milliseconds to start), then waits through
/// `deploy/local/lib.sh` until it is gone. For tests that kill a server at a chosen
/// moment; start it again with `local_stack("start_clickhouse")`.
pub fn kill_local(name: &str) {
    let home = std::env::var("LUISTER_HOME")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.luister").to_owned());
    let pid_file = format!("{home}/run/{name}.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{pid_file}: {e} (is the local stack running?)"));
    let status = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -KILL {} failed", pid.trim());
    local_stack(&format!("kill_pid {name}"));
}

/// Deletes a topic (errors ignored: it may not exist).
pub async fn delete_topic(topic: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config().create().expect("admin client");
    let _ = admin.delete_topics(&[topic], &AdminOptions::new()).await;
}

fn client_config() -> ClientConfig {
    kafka_admin().client_config()
}

/// Runs a statement or query on ClickHouse over HTTP and returns the body
/// (`FORMAT TSV` output for queries), or the server's error text.
pub async fn clickhouse(sql: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::new()
        .post(clickhouse_url())
        .body(sql.to_owned())
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "ClickHouse answered {status}: {text}");
    Ok(text)
}

/// The number a `SELECT count() …` gives, or `None` when ClickHouse refuses it.
pub async fn clickhouse_count(sql: &str) -> Option<u64> {
    clickhouse(sql).await.ok()?.trim().parse().ok()
}

/// Produces one message and waits for the acknowledgement.
pub async fn produce(topic: &str, key: &str, payload: &[u8]) {
    let producer: FutureProducer = client_config()
        .set("acks", "all")
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
}

/// Produces many messages with one producer and waits for every acknowledgement.
pub async fn produce_many(topic: &str, messages: &[(String, String)]) {
    let producer: FutureProducer = client_config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    // Enqueue everything at once; the acknowledgements are awaited afterwards.
    let mut pending = Vec::with_capacity(messages.len());
    for (k, v) in messages {
        let record = FutureRecord::to(topic).key(k).payload(v);
        pending.push(
            luister_service::kafka::enqueue(&producer, record)
                .await
                .expect("produce"),
        );
    }
    for d in pending {
        d.await
            .expect("delivery")
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

/// A message read back from a topic.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Partition.
    pub partition: i32,
    /// Key as text.
    pub key: String,
    /// Value as text.
    pub payload: String,
    /// Headers as (name, value) text pairs.
    pub headers: Vec<(String, String)>,
}

/// Reads every message of `topic` from the beginning until `expected` arrived or
/// `timeout` passed, and returns what it read.
pub async fn consume(topic: &str, expected: usize, timeout: Duration) -> Vec<Consumed> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config()
            .set("group.id", unique("it-reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let deadline = Instant::now() + timeout;
        // Wait for the topic's partitions to exist.
        let partitions = loop {
            let md = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .expect("metadata");
            let n = md
                .topics()
                .first()
                .map(|t| t.partitions().len())
                .unwrap_or(0);
            if n > 0 || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| {
                                (
                                    x.key.to_owned(),
                                    String::from_utf8_lossy(x.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    partition: m.partition(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    payload: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers,
                });
            }
        }
        out
    })
    .await
    .expect("consumer thread")
}

/// Polls `check` every 100 ms until it returns `Some` or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service started in-process on `127.0.0.1:0`.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Binds a loopback port and runs `serve(listener, shutdown)` in a task.
    pub async fn start<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(
            tokio::net::TcpListener,
            std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let shutdown = Box::pin(async move {
            let _ = rx.await;
        });
        let handle = tokio::spawn(serve(listener, shutdown));
        Self {
            addr,
            stop: Some(tx),
            handle,
        }
    }

    /// `http://addr` plus `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Its `/metrics` page, or an empty page when it does not answer.
    pub async fn metrics(&self) -> String {
        match reqwest::get(self.url("/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let url = self.url("/readyz");
        let ok = wait_for(timeout, || async {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        assert!(
            ok.is_some(),
            "service at {} did not become ready within {timeout:?}",
            self.addr
        );
    }

    /// Signals shutdown and waits for the service to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.await?
    }

    /// Ends the service's task without a clean shutdown (no final commit or flush),
    /// the nearest an in-process test gets to `kill -9`.
    pub fn abort(self) {
        self.handle.abort();
    }
}

/// The value of `sample` (a metric's name, with its labels as the page writes them) on
/// a `/metrics` page; 0 when the page does not have it.
pub fn metric_value(page: &str, sample: &str) -> f64 {
    page.lines()
        .find_map(|l| {
            l.strip_prefix(sample)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Runs Debian's Chromium (or `LUISTER_TEST_CHROMIUM`) headless on `url` with a fresh
/// profile and the extra `args` (`--dump-dom`, `--screenshot=…`, …); returns its
/// standard output. Panics, with Chromium's error output, when it fails.
pub async fn chromium(args: &[&str], url: &str) -> Vec<u8> {
    let profile = std::env::temp_dir().join(unique("chromium-profile"));
    let chromium = std::env::var("LUISTER_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run {chromium} (deploy/local/test.sh installs Debian's chromium): {e}")
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
