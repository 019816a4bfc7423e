//! A private etcd on loopback for tests and benchmarks.
//!
//! [`EtcdServer::start`] runs `etcd` with free ports and a temporary data directory and kills it
//! when dropped (a small watchdog also kills it if the test process dies first).
//! [`shared_endpoints`] gives the etcd that a whole test run shares: the one named by
//! `KUBE_TEST_ETCD_ENDPOINTS`, or else one private etcd per test process, started on first use.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tokio::sync::OnceCell;

use crate::{EtcdOptions, EtcdStore};

/// The environment variable naming the etcd client URLs (comma-separated) that tests share.
pub const ENDPOINTS_ENV: &str = "KUBE_TEST_ETCD_ENDPOINTS";

/// The environment variable naming the etcd binary, when it is not `etcd` on the `PATH`.
pub const BINARY_ENV: &str = "KUBE_TEST_ETCD_BINARY";

/// How long a starting etcd may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a starting etcd is asked whether it answers.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What can go wrong starting or reaching a test etcd.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The `etcd` binary is not installed.
    #[error(
        "the etcd binary {binary:?} was not found: install etcd (Debian package etcd-server, \
         or run the project's setup script), set {BINARY_ENV} to its path, or set \
         {ENDPOINTS_ENV} to a running etcd"
    )]
    NotInstalled {
        /// The binary looked for.
        binary: String,
        /// The error from starting it.
        #[source]
        source: std::io::Error,
    },

    /// A temporary directory, a free port, the log file or the process could not be set up.
    #[error("could not start etcd: {context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// etcd exited before it answered.
    #[error("etcd exited ({status}) before answering; its log ends with:\n{log}")]
    Exited {
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of its log.
        log: String,
    },

    /// etcd did not answer in time.
    #[error("etcd did not answer within {timeout:?}; its log ends with:\n{log}")]
    NotReady {
        /// How long it was given.
        timeout: Duration,
        /// The end of its log.
        log: String,
    },

    /// Connecting a store to the etcd failed.
    #[error("could not connect to the test etcd")]
    Connect(#[source] crate::Error),
}

/// A private etcd process on 127.0.0.1, killed (by pid) when dropped.
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    watchdog: Option<Child>,
    endpoint: String,
    log: PathBuf,
    // Dropped after the process is killed: removes the data directory.
    _dir: TempDir,
}

impl EtcdServer {
    /// Starts etcd on free loopback ports with a temporary data directory, and waits (at most
    /// 30 seconds) until it answers. Durability is etcd's default: its WAL is fsynced.
    pub async fn start() -> Result<Self, LaunchError> {
        // A free port can be taken by someone else before etcd binds it: try a few times.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::start_once().await {
                Err(LaunchError::Exited { .. }) if attempts < 3 => continue,
                result => return result,
            }
        }
    }

    async fn start_once() -> Result<Self, LaunchError> {
        let dir = tempfile::Builder::new()
            .prefix("kube-store-etcd-")
            .tempdir()
            .map_err(|source| io("creating the data directory", source))?;
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = dir.path().join("etcd.log");
        let log_file = File::create(&log).map_err(|source| io("creating the log file", source))?;
        let log_err = log_file
            .try_clone()
            .map_err(|source| io("opening the log file", source))?;
        let binary = std::env::var(BINARY_ENV).unwrap_or_else(|_| "etcd".to_string());
        let child = Command::new(&binary)
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            // Room for the largest write the default limits allow (see `EtcdOptions::limits`).
            .arg("--max-request-bytes=2097152")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => LaunchError::NotInstalled { binary, source },
                _ => io("spawning etcd", source),
            })?;
        let mut server = Self {
            watchdog: None,
            endpoint,
            log,
            _dir: dir,
            child,
        };
        server.watchdog = spawn_watchdog(server.child.id(), server._dir.path()).ok();
        server.wait_ready().await?;
        Ok(server)
    }

    /// Polls until etcd answers a status request, exits, or the start timeout passes.
    async fn wait_ready(&mut self) -> Result<(), LaunchError> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LaunchError::Exited {
                    status,
                    log: log_tail(&self.log),
                });
            }
            let options =
                EtcdOptions::new([self.endpoint.clone()]).request_timeout(Duration::from_secs(1));
            if EtcdStore::connect(options).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LaunchError::NotReady {
                    timeout: START_TIMEOUT,
                    log: log_tail(&self.log),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The client URL, such as `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client URLs, as [`EtcdOptions::endpoints`] takes them.
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint.clone()]
    }

    /// The process id of etcd.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A store on this etcd, without a key prefix.
    pub async fn store(&self) -> Result<EtcdStore, LaunchError> {
        EtcdStore::connect(EtcdOptions::new(self.endpoints()))
            .await
            .map_err(LaunchError::Connect)
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // The watchdog first, so it never signals a reaped (and maybe reused) pid; then etcd.
        // Child::kill signals that one pid only.
        if let Some(watchdog) = &mut self.watchdog {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The etcd endpoints that tests share: those in `KUBE_TEST_ETCD_ENDPOINTS` when it is set,
/// otherwise a private etcd for this test process, started on first use (and killed when the
/// process exits).
pub async fn shared_endpoints() -> Result<Vec<String>, LaunchError> {
    if let Ok(value) = std::env::var(ENDPOINTS_ENV) {
        let endpoints: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|endpoint| !endpoint.is_empty())
            .map(str::to_string)
            .collect();
        if !endpoints.is_empty() {
            return Ok(endpoints);
        }
    }
    static SHARED: OnceCell<EtcdServer> = OnceCell::const_new();
    let server = SHARED.get_or_try_init(EtcdServer::start).await?;
    Ok(server.endpoints())
}

/// A store on the shared etcd (see [`shared_endpoints`]) under a key prefix no other store of
/// this run uses, so tests sharing one etcd do not see each other's keys.
pub async fn shared_store() -> Result<EtcdStore, LaunchError> {
    let endpoints = shared_endpoints().await?;
    EtcdStore::connect(EtcdOptions::new(endpoints).key_prefix(unique_prefix()))
        .await
        .map_err(LaunchError::Connect)
}

/// A key prefix unique to this process and call: `/kube-store-test/<pid>-<nanos>-<n>`.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or_default();
    format!("/kube-store-test/{}-{nanos}-{n}", std::process::id())
}

fn io(context: &str, source: std::io::Error) -> LaunchError {
    LaunchError::Io {
        context: context.to_string(),
        source,
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16, LaunchError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|source| io("finding a free port", source))?;
    let port = listener
        .local_addr()
        .map_err(|source| io("finding a free port", source))?
        .port();
    Ok(port)
}

/// Starts `sh` watching this process: once it is gone, the shell kills etcd (by pid) and removes
/// the data directory. This covers test processes that exit without dropping the server, such
/// as those holding the shared etcd in a static.
fn spawn_watchdog(etcd_pid: u32, dir: &Path) -> std::io::Result<Child> {
    const SCRIPT: &str = r#"
parent="$1"; etcd="$2"; dir="$3"
while kill -0 "$parent" 2>/dev/null && kill -0 "$etcd" 2>/dev/null; do sleep 1; done
kill -9 "$etcd" 2>/dev/null
sleep 1
rm -rf "$dir"
"#;
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("etcd-watchdog")
        .arg(std::process::id().to_string())
        .arg(etcd_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The last lines of etcd's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
