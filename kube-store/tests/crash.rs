//! Crash test of the embedded store: acknowledged writes survive SIGKILL.
//!
//! The parent re-executes this binary as a child (role chosen by an environment variable) that
//! opens the store and runs many concurrent writers, printing each write as soon as the store
//! acknowledges it. The parent kills the child with SIGKILL at a random point (seeded; set
//! `CRASH_SEED` to replay a run), reopens the store and checks that every acknowledged write is
//! there (its value or a later one), that revisions never go backwards, and that the history a
//! watch replays is consistent with the state. It runs for [`ROUNDS`] rounds on one directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_store::{
    EmbeddedOptions, EmbeddedStore, Error, KeyValue, ListRequest, Revision, Store, WatchEvent,
    WatchRequest,
};

/// Crash-and-reopen rounds.
const ROUNDS: u64 = 30;
/// Concurrent writer tasks in the child.
const WRITERS: usize = 16;
/// Keys each writer updates in turn (it also creates new ones as it goes).
const KEYS_PER_WRITER: usize = 6;
/// The child compacts every this many acknowledged writes, keeping this much history.
const COMPACT_EVERY: u64 = 250;
const COMPACT_KEEP: Revision = 200;
/// The child stops by itself after this long, in case the parent is gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

/// Set in the child's environment: the store's directory.
const CHILD_DIR: &str = "KUBE_STORE_CRASH_CHILD_DIR";
/// Set in the child's environment: the round number, for unique new keys.
const CHILD_ROUND: &str = "KUBE_STORE_CRASH_CHILD_ROUND";

const PREFIX: &str = "/registry/crash/";

fn main() -> ExitCode {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let round = std::env::var(CHILD_ROUND)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        return child(Path::new(&dir), round);
    }
    // `cargo test <filter>` passes the filter on: run only when it matches this test.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "crash".contains(f.as_str())) {
        println!("crash: skipped by filter");
        return ExitCode::SUCCESS;
    }
    match parent() {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("crash: FAILED: {failure}");
            ExitCode::FAILURE
        }
    }
}

// ---- child ----

fn child(dir: &Path, round: u64) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("child: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        println!("opening");
        let store = Arc::new(EmbeddedStore::open(dir, EmbeddedOptions::default()).await?);
        println!("ready {}", store.current_revision().await?);
        let acks = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            tasks.push(tokio::spawn(write_loop(
                Arc::clone(&store),
                Arc::clone(&acks),
                writer,
                round,
            )));
        }
        let all = futures::future::try_join_all(tasks);
        match tokio::time::timeout(CHILD_LIFETIME, all).await {
            Ok(Ok(results)) => results.into_iter().collect::<Result<(), Error>>(),
            Ok(Err(join)) => Err(Error::backend("a writer task failed", join)),
            Err(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("child: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Creates and updates this writer's keys forever, printing each acknowledged write.
async fn write_loop(
    store: Arc<EmbeddedStore>,
    acks: Arc<AtomicU64>,
    writer: usize,
    round: u64,
) -> Result<(), Error> {
    let mut keys: Vec<String> = (0..KEYS_PER_WRITER)
        .map(|k| format!("{PREFIX}w{writer:02}/k{k}"))
        .collect();
    let mut step = 0usize;
    loop {
        if step % 10 == 9 {
            keys.push(format!("{PREFIX}w{writer:02}/r{round}-{step}"));
        }
        let key = keys[step % keys.len()].clone();
        step += 1;
        let current = store.get(&key).await?;
        let counter = current.as_ref().map_or(0, |kv| counter_of(&kv.value) + 1);
        let value = Bytes::from(format!("{counter}:{}", "x".repeat(200)));
        let revision = match current {
            None => store.create(&key, value).await?,
            Some(kv) => store.update(&key, value, kv.mod_revision).await?,
        };
        println!("ack {key} {counter} {revision}");
        if acks.fetch_add(1, Ordering::Relaxed) % COMPACT_EVERY == COMPACT_EVERY - 1 {
            let at = revision - COMPACT_KEEP;
            if at > 1 {
                store.compact(at).await?;
                println!("compact {at}");
            }
        }
    }
}

fn counter_of(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.split(':').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

// ---- parent ----

/// What the parent knows was acknowledged.
#[derive(Default)]
struct Acknowledged {
    /// Per key: the highest acknowledged counter and its revision.
    keys: BTreeMap<String, (u64, Revision)>,
    /// Every acknowledged write, over all rounds.
    writes: u64,
    /// The highest acknowledged revision.
    revision: Revision,
    /// The highest acknowledged compaction.
    compacted: Revision,
}

impl Acknowledged {
    /// Takes one line of the child's output; returns whether it was an acknowledged write.
    fn record(&mut self, line: &str) -> Result<bool, String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["ack", key, counter, revision] => {
                let counter: u64 = counter.parse().map_err(|_| format!("bad line {line:?}"))?;
                let revision: Revision =
                    revision.parse().map_err(|_| format!("bad line {line:?}"))?;
                let entry = self.keys.entry(key.to_string()).or_insert((0, 0));
                if counter < entry.0 || revision <= entry.1 {
                    return Err(format!(
                        "{key}: acknowledged counter {counter} at revision {revision} after \
                         counter {} at revision {}",
                        entry.0, entry.1
                    ));
                }
                *entry = (counter, revision);
                self.writes += 1;
                self.revision = self.revision.max(revision);
                Ok(true)
            }
            ["compact", revision] => {
                let revision: Revision =
                    revision.parse().map_err(|_| format!("bad line {line:?}"))?;
                self.compacted = self.compacted.max(revision);
                Ok(false)
            }
            ["opening"] | ["ready", _] => Ok(false),
            _ => Err(format!("unexpected child output {line:?}")),
        }
    }
}

/// A small seeded generator (splitmix64): the kill points replay from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Where a round kills the child.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// As soon as it says it is opening the store (during open or crash repair).
    Opening,
    /// After this many acknowledged writes of the round.
    AfterAcks(u64),
}

fn parent() -> Result<String, String> {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("crash: seed {seed} (set CRASH_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let dir = tmp.path().join("store");
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;

    let mut acked = Acknowledged::default();
    let mut last_revision: Revision = 0;
    for round in 0..ROUNDS {
        let kill = if round > 0 && rng.below(6) == 0 {
            KillPoint::Opening
        } else {
            KillPoint::AfterAcks(1 + rng.below(600))
        };
        let child = Command::new(&exe)
            .env(CHILD_DIR, &dir)
            .env(CHILD_ROUND, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning the child: {e}"))?;
        let round_acks = run_child(child, kill, &mut acked)
            .map_err(|e| format!("round {round} ({kill:?}): {e}"))?;
        let revision = runtime
            .block_on(verify(&dir, &acked, last_revision))
            .map_err(|e| format!("round {round} ({kill:?}): {e}"))?;
        println!(
            "crash: round {round}: killed at {kill:?}, {round_acks} acknowledged, store at \
             revision {revision}"
        );
        last_revision = revision;
    }
    Ok(format!(
        "crash: {ROUNDS} rounds, {} acknowledged writes verified ({} keys, final revision \
         {last_revision}, seed {seed})",
        acked.writes,
        acked.keys.len()
    ))
}

/// Reads the child's output until the kill point, kills it, and reads what it wrote before it
/// died. Returns the number of writes it acknowledged.
fn run_child(mut child: Child, kill: KillPoint, acked: &mut Acknowledged) -> Result<u64, String> {
    let stdout = child.stdout.take().ok_or("the child has no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut killed = false;
    let mut acks = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the child's output: {e}"))?;
        // A last line cut short by the kill is not an acknowledgement anyone saw.
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        if acked.record(line.trim_end())? {
            acks += 1;
        }
        let due = match kill {
            KillPoint::Opening => line.starts_with("opening"),
            KillPoint::AfterAcks(n) => acks >= n,
        };
        if due && !killed {
            // SIGKILL on Unix.
            child
                .kill()
                .map_err(|e| format!("killing the child: {e}"))?;
            killed = true;
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the child: {e}"))?;
    if !killed {
        return Err(format!(
            "the child exited by itself ({status}) before the kill point"
        ));
    }
    Ok(acks)
}

/// Reopens the store and checks it against what was acknowledged; returns its revision.
async fn verify(
    dir: &Path,
    acked: &Acknowledged,
    last_revision: Revision,
) -> Result<Revision, String> {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default())
        .await
        .map_err(|e| format!("reopening: {e}"))?;
    let revision = store.current_revision().await.map_err(|e| e.to_string())?;
    if revision < acked.revision || revision < last_revision {
        return Err(format!(
            "revision went backwards: store at {revision}, acknowledged {}, last seen \
             {last_revision}",
            acked.revision
        ));
    }
    for (key, &(counter, acked_revision)) in &acked.keys {
        let kv = store
            .get(key)
            .await
            .map_err(|e| format!("get {key}: {e}"))?
            .ok_or_else(|| format!("{key}: acknowledged counter {counter} but the key is gone"))?;
        let found = counter_of(&kv.value);
        if found < counter || kv.mod_revision < acked_revision {
            return Err(format!(
                "{key}: acknowledged counter {counter} at revision {acked_revision}, found \
                 counter {found} at revision {}",
                kv.mod_revision
            ));
        }
    }
    check_history(&store, acked.compacted, revision).await?;
    Ok(revision)
}

/// Replays the history a watch delivers from the oldest revision still kept on top of the
/// state listed at that revision, and checks it arrives at the current state.
async fn check_history(
    store: &EmbeddedStore,
    acked_compacted: Revision,
    revision: Revision,
) -> Result<(), String> {
    // The oldest readable revision: 1, or the compacted one.
    let mut start: Revision = 1;
    let mut probe = store
        .watch(WatchRequest::prefix(PREFIX).from_revision(1))
        .await
        .map_err(|e| format!("watch from 1: {e}"))?;
    probe.request_progress();
    match probe.next().await {
        Some(Err(Error::Compacted { compacted, .. })) => start = compacted,
        Some(Ok(_)) => {}
        other => return Err(format!("watch from 1: unexpected {other:?}")),
    }
    drop(probe);
    if start < acked_compacted {
        return Err(format!(
            "compacted revision {start} is below the acknowledged compaction {acked_compacted}"
        ));
    }

    let base = store
        .list(ListRequest::prefix(PREFIX).at_revision(start))
        .await
        .map_err(|e| format!("list at {start}: {e}"))?;
    let mut state: BTreeMap<String, KeyValue> = base
        .items
        .into_iter()
        .map(|kv| (kv.key.clone(), kv))
        .collect();

    let mut watch = store
        .watch(WatchRequest::prefix(PREFIX).from_revision(start + 1))
        .await
        .map_err(|e| format!("watch from {}: {e}", start + 1))?;
    let mut last = start;
    let mut replayed = 0u64;
    while last < revision {
        watch.request_progress();
        let event = match tokio::time::timeout(Duration::from_secs(30), watch.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(other) => return Err(format!("watch after {last}: unexpected {other:?}")),
            Err(_) => return Err(format!("watch stalled after revision {last} of {revision}")),
        };
        let event_revision = event.revision();
        match event {
            WatchEvent::Progress { revision: progress } => {
                if progress < last {
                    return Err(format!("progress {progress} went back from {last}"));
                }
                last = progress;
                continue;
            }
            WatchEvent::Put { kv, prev } => {
                if prev.as_ref() != state.get(&kv.key) {
                    return Err(format!(
                        "revision {event_revision}: put of {} carries prev {prev:?}, the state \
                         held {:?}",
                        kv.key,
                        state.get(&kv.key)
                    ));
                }
                let create = prev.as_ref().map_or(kv.mod_revision, |p| p.create_revision);
                if kv.create_revision != create {
                    return Err(format!("revision {event_revision}: wrong create revision"));
                }
                state.insert(kv.key.clone(), kv);
            }
            WatchEvent::Delete(deleted) => {
                if state.remove(&deleted.prev.key).as_ref() != Some(&deleted.prev) {
                    return Err(format!(
                        "revision {event_revision}: delete of an unknown value"
                    ));
                }
            }
        }
        if event_revision <= last {
            return Err(format!("event {event_revision} after revision {last}"));
        }
        last = event_revision;
        replayed += 1;
    }
    let now = store
        .list(ListRequest::prefix(PREFIX))
        .await
        .map_err(|e| format!("list: {e}"))?;
    let now: BTreeMap<String, KeyValue> = now
        .items
        .into_iter()
        .map(|kv| (kv.key.clone(), kv))
        .collect();
    if now != state {
        return Err(format!(
            "the replayed history ({replayed} events from revision {start}) does not arrive at \
             the current state ({} keys replayed, {} listed)",
            state.len(),
            now.len()
        ));
    }
    Ok(())
}
