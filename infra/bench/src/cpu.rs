//! The ingest handler's CPU cost per request, in process on in-memory ports, against the floor
//! of any JSON API: parsing the same body with serde_json and serialising it again.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Result};
use gateway::http::HttpRequest;
use serde_json::Value;

use crate::stats::{median, thread_cpu_ns};
use crate::world;

pub struct CpuCase {
    pub name: &'static str,
    pub body: Vec<u8>,
}

pub struct CpuResult {
    pub name: &'static str,
    pub body_bytes: usize,
    /// Median CPU nanoseconds per request.
    pub handler_ns: f64,
    pub floor_ns: f64,
    /// Bytes of JSON log the handler writes per request.
    pub log_bytes: f64,
}

impl CpuResult {
    pub fn ratio(&self) -> f64 {
        self.handler_ns / self.floor_ns
    }
}

pub fn cases() -> Vec<CpuCase> {
    let bytes = |v: Value| serde_json::to_vec(&v).expect("JSON");
    vec![
        CpuCase {
            name: "typical (2 buttons, 2 parameters)",
            body: bytes(world::typical_user_message()),
        },
        CpuCase {
            name: "2000-character text",
            body: bytes(world::longest_text_message()),
        },
        CpuCase {
            name: "30 buttons",
            body: bytes(world::most_buttons_message()),
        },
    ]
}

/// A log sink that counts what it is given, as CloudWatch Logs would bill it.
#[derive(Clone, Default)]
struct CountingSink(Arc<AtomicU64>);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `rounds` rounds of `batch` requests each, handler and floor interleaved; each round starts
/// from a fresh store so that no round pays for the previous ones' data.
pub fn measure(case: &CpuCase, rounds: usize, batch: usize) -> Result<CpuResult> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let logged = CountingSink::default();
    // The handler logs one JSON line per request, as it does on Lambda.
    let sink = logged.clone();
    let subscriber = gateway::logging::json_subscriber(
        tracing_subscriber::filter::LevelFilter::INFO,
        move || sink.clone(),
    );
    let request = HttpRequest {
        query: String::new(),
        method: "POST".into(),
        path: world::user_path(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: case.body.clone(),
    };
    let mut handler = Vec::with_capacity(rounds);
    let mut floor = Vec::with_capacity(rounds);
    tracing::subscriber::with_default(subscriber, || -> Result<()> {
        for round in 0..rounds + 1 {
            let (ingest, _store, _queue) = runtime.block_on(world::memory_ingest());
            let check = runtime.block_on(ingest.handle(&request));
            ensure!(
                check.status == 200,
                "{}: the handler answered {} {}",
                case.name,
                check.status,
                check.body
            );

            let started = thread_cpu_ns();
            for _ in 0..batch {
                let response = runtime.block_on(ingest.handle(&request));
                std::hint::black_box(response);
            }
            let handler_ns = (thread_cpu_ns() - started) as f64 / batch as f64;

            let started = thread_cpu_ns();
            for _ in 0..batch {
                let parsed: Value = serde_json::from_slice(std::hint::black_box(&request.body))?;
                std::hint::black_box(serde_json::to_vec(&parsed)?);
            }
            let floor_ns = (thread_cpu_ns() - started) as f64 / batch as f64;
            // Round 0 warms caches and the allocator up.
            if round > 0 {
                handler.push(handler_ns);
                floor.push(floor_ns);
            }
        }
        Ok(())
    })?;
    let requests = ((rounds + 1) * (batch + 1)) as f64;
    Ok(CpuResult {
        name: case.name,
        body_bytes: case.body.len(),
        handler_ns: median(&handler),
        floor_ns: median(&floor),
        log_bytes: logged.0.load(Ordering::Relaxed) as f64 / requests,
    })
}
