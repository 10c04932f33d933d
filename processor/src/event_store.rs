//! Where the processor writes events: the [`EventStore`] trait, with
//! [`ClickHouseEvents`] for the real server. The write loop ([`crate::writer`]) sees
//! only the trait, so each of its decisions is unit-tested with [`memory::MemoryEvents`],
//! which can fail an insert after landing any part of it.
//!
//! The processor writes one table: `events`, each row with the Kafka position it came
//! from. Every other table is derived from it by the sessionizer ([`crate::sessions`]),
//! so there is nothing a crash could leave half-written between tables. Beside it,
//! `kafka_offsets` holds per partition an offset that no stored message is above
//! (see [`crate::positions`]).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;

use bytes::Bytes;
use serde::Deserialize;

use luister_store::{Store, StoreError};

use crate::batch::RowRef;
use crate::positions::Probe;
use crate::row::EventRow;

/// What the write loop needs of the database.
pub trait EventStore: Send + Sync {
    /// Per partition of `topic`, an offset that no stored message is above.
    fn bounds(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<HashMap<i32, i64>, StoreError>> + Send;

    /// Raises those offsets; acknowledged only once durable.
    fn raise_bounds(
        &self,
        topic: &str,
        bounds: &[(i32, i64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The positions among those of `probe` that are stored.
    fn present(
        &self,
        topic: &str,
        probe: &Probe,
    ) -> impl Future<Output = Result<HashSet<(i32, i64)>, StoreError>> + Send;

    /// Inserts `body`, the RowBinary encoding of `rows`, in one `INSERT`.
    fn insert(
        &self,
        rows: &[RowRef],
        body: Bytes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The `events` and `kafka_offsets` tables on a ClickHouse server.
#[derive(Clone)]
pub struct ClickHouseEvents {
    store: Store,
}

impl ClickHouseEvents {
    /// Writes through `store` (its priority is the events'.)
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Bound {
    partition: u32,
    max_offset: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Position {
    kafka_partition: u32,
    kafka_offset: u64,
}

impl EventStore for ClickHouseEvents {
    async fn bounds(&self, topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
        let rows: Vec<Bound> = self
            .store
            .client()
            .query(
                "SELECT partition, max(max_offset) AS max_offset FROM kafka_offsets \
                 WHERE topic = ? GROUP BY partition",
            )
            .bind(topic)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.partition as i32, r.max_offset as i64))
            .collect())
    }

    async fn raise_bounds(&self, topic: &str, bounds: &[(i32, i64)]) -> Result<(), StoreError> {
        if bounds.is_empty() {
            return Ok(());
        }
        // Partitions and offsets are numbers, written out; the topic is bound once per row.
        let rows = vec!["(?, ?, ?)"; bounds.len()].join(", ");
        let mut q = self.store.client().query(&format!(
            "INSERT INTO kafka_offsets (topic, partition, max_offset) VALUES {rows}"
        ));
        for (p, b) in bounds {
            q = q.bind(topic).bind(*p as u32).bind(*b as u64);
        }
        q.execute().await?;
        Ok(())
    }

    async fn present(&self, topic: &str, probe: &Probe) -> Result<HashSet<(i32, i64)>, StoreError> {
        let sites = vec!["?"; probe.sites.len()].join(", ");
        // Days and offsets are numbers, written out as literals; sites and topic are bound.
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut days = String::new();
        for d in &probe.days {
            if !days.is_empty() {
                days.push_str(", ");
            }
            let date = epoch + chrono::Days::new(u64::from(*d));
            let _ = write!(days, "toDate('{date}')");
        }
        let ranges: Vec<String> = probe
            .ranges
            .iter()
            .map(|(p, lo, hi)| {
                format!("(kafka_partition = {p} AND kafka_offset >= {lo} AND kafka_offset <= {hi})")
            })
            .collect();
        let mut q = self.store.client().query(&format!(
            "SELECT kafka_partition, kafka_offset FROM events \
             WHERE site IN ({sites}) AND day IN ({days}) AND kafka_topic = ? AND ({})",
            ranges.join(" OR ")
        ));
        for s in &probe.sites {
            q = q.bind(s);
        }
        let found: Vec<Position> = q.bind(topic).fetch_all().await?;
        Ok(found
            .into_iter()
            .map(|p| (p.kafka_partition as i32, p.kafka_offset as i64))
            .collect())
    }

    async fn insert(&self, rows: &[RowRef], body: Bytes) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO events ({}) FORMAT RowBinary",
            <EventRow as clickhouse::Row>::COLUMN_NAMES.join(", ")
        );
        let mut insert = self.store.client().insert_formatted_with(sql);
        insert.send(body).await?;
        insert.end().await?;
        Ok(())
    }
}

#[cfg(test)]
pub mod memory {
    //! An [`EventStore`] in memory that can fail its next calls, for the write loop's
    //! unit tests.

    use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
    use std::sync::Mutex;

    use super::*;

    /// How the next `insert` fails: which of its rows land first, and the error.
    pub struct Failure {
        /// Whether the row at (partition, offset) lands before the error.
        pub lands: fn(i32, i64) -> bool,
        /// The error the insert answers with.
        pub error: StoreError,
    }

    /// What was stored, and the failures still to come.
    #[derive(Default)]
    pub struct MemoryEvents {
        /// Stored positions, each as often as it was inserted.
        pub rows: Mutex<BTreeMap<(i32, i64), usize>>,
        /// Recorded bounds per partition (the highest).
        pub bounds: Mutex<HashMap<i32, i64>>,
        /// Failures of the next inserts, in order.
        pub insert_failures: Mutex<VecDeque<Failure>>,
        /// Errors of the next bound records, in order.
        pub bound_failures: Mutex<VecDeque<StoreError>>,
        /// Calls, in order: `bounds`, `raise 0:112`, `present 0:8-8`, `insert 3`.
        pub calls: Mutex<Vec<String>>,
    }

    impl MemoryEvents {
        /// Positions stored more than once.
        pub fn doubled(&self) -> Vec<(i32, i64)> {
            let rows = self.rows.lock().unwrap();
            rows.iter()
                .filter(|(_, n)| **n > 1)
                .map(|(k, _)| *k)
                .collect()
        }

        /// Stored positions of `partition`, in order.
        pub fn stored(&self, partition: i32) -> Vec<i64> {
            let rows = self.rows.lock().unwrap();
            rows.keys()
                .filter(|(p, _)| *p == partition)
                .map(|(_, o)| *o)
                .collect()
        }

        fn call(&self, c: String) {
            self.calls.lock().unwrap().push(c);
        }
    }

    impl EventStore for MemoryEvents {
        async fn bounds(&self, _topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
            self.call("bounds".into());
            Ok(self.bounds.lock().unwrap().clone())
        }

        async fn raise_bounds(
            &self,
            _topic: &str,
            bounds: &[(i32, i64)],
        ) -> Result<(), StoreError> {
            let list: Vec<String> = bounds.iter().map(|(p, b)| format!("{p}:{b}")).collect();
            self.call(format!("raise {}", list.join(",")));
            if let Some(e) = self.bound_failures.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut stored = self.bounds.lock().unwrap();
            for (p, b) in bounds {
                let s = stored.entry(*p).or_insert(*b);
                *s = (*s).max(*b);
            }
            Ok(())
        }

        async fn present(
            &self,
            _topic: &str,
            probe: &Probe,
        ) -> Result<HashSet<(i32, i64)>, StoreError> {
            let list: Vec<String> = probe
                .ranges
                .iter()
                .map(|(p, lo, hi)| format!("{p}:{lo}-{hi}"))
                .collect();
            self.call(format!("present {}", list.join(",")));
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .keys()
                .filter(|(p, o)| {
                    probe
                        .ranges
                        .iter()
                        .any(|(rp, lo, hi)| rp == p && lo <= o && o <= hi)
                })
                .copied()
                .collect())
        }

        async fn insert(&self, rows: &[RowRef], _body: Bytes) -> Result<(), StoreError> {
            self.call(format!("insert {}", rows.len()));
            let failure = self.insert_failures.lock().unwrap().pop_front();
            let bounds = self.bounds.lock().unwrap().clone();
            let mut stored = self.rows.lock().unwrap();
            for r in rows {
                // The protocol under test: nothing is inserted above a recorded bound.
                assert!(
                    bounds.get(&r.partition).is_some_and(|b| r.offset <= *b),
                    "row {}:{} inserted above its bound {:?}",
                    r.partition,
                    r.offset,
                    bounds.get(&r.partition)
                );
                if failure
                    .as_ref()
                    .is_none_or(|f| (f.lands)(r.partition, r.offset))
                {
                    *stored.entry((r.partition, r.offset)).or_default() += 1;
                }
            }
            match failure {
                Some(f) => Err(f.error),
                None => Ok(()),
            }
        }
    }
}
