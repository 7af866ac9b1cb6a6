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
//! Busy polling: a thread that sleeps in `epoll_wait` between the steps of a request
//! (waiting for the upstream's answer, for the client's next request) pays a wake-up
//! when the bytes arrive — on a virtual machine an interrupt to a halted vCPU and a
//! cold cache, about 100 µs per lone request measured on the 2-core benchmark
//! machines. So after any activity ([`active`]: a request arriving or answered, an
//! outbound call sent) a serving thread keeps polling its sockets without sleeping for
//! a short window (`--busy-poll`, 0 turns it off), giving its core to any other
//! runnable thread between polls (`sched_yield`), as Go's scheduler spins before it
//! parks. Idle, it sleeps as before: the cost is at most one window of CPU after each
//! activity.
//!
//! Installed once per process by the CLI ([`install`]); where nothing installed it
//! (tests running adapters in-process), connections are served on the caller's runtime
//! as before.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

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
    static BUSY_POLL: OnceCell<Arc<BusyPoll>> = const { OnceCell::new() };
}

/// One serving thread's busy-polling state; touched only from that thread (the atomics
/// make it `Send` for the runtime, they are never contended).
struct BusyPoll {
    window: Duration,
    /// Activity since the poller last looked.
    recent: AtomicBool,
    /// The poller is polling (not waiting for activity).
    polling: AtomicBool,
    wake: Notify,
}

/// Mark activity on the calling serving thread: it keeps polling its sockets for the
/// busy-poll window from now. Nothing on other threads or with busy polling off.
pub fn active() {
    BUSY_POLL.with(|state| {
        if let Some(state) = state.get() {
            state.recent.store(true, Ordering::Relaxed);
            if !state.polling.load(Ordering::Relaxed) {
                state.wake.notify_one();
            }
        }
    });
}

/// The poller of one serving thread: asleep until activity, then polling until the
/// window has passed without any. `yield_now` lets the runtime poll its reactor
/// without blocking and run whatever became ready before the poller runs again.
async fn busy_poll(state: Arc<BusyPoll>) {
    loop {
        state.wake.notified().await;
        state.polling.store(true, Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            // Another runnable thread on this core (the upstream, the client on a
            // small machine) goes first: polling never starves what it waits for.
            std::thread::yield_now();
            tokio::task::yield_now().await;
            if state.recent.swap(false, Ordering::Relaxed) {
                since = Instant::now();
            } else if since.elapsed() >= state.window {
                break;
            }
        }
        state.polling.store(false, Ordering::Relaxed);
    }
}

/// Start `count` serving threads (at least one) for this process, each busy-polling
/// for `busy_poll_window` after activity (zero: never). Returns false when they were already
/// started (the first call wins).
pub fn install(count: usize, busy_poll_window: Duration) -> std::io::Result<bool> {
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
                    if !busy_poll_window.is_zero() {
                        let state = Arc::new(BusyPoll {
                            window: busy_poll_window,
                            recent: AtomicBool::new(false),
                            polling: AtomicBool::new(false),
                            wake: Notify::new(),
                        });
                        BUSY_POLL.with(|s| {
                            let _ = s.set(state.clone());
                        });
                        tokio::spawn(busy_poll(state));
                    }
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
