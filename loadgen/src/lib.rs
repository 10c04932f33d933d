//! `luister-loadgen`: deterministic (seeded) municipal web traffic for demos, tests and
//! benchmarks.
//!
//! - [`model`]: the traffic model (sites, pages, visits, searches, contacts).
//! - [`protocol`]: the hits as native JSON, Matomo and Plausible requests, or v1 events.
//! - [`send`]: sending them to a collector over HTTP or straight to Kafka.
//! - [`topics`]: deleting the topics of earlier benchmark runs.

pub mod model;
pub mod protocol;
pub mod send;
pub mod topics;
