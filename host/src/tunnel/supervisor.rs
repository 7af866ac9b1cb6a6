//! One tunnel's life cycle, the same for every provider: connect → hold → degraded
//! (reason) → jittered backoff → connect again, a reload that replaces the session at
//! once, and stop.
//!
//! Owns: the loop around a provider's sessions — publishing `Degraded(reason)` when one
//! ends and `Closed` on stop, the delay between attempts (exponential, capped, jittered,
//! back to the minimum after a session that reached `Ready`), and reacting to reload and
//! stop requests wherever the session is. Must not touch: protocols. A provider's
//! [`Session`] connects, says when it is usable, holds, and says why it ended.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::{publish, TunnelState};

/// The `Degraded` reason while a reload replaces the session (new credentials).
const RELOAD_REASON: &str = "reconnecting with a new identity";

/// What a provider's tunnel keeps to start its session loop, reload it and stop it.
#[derive(Default)]
pub(crate) struct Supervisor {
    signals: Arc<Signals>,
}

#[derive(Default)]
struct Signals {
    reload: Notify,
    stop: watch::Sender<bool>,
}

impl Supervisor {
    /// Run `session` in the background until stopped, publishing to `state` (the
    /// channel the tunnel's dials and readiness read) and waiting between `min` and
    /// `max` (with jitter) before reconnecting after a loss.
    pub(crate) fn spawn<S: Session>(
        &self,
        session: Arc<S>,
        state: &watch::Sender<TunnelState>,
        min: Duration,
        max: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(supervise(
            self.signals.clone(),
            state.clone(),
            session,
            Backoff::new(min, max),
        ))
    }

    /// End the current session and start a new one at once (its credentials changed).
    pub(crate) fn reload(&self) {
        self.signals.reload.notify_one();
    }

    /// End the current session for good; the state becomes `Closed`.
    pub(crate) fn stop(&self) {
        let _ = self.signals.stop.send(true);
    }
}

/// How a session ended, as its provider's [`Session::ended`] hears it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionEnd<'a> {
    /// Lost, failed to come up, or replaced by a reload: another session follows.
    Retrying(&'a str),
    /// Stopped: no session follows.
    Stopped,
}

/// What a running session tells its supervisor.
pub(crate) struct Link<'a> {
    state: &'a watch::Sender<TunnelState>,
    reached_ready: AtomicBool,
}

impl Link<'_> {
    /// The session is usable (again). A session that got here resets the backoff.
    pub(crate) fn ready(&self) {
        self.reached_ready.store(true, Ordering::SeqCst);
        publish(self.state, TunnelState::Ready);
    }

    /// Still running but not usable for now (a repair in progress).
    // Only providers that repair a session in place (Ziti's router failover) use it.
    #[cfg_attr(not(feature = "ziti"), allow(dead_code))]
    pub(crate) fn degraded(&self, reason: String) {
        publish(self.state, TunnelState::Degraded(reason));
    }
}

/// A provider's protocol: one session at a time, run by [`Supervisor::spawn`].
pub(crate) trait Session: Send + Sync + 'static {
    /// Connect, call [`Link::ready`] once usable, and hold the session until it fails;
    /// return the reason (shown as `Degraded`). Dropped at any await on reload or stop.
    fn run(&self, link: &Link<'_>) -> impl Future<Output = String> + Send;

    /// After each session, before the state says why: let go of what dials used.
    fn ended(&self, end: SessionEnd<'_>) -> impl Future<Output = ()> + Send;
}

async fn supervise<S: Session>(
    signals: Arc<Signals>,
    state: watch::Sender<TunnelState>,
    session: Arc<S>,
    mut backoff: Backoff,
) {
    let mut stopped = signals.stop.subscribe();
    loop {
        if *stopped.borrow_and_update() {
            break;
        }
        let link = Link {
            state: &state,
            reached_ready: AtomicBool::new(false),
        };
        let (reason, reloading) = tokio::select! {
            reason = session.run(&link) => (reason, false),
            _ = signals.reload.notified() => (RELOAD_REASON.to_string(), true),
            _ = stopped.changed() => continue,
        };
        if link.reached_ready.load(Ordering::SeqCst) {
            backoff.reset();
        }
        session.ended(SessionEnd::Retrying(&reason)).await;
        publish(&state, TunnelState::Degraded(reason));
        if !reloading {
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = signals.reload.notified() => {}
                _ = stopped.changed() => {}
            }
        }
    }
    session.ended(SessionEnd::Stopped).await;
    publish(&state, TunnelState::Closed);
}

/// Reconnect pacing: exponential, capped, jittered. Jitter keeps many hosts that lost
/// the same relay from reconnecting in lockstep.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// Start again from the minimum (after a session that worked).
    fn reset(&mut self) {
        self.next = self.min;
    }

    /// The next delay: 50–150 % of the nominal one, which then doubles up to the cap.
    fn next_delay(&mut self) -> Duration {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.subsec_nanos())
            .unwrap_or(0);
        let delay = self.next.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        for (delay, nominal) in d.iter().zip([100, 200, 400, 400, 400]) {
            assert!(
                *delay >= Duration::from_millis(nominal / 2)
                    && *delay <= Duration::from_millis(nominal * 3 / 2),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(150));
    }

    /// What the test tells the running fake session.
    enum Step {
        Ready,
        Lose(&'static str),
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Event {
        Started,
        Ended(Option<String>),
    }

    /// A session the test drives step by step; a session with no step pending holds.
    struct Fake {
        state: watch::Sender<TunnelState>,
        supervisor: Supervisor,
        steps: tokio::sync::Mutex<mpsc::UnboundedReceiver<Step>>,
        events: Mutex<Vec<(Instant, Event)>>,
    }

    impl Fake {
        fn start(min_ms: u64) -> (Arc<Fake>, mpsc::UnboundedSender<Step>) {
            let (tx, rx) = mpsc::unbounded_channel();
            let fake = Arc::new(Fake {
                state: watch::channel(TunnelState::Connecting).0,
                supervisor: Supervisor::default(),
                steps: tokio::sync::Mutex::new(rx),
                events: Mutex::new(Vec::new()),
            });
            fake.supervisor.spawn(
                fake.clone(),
                &fake.state,
                Duration::from_millis(min_ms),
                Duration::from_millis(min_ms * 4),
            );
            (fake, tx)
        }

        fn record(&self, event: Event) {
            self.events.lock().unwrap().push((Instant::now(), event));
        }

        fn events(&self) -> Vec<Event> {
            self.events
                .lock()
                .unwrap()
                .iter()
                .map(|(_, e)| e.clone())
                .collect()
        }

        /// From each session's end to the start of the next one.
        fn pauses(&self) -> Vec<Duration> {
            let events = self.events.lock().unwrap();
            events
                .windows(2)
                .filter(|w| matches!(w[0].1, Event::Ended(_)) && w[1].1 == Event::Started)
                .map(|w| w[1].0 - w[0].0)
                .collect()
        }
    }

    impl Session for Fake {
        async fn run(&self, link: &Link<'_>) -> String {
            self.record(Event::Started);
            let mut steps = self.steps.lock().await;
            loop {
                match steps.recv().await {
                    Some(Step::Ready) => link.ready(),
                    Some(Step::Lose(reason)) => return reason.to_string(),
                    None => std::future::pending::<()>().await,
                }
            }
        }

        async fn ended(&self, end: SessionEnd<'_>) {
            self.record(Event::Ended(match end {
                SessionEnd::Retrying(reason) => Some(reason.to_string()),
                SessionEnd::Stopped => None,
            }));
        }
    }

    async fn next_state(state: &mut watch::Receiver<TunnelState>) -> TunnelState {
        state.changed().await.unwrap();
        state.borrow_and_update().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn states_follow_the_sessions_until_stop_closes() {
        let (fake, steps) = Fake::start(100);
        let mut state = fake.state.subscribe();
        assert_eq!(*state.borrow_and_update(), TunnelState::Connecting);

        steps.send(Step::Ready).unwrap();
        assert_eq!(next_state(&mut state).await, TunnelState::Ready);
        steps.send(Step::Lose("relay gone")).unwrap();
        assert_eq!(
            next_state(&mut state).await,
            TunnelState::Degraded("relay gone".into())
        );
        steps.send(Step::Ready).unwrap();
        assert_eq!(next_state(&mut state).await, TunnelState::Ready);
        fake.supervisor.stop();
        assert_eq!(next_state(&mut state).await, TunnelState::Closed);
        assert_eq!(
            fake.events(),
            [
                Event::Started,
                Event::Ended(Some("relay gone".into())),
                Event::Started,
                Event::Ended(None),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_while_sessions_fail_and_resets_after_one_was_ready() {
        let (fake, steps) = Fake::start(100);
        for _ in 0..5 {
            steps.send(Step::Lose("refused")).unwrap();
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let pauses = fake.pauses();
        assert_eq!(pauses.len(), 5, "{:?}", fake.events());
        for (pause, nominal) in pauses.iter().zip([100, 200, 400, 400, 400]) {
            assert!(
                *pause >= Duration::from_millis(nominal / 2)
                    && *pause <= Duration::from_millis(nominal * 3 / 2),
                "{pauses:?}"
            );
        }
        assert!(pauses[2] > pauses[0], "{pauses:?}");

        // The sixth session becomes ready, then is lost: back to the shortest pause.
        steps.send(Step::Ready).unwrap();
        steps.send(Step::Lose("lost")).unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let pauses = fake.pauses();
        assert_eq!(pauses.len(), 6, "{:?}", fake.events());
        assert!(pauses[5] <= Duration::from_millis(150), "{pauses:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_replaces_the_session_at_once() {
        let (fake, steps) = Fake::start(10_000);
        let mut state = fake.state.subscribe();
        steps.send(Step::Ready).unwrap();
        assert_eq!(next_state(&mut state).await, TunnelState::Ready);

        fake.supervisor.reload();
        assert_eq!(
            next_state(&mut state).await,
            TunnelState::Degraded(RELOAD_REASON.into())
        );
        steps.send(Step::Ready).unwrap();
        assert_eq!(next_state(&mut state).await, TunnelState::Ready);
        assert_eq!(
            fake.events(),
            [
                Event::Started,
                Event::Ended(Some(RELOAD_REASON.into())),
                Event::Started,
            ]
        );
        assert_eq!(fake.pauses(), [Duration::ZERO]);

        // A reload also cuts a backoff pause short: new credentials are worth a try now.
        steps.send(Step::Lose("refused")).unwrap();
        assert_eq!(
            next_state(&mut state).await,
            TunnelState::Degraded("refused".into())
        );
        fake.supervisor.reload();
        steps.send(Step::Ready).unwrap();
        assert_eq!(next_state(&mut state).await, TunnelState::Ready);
        assert_eq!(fake.pauses()[1], Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_closes_from_a_session_or_from_a_pause() {
        let (holding, _steps) = Fake::start(100);
        let mut state = holding.state.subscribe();
        while holding.events().is_empty() {
            tokio::task::yield_now().await;
        }
        holding.supervisor.stop();
        assert_eq!(next_state(&mut state).await, TunnelState::Closed);
        assert_eq!(holding.events(), [Event::Started, Event::Ended(None)]);

        let (pausing, steps) = Fake::start(10_000);
        let mut state = pausing.state.subscribe();
        let began = Instant::now();
        steps.send(Step::Lose("refused")).unwrap();
        assert_eq!(
            next_state(&mut state).await,
            TunnelState::Degraded("refused".into())
        );
        pausing.supervisor.stop();
        assert_eq!(next_state(&mut state).await, TunnelState::Closed);
        assert!(began.elapsed() < Duration::from_secs(1));
        assert_eq!(
            pausing.events(),
            [
                Event::Started,
                Event::Ended(Some("refused".into())),
                Event::Ended(None),
            ]
        );
    }
}
