//! Fakes of the runtime's seams, for tests here and in dependent crates (feature `test-util`).

mod event_sink;
mod lease_lock;
mod lister_watcher;

pub use event_sink::FakeEventSink;
pub use lease_lock::FakeLeaseLock;
pub use lister_watcher::FakeListerWatcher;
