//! The `crm-sidecar` example capability (reverse-tunnel guide, Path B): the private CRM
//! API is reached through a sidecar that listens on 127.0.0.1:18081 (for example
//! `ssh -L 18081:crm.internal:443 …`, or `mock_crm.py` for a local demo). The
//! capability file (`../crm-sidecar.ikanos.yaml`) declares the consumed `crm`
//! operations and the bearer token; the host adds the token, so this code never sees it.
//!
//! Owns: the component logic.
//! - `list-customers` (`GET /customers?limit=…`) calls `crm.list-customers`, passing
//!   `limit` only when the caller gave one (it must be a non-negative integer).
//! - `get-customer` (`GET /customers/{{id}}`) calls `crm.get-customer`.
//!
//! Both return the upstream's JSON as is. Upstream 404 becomes `not-found` (HTTP 404),
//! any other non-2xx or a failed call becomes `upstream` (HTTP 502) — except a tunnel
//! that is down, which becomes `unavailable` (HTTP 503) — and a body that is not JSON
//! becomes `upstream` too.

use ikanos_guest::serde_json::Value;
use ikanos_guest::{capability, consumes, log, Error, Request, Response, UpstreamResponse};

fn list_customers(req: Request) -> Result<Response, Error> {
    let mut call = consumes::call("crm", "list-customers");
    if let Some(limit) = req.input_as::<u32>("limit")? {
        call = call.param("limit", limit);
    }
    let customers: Value = checked(call.send()?, "customers")?.json()?;
    Ok(Response::json(&customers))
}

fn get_customer(req: Request) -> Result<Response, Error> {
    let id = req.require("id")?;
    let upstream = consumes::call("crm", "get-customer")
        .param("id", id)
        .send()?;
    let customer: Value = checked(upstream, &format!("customer `{id}`"))?.json()?;
    Ok(Response::json(&customer))
}

/// 404 → [`Error::NotFound`] naming `what`; other non-2xx → [`Error::Upstream`].
fn checked(upstream: UpstreamResponse, what: &str) -> Result<UpstreamResponse, Error> {
    if upstream.status == 404 {
        return Err(Error::NotFound(format!("the CRM has no {what}")));
    }
    if !upstream.is_success() {
        log::warn!("the CRM answered HTTP {} for {what}", upstream.status);
    }
    upstream.error_for_status()
}

capability! {
    "list-customers" => list_customers,
    "get-customer" => get_customer,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16) -> UpstreamResponse {
        UpstreamResponse {
            status,
            headers: vec![],
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn maps_upstream_statuses() {
        assert!(checked(upstream(200), "x").is_ok());
        assert!(matches!(
            checked(upstream(404), "x"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            checked(upstream(401), "x"),
            Err(Error::Upstream(_))
        ));
        assert!(matches!(
            checked(upstream(500), "x"),
            Err(Error::Upstream(_))
        ));
    }

    #[test]
    fn rejects_a_bad_limit_before_calling_out() {
        let req = Request::new("list-customers").with_input("limit", "ten");
        assert!(matches!(list_customers(req), Err(Error::InvalidInput(_))));
    }
}
