//! The watch stream: the events a [`Store::watch`](crate::Store::watch) delivers.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::{Deleted, KeyValue, Result, Revision};

/// One item of a [`Watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The key was created (`prev` is `None`) or updated.
    Put {
        /// The key and its new value; `kv.mod_revision` is the event's revision.
        kv: KeyValue,
        /// The value before this write, if the key existed.
        prev: Option<KeyValue>,
    },
    /// The key was deleted.
    Delete(Deleted),
    /// Every change up to and including `revision` has been delivered. Sent in answer to
    /// [`Watch::request_progress`]; the API server turns it into a BOOKMARK.
    Progress {
        /// The revision the watcher is now known to be current with.
        revision: Revision,
    },
}

impl WatchEvent {
    /// The revision of the change (or the revision a progress notice vouches for).
    pub fn revision(&self) -> Revision {
        match self {
            Self::Put { kv, .. } => kv.mod_revision,
            Self::Delete(deleted) => deleted.revision,
            Self::Progress { revision } => *revision,
        }
    }

    /// The key changed, or `None` for a progress notice.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Put { kv, .. } => Some(&kv.key),
            Self::Delete(deleted) => Some(&deleted.prev.key),
            Self::Progress { .. } => None,
        }
    }
}

/// A stream of [`WatchEvent`]s, in revision order, with no gaps and no duplicates.
///
/// It ends (`None`) when the store closes; it yields one `Err` (such as
/// [`Error::Compacted`](crate::Error::Compacted)) and then ends if the watch cannot go on.
/// Dropping it cancels the watch.
#[derive(Debug)]
pub struct Watch {
    events: mpsc::Receiver<Result<WatchEvent>>,
    progress: mpsc::Sender<()>,
}

impl Watch {
    /// A watch and the sender half that an implementation feeds; `capacity` events may wait
    /// unread before the sender waits.
    pub fn channel(capacity: usize) -> (Watch, WatchSender) {
        let (events_tx, events) = mpsc::channel(capacity.max(1));
        let (progress, progress_rx) = mpsc::channel(1);
        (
            Watch { events, progress },
            WatchSender {
                events: events_tx,
                progress: progress_rx,
            },
        )
    }

    /// Asks for a [`WatchEvent::Progress`] once every change up to the store's current
    /// revision has been delivered. Requests made while one is pending are merged into it.
    pub fn request_progress(&self) {
        // A full channel means a request is already pending, which answers this one too.
        let _ = self.progress.try_send(());
    }
}

impl Stream for Watch {
    type Item = Result<WatchEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

/// The sending half of a [`Watch`], held by a store's implementation.
#[derive(Debug)]
pub struct WatchSender {
    events: mpsc::Sender<Result<WatchEvent>>,
    progress: mpsc::Receiver<()>,
}

/// The watcher dropped its [`Watch`]: stop feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatcherGone;

impl WatchSender {
    /// Sends one item, waiting while the watcher's buffer is full.
    pub async fn send(&self, item: Result<WatchEvent>) -> Result<(), WatcherGone> {
        self.events.send(item).await.map_err(|_| WatcherGone)
    }

    /// Resolves when the watcher asks for progress (cancel-safe, for `select!`); never resolves
    /// once the watcher is gone.
    pub async fn progress_requested(&mut self) {
        if self.progress.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves with `true` when the watcher asks for progress, and with `false` once it has
    /// dropped its [`Watch`] (cancel-safe, for `select!`; one borrow where `closed` and
    /// `progress_requested` together would need two).
    pub async fn progress_or_closed(&mut self) -> bool {
        tokio::select! {
            requested = self.progress.recv() => {
                if requested.is_some() {
                    return true;
                }
                self.events.closed().await;
                false
            }
            () = self.events.closed() => false,
        }
    }

    /// Resolves when the watcher has dropped its [`Watch`].
    pub async fn closed(&self) {
        self.events.closed().await
    }

    /// True once the watcher has dropped its [`Watch`].
    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }
}
