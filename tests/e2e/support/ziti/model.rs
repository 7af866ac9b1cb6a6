//! The test network's data, shared in-process by the controller and the router the
//! way a real controller pushes it to its routers: identities (with their certificates
//! and revocation), services, Dial/Bind grants, API sessions (with expiry) and service
//! sessions, enrollments, and what the router observed (counters, relayed bytes).
//!
//! Owns the data and the rules about it (is this token valid, may this identity dial);
//! no sockets, no wire formats.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Dial,
    Bind,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Dial => "Dial",
            Permission::Bind => "Bind",
        }
    }
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "Dial" => Some(Permission::Dial),
            "Bind" => Some(Permission::Bind),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub name: String,
    /// DER of every certificate this identity may authenticate with (issued at
    /// creation or by enrollment).
    pub certs: Vec<Vec<u8>>,
    pub revoked: bool,
    pub grants: BTreeSet<(String, Permission)>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub encryption_required: bool,
    pub updated_at: SystemTime,
}

#[derive(Debug, Clone)]
pub struct ApiSession {
    pub id: String,
    pub token: String,
    pub identity_id: String,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

#[derive(Debug, Clone)]
pub struct ServiceSession {
    pub id: String,
    pub token: String,
    pub api_session_token: String,
    pub identity_id: String,
    pub service_id: String,
    pub kind: Permission,
}

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub token: String,
    pub identity_id: String,
    pub expires_at: SystemTime,
}

/// Why a token was refused; the router and the controller turn these into the
/// errors the real ones send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownToken,
    Expired,
    Revoked,
    WrongService,
}

#[derive(Default)]
pub struct Observed {
    pub hellos_accepted: usize,
    pub hellos_refused: usize,
    pub binds: usize,
    pub dials: usize,
    pub dials_relayed: usize,
    /// Dials relayed to a host bound at another router than the one dialed.
    pub dials_across_routers: usize,
    pub dials_refused: Vec<String>,
    /// The AppData of each Connect (what a host with `forwardAddress` dials), as text.
    pub app_data: Vec<String>,
    /// Data messages with the FIN flag relayed (half-closes).
    pub fins: usize,
    /// StateClosed relayed from one side of a circuit to the other.
    pub closes: usize,
    /// Data bodies the router relayed, in order, both directions: the first
    /// `RELAYED_RECORD_LIMIT` bytes (enough for every test; a benchmark relays GiBs).
    pub relayed: Vec<u8>,
    /// Controller requests as `METHOD path` (query included), in order.
    pub requests: Vec<String>,
}

pub const RELAYED_RECORD_LIMIT: usize = 16 << 20;

pub struct Model {
    next_id: u64,
    pub identities: BTreeMap<String, Identity>,
    pub services: BTreeMap<String, Service>,
    pub api_sessions: BTreeMap<String, ApiSession>,
    pub sessions: BTreeMap<String, ServiceSession>,
    pub enrollments: BTreeMap<String, Enrollment>,
    pub api_session_ttl: Duration,
    pub last_change: SystemTime,
    pub observed: Observed,
}

impl Model {
    pub fn new() -> Model {
        Model {
            next_id: 1,
            identities: BTreeMap::new(),
            services: BTreeMap::new(),
            api_sessions: BTreeMap::new(),
            sessions: BTreeMap::new(),
            enrollments: BTreeMap::new(),
            api_session_ttl: Duration::from_secs(30 * 60),
            last_change: SystemTime::now(),
            observed: Observed::default(),
        }
    }

    /// A fresh id with a recognisable prefix (`id-3`, `svc-4`, …).
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// A fresh random secret (API session and service session tokens, OTTs).
    pub fn new_token(&mut self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    pub fn identity_by_name(&self, name: &str) -> Option<&Identity> {
        self.identities.values().find(|i| i.name == name)
    }

    pub fn service_by_name(&self, name: &str) -> Option<&Service> {
        self.services.values().find(|s| s.name == name)
    }

    /// The id of identity `name`; a test naming one it never created is a bug in it.
    pub fn identity_id(&self, name: &str) -> String {
        let identity = self.identity_by_name(name);
        identity
            .unwrap_or_else(|| panic!("no identity {name}"))
            .id
            .clone()
    }

    /// The id of service `name` (panics like `identity_id`).
    pub fn service_id(&self, name: &str) -> String {
        let service = self.service_by_name(name);
        service
            .unwrap_or_else(|| panic!("no service {name}"))
            .id
            .clone()
    }

    pub fn identity_by_cert(&self, der: &[u8]) -> Option<&Identity> {
        self.identities
            .values()
            .find(|i| i.certs.iter().any(|c| c == der))
    }

    pub fn touch(&mut self) {
        self.last_change = SystemTime::now();
    }

    /// A new API session for `identity_id` (what certificate authentication yields);
    /// its token.
    pub fn open_api_session(&mut self, identity_id: &str) -> String {
        let token = self.new_token();
        let id = self.new_id("apisess-");
        let now = SystemTime::now();
        let session = ApiSession {
            id,
            token: token.clone(),
            identity_id: identity_id.to_string(),
            created_at: now,
            expires_at: now + self.api_session_ttl,
        };
        self.api_sessions.insert(token.clone(), session);
        token
    }

    /// A new `kind` session on `service_id` under API session `api_token` (the caller
    /// checked the grant); its token.
    pub fn open_session(&mut self, api_token: &str, service_id: &str, kind: Permission) -> String {
        let token = self.new_token();
        let id = self.new_id("sess-");
        let identity_id = self.api_sessions[api_token].identity_id.clone();
        let session = ServiceSession {
            id,
            token: token.clone(),
            api_session_token: api_token.to_string(),
            identity_id,
            service_id: service_id.to_string(),
            kind,
        };
        self.sessions.insert(token.clone(), session);
        token
    }

    /// The API session behind `token`, if it is live and its identity is not revoked.
    pub fn live_api_session(&self, token: &str) -> Result<&ApiSession, Refusal> {
        let s = self.api_sessions.get(token).ok_or(Refusal::UnknownToken)?;
        if SystemTime::now() >= s.expires_at {
            return Err(Refusal::Expired);
        }
        match self.identities.get(&s.identity_id) {
            Some(i) if !i.revoked => Ok(s),
            _ => Err(Refusal::Revoked),
        }
    }

    /// The service session behind `token` if it is of `kind`, its API session is live
    /// and the identity still holds the grant.
    pub fn live_session(&self, token: &str, kind: Permission) -> Result<&ServiceSession, Refusal> {
        let s = self.sessions.get(token).ok_or(Refusal::UnknownToken)?;
        if s.kind != kind {
            return Err(Refusal::WrongService);
        }
        self.live_api_session(&s.api_session_token)?;
        let identity = self
            .identities
            .get(&s.identity_id)
            .ok_or(Refusal::Revoked)?;
        if !identity.grants.contains(&(s.service_id.clone(), kind)) {
            return Err(Refusal::Revoked);
        }
        Ok(s)
    }

    /// Permissions `identity_id` holds on `service_id`.
    pub fn permissions(&self, identity_id: &str, service_id: &str) -> Vec<Permission> {
        let Some(i) = self.identities.get(identity_id) else {
            return Vec::new();
        };
        [Permission::Dial, Permission::Bind]
            .into_iter()
            .filter(|p| i.grants.contains(&(service_id.to_string(), *p)))
            .collect()
    }
}
