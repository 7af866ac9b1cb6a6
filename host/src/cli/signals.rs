//! The stop and reload signals of a serving process (`run` and `serve`).
//!
//! Owns: listening for Ctrl-C, SIGTERM and SIGHUP from the first moment the async
//! runtime exists, before anything is loaded. Must not touch: what a stop or a reload
//! does — the commands decide that.
//!
//! Why so early: until a process listens for SIGTERM, the signal's default action
//! kills it. A stop sent while a component compiles (or just after "component ready")
//! must end in a clean drain and exit 0, not in a death by signal. A signal that
//! arrives before the command waits for it is kept and seen at once when it does.

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<Signal>,
    #[cfg(unix)]
    terminate: Option<Signal>,
    #[cfg(unix)]
    hangup: Option<Signal>,
}

impl Signals {
    /// Start listening. Must run inside the tokio runtime.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}"))
                    .ok()
            };
            Signals {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                hangup: listen(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on Ctrl-C or SIGTERM (at once if one came earlier).
    pub async fn stopped(&mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.interrupt.is_none() && self.terminate.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => {}
                _ = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Wait for Ctrl-C or SIGTERM (`run` and `serve` then drain); on each SIGHUP run
    /// `on_hangup` to completion and wait on.
    pub async fn until_stopped<F: std::future::Future<Output = ()>>(
        &mut self,
        mut on_hangup: impl FnMut() -> F,
    ) {
        #[cfg(unix)]
        if let Some(mut hup) = self.hangup.take() {
            loop {
                tokio::select! {
                    _ = self.stopped() => break,
                    _ = hup.recv() => on_hangup().await,
                }
            }
            self.hangup = Some(hup);
            return;
        }
        self.stopped().await
    }
}
