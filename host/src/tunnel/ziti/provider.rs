//! `tunnel.type: ziti` — the provider: one Ziti context per (identity, service),
//! connected in the background and kept healthy; streams dialed through it.
//!
//! Owns: the session life cycle (version → authenticate → service → Dial session →
//! an edge router channel), readiness (authenticated *and* the service dialable
//! through a live router channel *and* the controller answering), reasons a person can
//! act on, API-session refresh, failover to the next router, a new service session when
//! a router refuses the current one, and the identity a SIGHUP brings. Must not touch:
//! HTTP or TLS to the API (they run inside the stream), the reconnect loop (the tunnel
//! supervisor's: backoff, reload, stop), or the file format beyond its own keys.
//!
//! ```yaml
//! tunnel:
//!   type: ziti
//!   service: "crm-api"                    # the Ziti service to dial
//!   identity: "{{secrets.ZITI_IDENTITY}}" # identity JSON text, or a path to it
//!   fallback: fail
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ikanos_spec::binds::Secret;
use ikanos_spec::model::Tunnel as TunnelSpec;
use ikanos_ziti::channel::Channel;
use ikanos_ziti::controller::{
    order_routers, ApiSession, Controller, ControllerError, EdgeRouter, Service, ServiceSession,
};
use ikanos_ziti::edge::{self, Destination, EdgeError};
use ikanos_ziti::identity::Identity;
use serde::Deserialize;
use tokio::sync::{watch, Notify};

use crate::tunnel::supervisor::{Link, Session, SessionEnd, Supervisor};
use crate::tunnel::{
    settings, DialError, DialErrorKind, SettingsProblem, Tunnel, TunnelConfig, TunnelProvider,
    TunnelState, TunnelStream,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the router channel is probed.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many checks, the controller is asked about the API session (which also
/// keeps it from expiring).
const CONTROLLER_CHECK_EVERY: u64 = 3;
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a lost router may take to be replaced by another before readiness drops:
/// a failover to a router that answers takes milliseconds, and calls made meanwhile
/// wait for it (and with `fallback: direct` they must not go around the tunnel).
const FAILOVER_GRACE: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// When a context is replaced (rotation, controller outage) or the client moves to a
/// cheaper router, the old channel stays open this long at most for streams in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// While a cheaper router than the one in use is known (after a failover, or when it
/// was offline at start), every this many checks the client asks the controller for a
/// fresh router list and moves new dials to a cheaper router that answers.
const CHEAPER_ROUTER_CHECK_EVERY: u64 = 10;
pub struct ZitiProvider;

/// The provider-specific keys of a `tunnel:` block of type `ziti`: none — the service
/// and identity are common keys. Decoding it refuses any other key, as every provider does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZitiKeys {}

fn load_identity(identity: Option<&Secret>) -> Result<Identity, String> {
    let identity = identity.ok_or(
        "tunnel.identity (the Ziti identity JSON, through binds) is required for type 'ziti'",
    )?;
    Identity::load(identity.expose()).map_err(|e| format!("tunnel.identity: {e}"))
}

impl TunnelProvider for ZitiProvider {
    fn kind(&self) -> &'static str {
        "ziti"
    }

    fn check(&self, spec: &TunnelSpec) -> Vec<SettingsProblem> {
        let mut problems = Vec::new();
        match &spec.service {
            Some(s) if !s.value.trim().is_empty() => {}
            _ => problems.push(SettingsProblem::block(
                "tunnel.service (the Ziti service to dial) is required for type 'ziti'",
            )),
        }
        if spec.identity.is_none() {
            problems.push(SettingsProblem::block(
                "tunnel.identity (the Ziti identity JSON or a path to it, through binds) is required for type 'ziti'",
            ));
        }
        if let Err(unknown) = settings::decode::<ZitiKeys>("ziti", &spec.extra_values()) {
            problems.extend(unknown);
        }
        problems
    }

    fn endpoint(&self, config: &TunnelConfig) -> String {
        config.service.clone().unwrap_or_default()
    }

    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        settings::decode::<ZitiKeys>("ziti", &config.extra)
            .map_err(|p| SettingsProblem::join(&p))?;
        let service = config
            .service
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or("tunnel.service (the Ziti service to dial) is required for type 'ziti'")?;
        let identity = load_identity(config.identity.as_ref())?;
        let tunnel = Arc::new(ZitiTunnel {
            service,
            identity: Mutex::new(Arc::new(identity)),
            state: watch::channel(TunnelState::Connecting).0,
            live: Mutex::new(None),
            supervisor: Supervisor::default(),
        });
        tunnel
            .supervisor
            .spawn(tunnel.clone(), &tunnel.state, BACKOFF_MIN, BACKOFF_MAX);
        Ok(tunnel)
    }
}

/// An authenticated context with a router channel: what dials use.
struct Live {
    controller: Arc<Controller>,
    api: Mutex<ApiSession>,
    service: Service,
    session: Mutex<ServiceSession>,
    /// Held while a new service session is fetched: dials that find the session
    /// invalid at the same time fetch one between them, not one each.
    renewing: tokio::sync::Mutex<()>,
    channel: Mutex<Arc<Channel>>,
    router_tls: Arc<rustls::ClientConfig>,
    /// Set by a dial that found the channel broken: the supervisor fails over at once.
    broken: Notify,
    /// Bumped each time a failover (or a move to a cheaper router) puts a new router
    /// channel in place.
    switched: watch::Sender<u64>,
    /// A move to a cheaper router is being tried.
    moving: AtomicBool,
}

impl Live {
    fn channel(&self) -> Arc<Channel> {
        self.channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn token(&self) -> String {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .token
            .clone()
    }
    fn api(&self) -> ApiSession {
        self.api.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub struct ZitiTunnel {
    service: String,
    identity: Mutex<Arc<Identity>>,
    state: watch::Sender<TunnelState>,
    live: Mutex<Option<Arc<Live>>>,
    supervisor: Supervisor,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A reason for `/health/ready` from a controller error.
fn controller_reason(e: &ControllerError, step: &str) -> String {
    match e {
        ControllerError::Refused { status: 401, .. } if step == "authenticate" => format!(
            "the controller refused the identity's certificate ({e}): revoked, unknown or expired?"
        ),
        _ => format!("{step}: {e}"),
    }
}

async fn open_channel(
    router: &EdgeRouter,
    tls: &Arc<rustls::ClientConfig>,
    api_token: &str,
) -> Result<Arc<Channel>, String> {
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(&router.address)
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(router.host.clone())
            .map_err(|e| format!("bad host name '{}': {e}", router.host))?;
        let tls = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Channel::open(router.name.clone(), tls, api_token, CONNECT_TIMEOUT)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
        Ok(r) => r.map_err(|e| format!("edge router {} ({}): {e}", router.name, router.address)),
        Err(_) => Err(format!(
            "edge router {} ({}) did not answer within {:?}",
            router.name,
            router.address,
            CONNECT_TIMEOUT * 2
        )),
    }
}

/// The first router of `routers`, in the order given, that takes a Hello.
async fn first_channel(
    routers: &[EdgeRouter],
    tls: &Arc<rustls::ClientConfig>,
    api_token: &str,
    service: &str,
) -> Result<Arc<Channel>, String> {
    if routers.is_empty() {
        return Err(format!(
            "no edge router serves service '{service}' for this identity"
        ));
    }
    let mut problems = Vec::new();
    for r in routers {
        match open_channel(r, tls, api_token).await {
            Ok(c) => {
                tracing::info!(tunnel = "ziti", service, router = %r.name, "edge router channel open");
                return Ok(c);
            }
            Err(e) => problems.push(e),
        }
    }
    Err(problems.join("; "))
}

/// Close `channel` with `why` once no stream uses it (or after DRAIN_LIMIT): new dials
/// already go elsewhere, streams in flight finish where they are.
fn close_when_idle(channel: Arc<Channel>, why: String) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        while channel.has_conns() && !channel.is_closed() && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        channel.close(why);
    });
}

/// If the last router list has a cheaper router than the one in use, fetch a fresh list
/// and move new dials to the cheapest online one that takes a Hello (as the SDKs return
/// to a better router once it is back). Streams in flight stay on the old channel, which
/// closes once they are done. Failures change nothing; so does a failover meanwhile.
async fn move_to_cheaper_router(live: &Live, service: &str) {
    let current = live.channel();
    let known = live
        .session
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .routers
        .clone();
    let Some(current_cost) = cost_of(&known, &current.router) else {
        return;
    };
    if !known.iter().any(|r| r.cost < current_cost) {
        return;
    }
    let api = live.api();
    let Ok(session) = live.controller.dial_session(&api, &live.service).await else {
        return;
    };
    let cheaper: Vec<EdgeRouter> = order_routers(session.routers.clone())
        .into_iter()
        .filter(|r| r.online && r.cost < current_cost)
        .collect();
    if cheaper.is_empty() {
        return;
    }
    let Ok(channel) = first_channel(&cheaper, &live.router_tls, &api.token, service).await else {
        return;
    };
    {
        let mut in_use = live.channel.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&in_use, &current) {
            // A failover replaced the channel meanwhile: keep its choice.
            channel.close("a failover chose another edge router".into());
            return;
        }
        *in_use = channel.clone();
        *live.session.lock().unwrap_or_else(|p| p.into_inner()) = session;
    }
    tracing::info!(tunnel = "ziti", service, from = %current.router, to = %channel.router,
        "moved to a cheaper edge router");
    live.switched.send_modify(|n| *n += 1);
    close_when_idle(current, format!("moved to edge router {}", channel.router));
}

/// The cost of router `name` in `routers`, if listed.
fn cost_of(routers: &[EdgeRouter], name: &str) -> Option<i64> {
    routers.iter().find(|r| r.name == name).map(|r| r.cost)
}

impl ZitiTunnel {
    fn live(&self) -> Option<Arc<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_live(&self, live: Option<Arc<Live>>) -> Option<Arc<Live>> {
        std::mem::replace(
            &mut *self.live.lock().unwrap_or_else(|p| p.into_inner()),
            live,
        )
    }

    async fn reauthenticate(&self, live: &Live) -> Result<(), String> {
        let version = live
            .controller
            .version()
            .await
            .map_err(|e| controller_reason(&e, "controller version"))?;
        let api = live
            .controller
            .authenticate(&version)
            .await
            .map_err(|e| controller_reason(&e, "authenticate"))?;
        *live.api.lock().unwrap_or_else(|p| p.into_inner()) = api;
        Ok(())
    }

    /// A fresh session (the router list may have changed), then any router but the one
    /// that just failed — or it too, as a last resort.
    async fn fail_over(&self, live: &Live, failed: &str) -> Result<(), String> {
        let api = live.api();
        let session = live
            .controller
            .dial_session(&api, &live.service)
            .await
            .map_err(|e| controller_reason(&e, "service session"))?;
        let mut routers: Vec<EdgeRouter> = order_routers(session.routers.clone());
        // The failed one last.
        routers.sort_by_key(|r| r.name == failed);
        let channel = first_channel(&routers, &live.router_tls, &api.token, &self.service).await?;
        *live.session.lock().unwrap_or_else(|p| p.into_inner()) = session;
        let replaced = std::mem::replace(
            &mut *live.channel.lock().unwrap_or_else(|p| p.into_inner()),
            channel,
        );
        // Usually the failed channel (closed already); a channel a move to a cheaper
        // router put in place meanwhile must not be left open.
        close_when_idle(replaced, format!("failed over from edge router {failed}"));
        live.switched.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn establish(&self, identity: &Identity) -> Result<Arc<Live>, String> {
        if let Some(problem) = identity.validity_problem(now_unix()) {
            return Err(problem);
        }
        let controller_tls = identity.tls_config(&[]).map_err(|e| e.to_string())?;
        let router_tls = identity
            .tls_config(&[b"ziti-edge"])
            .map_err(|e| e.to_string())?;
        let controller = Arc::new(Controller::new(&identity.controller, controller_tls));
        let version = controller
            .version()
            .await
            .map_err(|e| controller_reason(&e, "controller version"))?;
        let api = controller
            .authenticate(&version)
            .await
            .map_err(|e| controller_reason(&e, "authenticate"))?;
        let service = controller
            .service(&api, &self.service)
            .await
            .map_err(|e| controller_reason(&e, "service lookup"))?
            .ok_or_else(|| {
                format!(
                    "service '{}' is not visible to identity '{}' (no service policy grants it?)",
                    self.service, api.identity_name
                )
            })?;
        if !service.can_dial {
            return Err(format!(
                "identity '{}' may not dial service '{}' (no Dial policy)",
                api.identity_name, self.service
            ));
        }
        if !service.failing_posture.is_empty() {
            return Err(format!(
                "service '{}' requires posture checks ({}), which this client does not support yet",
                self.service,
                service.failing_posture.join(", ")
            ));
        }
        let session = controller
            .dial_session(&api, &service)
            .await
            .map_err(|e| controller_reason(&e, "service session"))?;
        let channel = first_channel(
            &order_routers(session.routers.clone()),
            &router_tls,
            &api.token,
            &self.service,
        )
        .await?;
        tracing::info!(tunnel = "ziti", service = %self.service, identity = %api.identity_name,
            controller = %controller.base(), version = %version.version, "Ziti context ready");
        Ok(Arc::new(Live {
            controller,
            api: Mutex::new(api),
            service,
            session: Mutex::new(session),
            renewing: tokio::sync::Mutex::new(()),
            channel: Mutex::new(channel),
            router_tls,
            broken: Notify::new(),
            switched: watch::channel(0).0,
            moving: AtomicBool::new(false),
        }))
    }

    async fn dial_once(
        &self,
        live: &Live,
        channel: &Arc<Channel>,
        host: &str,
        port: u16,
    ) -> Result<edge::ZitiStream, EdgeError> {
        let caller = live.api().identity_name;
        edge::connect(
            channel,
            &live.token(),
            &caller,
            Destination { host, port },
            live.service.encryption_required,
            DIAL_TIMEOUT,
        )
        .await
    }

    /// After a dial found `failed` broken: the channel a failover puts in its place,
    /// or None once this context is no longer ready (no router took over in time).
    async fn next_channel(&self, live: &Arc<Live>, failed: &Arc<Channel>) -> Option<Arc<Channel>> {
        let mut switched = live.switched.subscribe();
        let mut state = self.state.subscribe();
        let wait = async {
            loop {
                let current = live.channel();
                if !Arc::ptr_eq(&current, failed) {
                    return Some(current);
                }
                let same_context = self.live().is_some_and(|l| Arc::ptr_eq(&l, live));
                if !same_context || state.borrow_and_update().reason().is_some() {
                    return None;
                }
                tokio::select! {
                    r = switched.changed() => r.ok()?,
                    r = state.changed() => r.ok()?,
                }
            }
        };
        tokio::time::timeout(DIAL_TIMEOUT, wait)
            .await
            .ok()
            .flatten()
    }
}

impl Session for ZitiTunnel {
    /// One authenticated context: set it up, then watch it until something fails.
    async fn run(&self, link: &Link<'_>) -> String {
        let identity = self
            .identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let live = match self.establish(&identity).await {
            Ok(l) => l,
            Err(reason) => return reason,
        };
        self.set_live(Some(live.clone()));
        link.ready();
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut checks: u64 = 0;
        loop {
            let channel = live.channel();
            tokio::select! {
                _ = tick.tick() => {}
                _ = channel.wait_closed() => {}
                _ = live.broken.notified() => {}
            }
            if let Some(problem) = identity.validity_problem(now_unix()) {
                return problem;
            }
            // The controller: keeps the API session alive; losing it means losing
            // the ability to get sessions, so readiness follows it.
            checks += 1;
            let ask_controller =
                checks.is_multiple_of(CONTROLLER_CHECK_EVERY) || channel.is_closed();
            if ask_controller {
                match live.controller.refresh(&live.api()).await {
                    Ok(fresh) => *live.api.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
                    // Expired or deleted API session: authenticate again.
                    Err(e) if e.is_unauthorized() => {
                        if let Err(reason) = self.reauthenticate(&live).await {
                            return reason;
                        }
                    }
                    Err(e) => return controller_reason(&e, "controller"),
                }
            }
            // The router: a closed channel or an unanswered probe → fail over.
            let healthy = !channel.is_closed() && channel.probe(PROBE_TIMEOUT).await.is_ok();
            if !healthy {
                let why = channel.closed_reason().unwrap_or_else(|| {
                    format!("no answer to a latency probe within {PROBE_TIMEOUT:?}")
                });
                channel.close(why.clone());
                tracing::warn!(tunnel = "ziti", service = %self.service, router = %channel.router, reason = %why, "edge router lost; failing over");
                // Still ready while another router takes over (dials wait for it);
                // not ready once that takes longer than the grace, or fails.
                let fail_over = self.fail_over(&live, &channel.router);
                tokio::pin!(fail_over);
                let outcome = tokio::select! {
                    r = &mut fail_over => r,
                    _ = tokio::time::sleep(FAILOVER_GRACE) => {
                        link.degraded(format!(
                            "edge router {} lost ({why}); failing over",
                            channel.router
                        ));
                        fail_over.await
                    }
                };
                match outcome {
                    Ok(()) => {
                        tracing::info!(tunnel = "ziti", service = %self.service, router = %live.channel().router, "failed over to another edge router");
                        link.ready()
                    }
                    Err(reason) => return reason,
                }
            } else if checks.is_multiple_of(CHEAPER_ROUTER_CHECK_EVERY)
                && !live.moving.swap(true, Ordering::SeqCst)
            {
                // On its own task: a cheaper router that hangs must not hold up the
                // checks of the one in use.
                let (live, service) = (live.clone(), self.service.clone());
                tokio::spawn(async move {
                    move_to_cheaper_router(&live, &service).await;
                    live.moving.store(false, Ordering::SeqCst);
                });
            }
        }
    }

    async fn ended(&self, end: SessionEnd<'_>) {
        let old = self.set_live(None);
        match end {
            SessionEnd::Retrying(reason) => {
                if let Some(old) = old {
                    // New dials are refused from now on (the state says why); streams in
                    // flight finish on the old channel if it still works (an identity
                    // rotation, a controller outage), closed once idle.
                    close_when_idle(old.channel(), reason.to_string());
                }
                tracing::warn!(tunnel = "ziti", service = %self.service, reason = %reason, "Ziti session not ready");
            }
            SessionEnd::Stopped => {
                if let Some(old) = old {
                    old.channel().close("tunnel stopped".into());
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Tunnel for ZitiTunnel {
    async fn dial(&self, host: &str, port: u16) -> Result<TunnelStream, DialError> {
        if let Some(reason) = self.state.borrow().reason() {
            return Err(DialError::new(DialErrorKind::NotReady, reason));
        }
        let Some(live) = self.live() else {
            return Err(DialError::new(DialErrorKind::NotReady, "no Ziti session"));
        };
        let channel = live.channel();
        let token_used = live.token();
        let first = match self.dial_once(&live, &channel, host, port).await {
            // The router went away under this dial (its channel closed): the supervisor
            // fails over to another one; dial once more through it.
            Err(EdgeError::Channel(e)) if channel.is_closed() => {
                live.broken.notify_one();
                match self.next_channel(&live, &channel).await {
                    Some(next) => self.dial_once(&live, &next, host, port).await,
                    None => Err(EdgeError::Channel(e)),
                }
            }
            other => other,
        };
        let result = match first {
            // The router says the service session is no longer valid (expired,
            // deleted, policies changed): get a new one and try once more.
            // A dial that raced this one may have fetched it already.
            Err(e) if e.is_invalid_session() => {
                let renewing = live.renewing.lock().await;
                if live.token() == token_used {
                    match live
                        .controller
                        .dial_session(&live.api(), &live.service)
                        .await
                    {
                        Ok(s) => *live.session.lock().unwrap_or_else(|p| p.into_inner()) = s,
                        Err(_) => return Err(DialError::new(DialErrorKind::Io, e.to_string())),
                    }
                }
                drop(renewing);
                self.dial_once(&live, &live.channel(), host, port).await
            }
            other => other,
        };
        match result {
            Ok(stream) => Ok(Box::new(stream)),
            Err(EdgeError::Channel(e)) => {
                live.broken.notify_one();
                Err(DialError::new(DialErrorKind::NotReady, e.to_string()))
            }
            // Nothing hosts the service (its hosting side is down or not bound again
            // yet): nothing listens behind the far end, so the call fails closed, as
            // the SSH provider's does when no connector listens behind the relay.
            Err(e) if e.is_no_terminators() => {
                Err(DialError::new(DialErrorKind::NotReady, e.to_string()))
            }
            Err(e @ EdgeError::Refused { .. }) => {
                Err(DialError::new(DialErrorKind::Refused, e.to_string()))
            }
            Err(e) => Err(DialError::new(DialErrorKind::Io, e.to_string())),
        }
    }

    fn state(&self) -> watch::Receiver<TunnelState> {
        self.state.subscribe()
    }

    async fn reload(&self, config: TunnelConfig) -> Result<(), String> {
        let identity = load_identity(config.identity.as_ref())?;
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(identity);
        self.supervisor.reload();
        Ok(())
    }

    async fn stop(&self) {
        self.supervisor.stop();
    }
}
