//! Store writes and reads: the embedded store against etcd on the same machine.
//!
//! The shape is etcd's own benchmark: 8-byte keys, 256-byte values, 1, 16 and 256 concurrent
//! clients. Writes are `create`s of distinct keys, reads are `get`s of keys written before, all
//! through the same `Store` trait calls. Both stores are durable: the embedded store fsyncs each
//! commit (writes that arrive together share one), and etcd (a private one started here, with
//! its defaults) fsyncs its WAL.
//!
//! Run with `cargo bench -p benches --bench store`. Knobs:
//! - `BENCH_SECONDS`: seconds per cell (default 2);
//! - `BENCH_MAX_OPS`: at most this many operations per cell (default 200000);
//! - `BENCH_CLIENTS`: the client counts, comma-separated (default `1,16,256`);
//! - `BENCH_ETCD_CONNS`: at most this many etcd connections the clients share (default 8).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::{
    Latencies, SplitMix64, Table, env_list, env_u64, format_latency, format_rate, format_ratio,
    rate,
};
use bytes::Bytes;
use kube_store::test_util::etcd::EtcdServer;
use kube_store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, Store};

const VALUE_BYTES: usize = 256;

/// What one cell does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// `create` of a key not written before.
    Write,
    /// `get` of a key written before.
    Read,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Read => "read",
        }
    }
}

/// One store under test: its clients' handles, and the keys written so far.
struct Target {
    name: &'static str,
    /// The handles clients use, round robin (several etcd connections, one embedded store).
    handles: Vec<Arc<dyn Store>>,
    /// Keys `key(0..written)` exist.
    written: Arc<AtomicU64>,
}

/// The outcome of one cell.
struct Cell {
    ops: u64,
    elapsed: Duration,
    latencies: Latencies,
}

/// The 8-byte key number `n`: `/` and seven hex digits.
fn key(n: u64) -> String {
    format!("/{:07x}", n & 0x0fff_ffff)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("store bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("store bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = env_u64("BENCH_SECONDS", 2).max(1);
    let max_ops = env_u64("BENCH_MAX_OPS", 200_000).max(1);
    let clients = env_list("BENCH_CLIENTS", &[1, 16, 256]);
    let max_conns = env_u64("BENCH_ETCD_CONNS", 8).max(1);
    let budget = Duration::from_secs(seconds);

    let dir = tempfile::Builder::new()
        .prefix("bench-store-embedded-")
        .tempdir()?;
    let embedded = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
    let embedded = Target {
        name: "embedded",
        handles: vec![Arc::new(embedded)],
        written: Arc::new(AtomicU64::new(0)),
    };

    let server = EtcdServer::start().await?;
    let conns = clients.iter().copied().max().unwrap_or(1).min(max_conns);
    let mut handles: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..conns {
        handles.push(Arc::new(
            EtcdStore::connect(EtcdOptions::new(server.endpoints())).await?,
        ));
    }
    let etcd = Target {
        name: "etcd",
        handles,
        written: Arc::new(AtomicU64::new(0)),
    };

    eprintln!(
        "store bench: {VALUE_BYTES}-byte values, 8-byte keys, {seconds}s or {max_ops} ops per \
         cell; etcd {} over up to {conns} connections",
        server.endpoint()
    );
    let mut table = Table::new([
        "operation",
        "clients",
        "embedded ops/s",
        "etcd ops/s",
        "embedded/etcd",
        "embedded p50",
        "embedded p99",
        "etcd p50",
        "etcd p99",
    ]);
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    for operation in [Operation::Write, Operation::Read] {
        for &count in &clients {
            let count = usize::try_from(count.max(1)).unwrap_or(1);
            let mut cells = Vec::new();
            for target in [&embedded, &etcd] {
                let mut cell = run_cell(target, operation, count, budget, max_ops, &value).await?;
                let ops_per_second = rate(cell.ops, cell.elapsed);
                eprintln!(
                    "  {:<8} {:<5} {:>3} clients: {} ops in {:.2}s, {} ops/s, p99 {}",
                    target.name,
                    operation.name(),
                    count,
                    cell.ops,
                    cell.elapsed.as_secs_f64(),
                    format_rate(ops_per_second),
                    format_latency(cell.latencies.percentile(99.0)),
                );
                cells.push(cell);
            }
            let [mut embedded_cell, mut etcd_cell] = <[Cell; 2]>::try_from(cells)
                .map_err(|_| "one cell per store expected".to_string())?;
            let embedded_rate = rate(embedded_cell.ops, embedded_cell.elapsed);
            let etcd_rate = rate(etcd_cell.ops, etcd_cell.elapsed);
            table.row([
                operation.name().to_string(),
                count.to_string(),
                format_rate(embedded_rate),
                format_rate(etcd_rate),
                format_ratio(embedded_rate, etcd_rate),
                format_latency(embedded_cell.latencies.percentile(50.0)),
                format_latency(embedded_cell.latencies.percentile(99.0)),
                format_latency(etcd_cell.latencies.percentile(50.0)),
                format_latency(etcd_cell.latencies.percentile(99.0)),
            ]);
        }
    }
    println!();
    println!("Store writes (create) and reads (get): 8-byte keys, {VALUE_BYTES}-byte values");
    print!("{table}");
    drop(embedded);
    drop(etcd);
    drop(server);
    Ok(())
}

/// Runs `clients` concurrent clients doing `operation` until `budget` passes or `max_ops` are
/// done, and gathers their latencies.
async fn run_cell(
    target: &Target,
    operation: Operation,
    clients: usize,
    budget: Duration,
    max_ops: u64,
    value: &Bytes,
) -> Result<Cell, Box<dyn std::error::Error>> {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + budget;
    let readable = target.written.load(Ordering::Relaxed);
    if operation == Operation::Read && readable == 0 {
        return Err(format!("{}: no keys to read", target.name).into());
    }
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let store = Arc::clone(&target.handles[client % target.handles.len()]);
        let issued = Arc::clone(&issued);
        let written = Arc::clone(&target.written);
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::new();
            let mut random = SplitMix64::new(client as u64);
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_ops {
                let began = Instant::now();
                match operation {
                    Operation::Write => {
                        let n = written.fetch_add(1, Ordering::Relaxed);
                        store.create(&key(n), value.clone()).await?;
                    }
                    Operation::Read => {
                        let n = random.below(readable);
                        if store.get(&key(n)).await?.is_none() {
                            return Err(kube_store::Error::NotFound { key: key(n) });
                        }
                    }
                }
                latencies.record(began.elapsed());
            }
            Ok(latencies)
        }));
    }
    let mut latencies = Latencies::new();
    for task in tasks {
        latencies.merge(task.await??);
    }
    let elapsed = start.elapsed();
    Ok(Cell {
        ops: latencies.len() as u64,
        elapsed,
        latencies,
    })
}
