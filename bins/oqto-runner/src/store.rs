//! The history store on its own thread, so that `SQLite` never blocks the async runtime.
//!
//! [`StoreHandle`] sends closures to one thread that owns the [`oqto_history::Store`]; they
//! run in the order they were sent. Writes the actor does not need an answer to
//! ([`StoreHandle::spawn`]) are queued and their failures logged; a write that fails
//! because the disk is full or the database is read-only is logged once per kind of
//! failure, and the live session goes on (its events still reach every subscriber).

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use oqto_history::{Store, StoreError};
use oqto_protocol::{Message, Seq};
use tokio::sync::oneshot;

type Call = Box<dyn FnOnce(&mut Store) + Send>;

/// Work for the store thread. Message writes are kept apart so that the thread can commit
/// all the writes queued at one moment in one transaction (group commit): 100 sessions
/// ending a message together cost one commit, not 100.
enum Job {
    Call(Call),
    Put {
        /// Boxed: a message is several times the size of the other job.
        message: Box<Message>,
        seq: Seq,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Most message writes committed together.
const GROUP_COMMIT: usize = 256;

/// A cheap, cloneable handle to the store thread.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
}

/// The store thread is gone (it panicked, or the runner is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the history store thread has stopped")]
pub struct StoreGone;

impl StoreHandle {
    /// Opens the database at `path` and starts its thread.
    ///
    /// A database the runner may not write (a read-only file or directory) is opened
    /// read-only instead: history can still be read and searched, live sessions work, and
    /// every write fails with a `storage` error (logged once here, and per failed write).
    pub fn open(path: &Path) -> Result<(Self, thread::JoinHandle<()>), StoreError> {
        let store = match Store::open(path) {
            Ok(store) => store,
            Err(StoreError::ReadOnly { .. }) => {
                let store = Store::open_read_only(path)?;
                tracing::error!(
                    path = %path.display(),
                    "the history database is read-only: serving sessions, but nothing new will be stored"
                );
                store
            }
            Err(e) => return Err(e),
        };
        Ok(Self::start(store))
    }

    /// Starts the thread around an opened store.
    pub fn start(mut store: Store) -> (Self, thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name("oqto-store".into())
            .spawn(move || run(&mut store, &rx))
            .expect("spawning the store thread");
        (Self { tx }, thread)
    }

    /// Runs `f` on the store thread and waits for its answer.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Call = Box::new(move |store| {
            let _ = tx.send(f(store));
        });
        if self.tx.send(Job::Call(job)).is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Stores one ended message (insert or replace) and waits until it is committed,
    /// possibly together with other sessions' messages queued at the same moment.
    pub async fn put_message(&self, message: Message, seq: Seq) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        if self
            .tx
            .send(Job::Put {
                message: Box::new(message),
                seq,
                done,
            })
            .is_err()
        {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Runs `f` on the store thread and blocks this thread until it is done. For the session
    /// actor's writes that must be on disk before the event announcing them goes out; call it
    /// inside `tokio::task::block_in_place` on a runtime worker.
    pub fn call_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Call = Box::new(move |store| {
            let _ = tx.send(f(store));
        });
        if self.tx.send(Job::Call(job)).is_err() {
            return Err(gone());
        }
        rx.recv().unwrap_or_else(|_| Err(gone()))
    }

    /// Queues `f` without waiting; a failure is logged with `what`.
    pub fn spawn<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static,
    {
        let job: Call = Box::new(move |store| {
            if let Err(e) = f(store) {
                tracing::error!(error = %e, "history store: {what} failed");
            }
        });
        if self.tx.send(Job::Call(job)).is_err() {
            tracing::error!("history store: {what} dropped: {StoreGone}");
        }
    }
}

/// The store thread: jobs in order; consecutive message writes in one transaction.
fn run(store: &mut Store, rx: &mpsc::Receiver<Job>) {
    let mut next = rx.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Call(call) => call(store),
            Job::Put { message, seq, done } => {
                let mut batch = vec![(*message, Some(seq))];
                let mut waiting = vec![done];
                while batch.len() < GROUP_COMMIT {
                    match rx.try_recv() {
                        Ok(Job::Put { message, seq, done }) => {
                            batch.push((*message, Some(seq)));
                            waiting.push(done);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match store.put_messages(&batch) {
                    Ok(()) => {
                        for done in waiting {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        let last = waiting.pop();
                        for done in waiting {
                            let _ = done.send(Err(clone_error(&e)));
                        }
                        if let Some(done) = last {
                            let _ = done.send(Err(e));
                        }
                    }
                }
            }
        }
        if next.is_none() {
            next = rx.recv().ok();
        }
    }
}

/// Every waiter of a failed group commit gets the failure; `StoreError` is not `Clone`.
fn clone_error(e: &StoreError) -> StoreError {
    StoreError::Io {
        action: "store",
        path: "a message".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn gone() -> StoreError {
    StoreError::Io {
        action: "reach",
        path: "the history store thread".into(),
        source: std::io::Error::other(StoreGone),
    }
}
