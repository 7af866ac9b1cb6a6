//! Per-core serving: a fixed set of threads, one per core, each running a
//! current-thread async runtime that serves the connections handed to it from accept to
//! close — the request, the guest invocation and the outbound call all on that thread.
//!
//! Owns: the serving threads, which one a new connection goes to (the one serving the
//! fewest connections), and which thread the caller is on ([`current`], for per-thread
//! pools such as the outbound clients'). Must not touch: what a connection carries (the
//! server module) or what is pooled (the pools' owners).
//!
//! Why: on a multi-thread runtime one request hops between cores — the accepting
//! connection's task, the outbound client's connection task, the upstream's reply —
//! and each hop is a cross-core wake-up whose price (an IPI, a reschedule) differs
//! widely between machines of the same kind. Here a keep-alive connection pays one
//! hand-off when it is accepted and none per request. The cost: a thread does not take
//! work from a busier one, so connections are spread by count, not by load.
//!
//! Installed once per process by the CLI ([`install`]); where nothing installed it
//! (tests running adapters in-process), connections are served on the caller's runtime
//! as before.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

/// A connection to serve: called on the serving thread, inside its runtime, so the
/// socket registers with that thread's reactor.
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The serving threads of this process.
pub struct Workers {
    threads: Vec<Worker>,
}

struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections this thread serves now.
    serving: Arc<AtomicUsize>,
}

static WORKERS: OnceLock<Workers> = OnceLock::new();

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Start `count` serving threads (at least one) for this process. Returns false when
/// they were already started (the first call wins).
pub fn install(count: usize) -> std::io::Result<bool> {
    if WORKERS.get().is_some() {
        return Ok(false);
    }
    let mut threads = Vec::new();
    for index in 0..count.max(1) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name(format!("ikanos-serve-{index}"))
            .spawn(move || {
                CURRENT.with(|c| c.set(Some(index)));
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job());
                    }
                });
            })?;
        threads.push(Worker {
            jobs,
            serving: Arc::new(AtomicUsize::new(0)),
        });
    }
    Ok(WORKERS.set(Workers { threads }).is_ok())
}

/// How many serving threads this process has (0 when none were installed).
pub fn count() -> usize {
    WORKERS.get().map_or(0, |w| w.threads.len())
}

/// The serving thread the caller runs on, if it is one.
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// Hand `connection` to the serving thread with the fewest connections; `Err` gives it
/// back when there are no serving threads (the caller serves it itself). The thread's
/// count drops when the connection's future ends.
pub fn dispatch<F, Fut>(connection: F) -> Result<(), F>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(workers) = WORKERS.get() else {
        return Err(connection);
    };
    let Some(worker) = workers
        .threads
        .iter()
        .min_by_key(|w| w.serving.load(Ordering::Relaxed))
    else {
        return Err(connection);
    };
    let serving = worker.serving.clone();
    serving.fetch_add(1, Ordering::Relaxed);
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let _done = Decrement(serving);
            connection().await;
        })
    });
    // The threads run for the life of the process: a send cannot fail.
    let _ = worker.jobs.send(job);
    Ok(())
}

/// Counts a connection out however its future ends (finished or dropped).
struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One `T` per serving thread plus one shared by every other thread: a pool whose
/// connections' tasks run on the thread that opened them, so a request reusing one
/// never wakes another core.
pub struct PerThread<T> {
    slots: Box<[T]>,
}

impl<T> PerThread<T> {
    /// `make` is called once per serving thread, and once for the other threads.
    pub fn new(mut make: impl FnMut() -> T) -> Self {
        PerThread {
            slots: (0..=count()).map(|_| make()).collect(),
        }
    }

    /// The caller's own `T`.
    pub fn get(&self) -> &T {
        let slot = current().map_or(0, |i| i + 1);
        &self.slots[slot.min(self.slots.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_serving_threads_everything_shares_one_slot() {
        // Unit tests never install serving threads.
        let made = std::cell::Cell::new(0);
        let pools = PerThread::new(|| {
            made.set(made.get() + 1);
            made.get()
        });
        assert_eq!(made.get(), count() + 1);
        assert_eq!(*pools.get(), 1);
        assert!(current().is_none());
    }
}
