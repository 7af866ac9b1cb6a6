//! The model of a REST resource's `forward` (upstream's `RestServerForwardSpec`): a
//! pass-through proxy to a consumed namespace.
//!
//! Owns: the target and the headers the caller may pass on. Must not touch: how the
//! request is sent (the host's outbound path).

use super::Spanned;

#[derive(Debug, Clone)]
pub struct Forward {
    /// `targetNamespace`: a consumes entry (checked at load).
    pub target: Spanned<String>,
    /// `trustedHeaders`: the inbound headers copied to the upstream request.
    pub trusted_headers: Vec<Spanned<String>>,
}

impl Forward {
    /// Headers the host never forwards, trusted or not: they describe one connection or
    /// the message framing, not the request (RFC 9110 §7.6.1), or name the host. Load
    /// warns about them in `trustedHeaders`; the host drops them when forwarding.
    pub const NEVER_FORWARDED: &'static [&'static str] = &[
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
}
