//! __NAME__: the component of an Ikanos capability (made by `ikanos new`).
//!
//! - `hello` (`GET /hello/{{name}}`) answers a greeting by itself;
//! - `get-customer` (`GET /customers/{{id}}`) calls the consumed operation
//!   `api.get-customer`, which the capability file declares; the host adds the
//!   token and routes the call.

use ikanos_guest::serde_json::{json, Value};
use ikanos_guest::{capability, consumes, Error, Request, Response};

fn hello(req: Request) -> Result<Response, Error> {
    let name = req.require("name")?;
    Ok(Response::json(&json!({ "message": format!("Hello, {name}!") })))
}

fn get_customer(req: Request) -> Result<Response, Error> {
    let id = req.require("id")?;
    let upstream = consumes::call("api", "get-customer").param("id", id).send()?;
    if upstream.status == 404 {
        return Err(Error::NotFound(format!("the API has no customer {id}")));
    }
    let customer: Value = upstream.error_for_status()?.json()?;
    Ok(Response::json(&customer))
}

capability! {
    "hello" => hello,
    "get-customer" => get_customer,
}
