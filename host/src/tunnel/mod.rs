//! Tunnel routing: which way a consumed namespace's calls go.
//!
//! Owns: the registry of tunnel providers compiled into this binary and the route
//! each consumes entry gets. Must not touch: request contents or credentials.
//! No `tunnel:` block → direct. A tunnel type with no provider in this build → the
//! route is unavailable: the capability still starts, readiness names the reason,
//! and every call fails at once without dialing anything (fail closed).

use ikanos_spec::model::Tunnel;

/// The route of one consumed namespace.
#[derive(Debug, Clone)]
pub enum Route {
    Direct,
    /// Calls fail at once with `tunnel-unavailable`; nothing is dialed.
    Unavailable {
        kind: String,
        reason: String,
    },
}

impl Route {
    /// `direct` or `tunnel:<type>`, for metrics and status.
    pub fn label(&self) -> String {
        match self {
            Route::Direct => "direct".to_string(),
            Route::Unavailable { kind, .. } => format!("tunnel:{kind}"),
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Route::Direct)
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            Route::Direct => None,
            Route::Unavailable { reason, .. } => Some(reason.clone()),
        }
    }
}

/// The tunnel providers compiled into this binary, by `tunnel.type`.
#[derive(Debug, Default)]
pub struct TunnelRegistry {
    providers: Vec<&'static str>,
}

impl TunnelRegistry {
    /// The providers of this build (none yet: each overlay lands in its own module).
    pub fn builtin() -> Self {
        TunnelRegistry {
            providers: Vec::new(),
        }
    }

    pub fn has_provider(&self, kind: &str) -> bool {
        self.providers.contains(&kind)
    }

    /// The message used in `validate`, `/health/ready` and call errors alike.
    pub fn missing_provider_message(kind: &str) -> String {
        format!("No Tunnel provider for type '{kind}'")
    }

    pub fn route(&self, tunnel: Option<&Tunnel>) -> Route {
        match tunnel {
            None => Route::Direct,
            Some(t) if !self.has_provider(&t.kind.value) => Route::Unavailable {
                kind: t.kind.value.clone(),
                reason: Self::missing_provider_message(&t.kind.value),
            },
            Some(t) => Route::Unavailable {
                kind: t.kind.value.clone(),
                reason: format!("the '{}' provider is not started", t.kind.value),
            },
        }
    }
}
