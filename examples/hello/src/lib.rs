//! The `hello` example capability: `GET /hello/{{name}}?greeting=…` (exposed operation
//! `say-hello`, see `../hello.ikanos.yaml`) answers `{"message":"Hello, <name>!"}`, or
//! `{"message":"<greeting>, <name>!"}` when the optional `greeting` query input is given.
//!
//! Owns: the component logic of the example; no consumed APIs.

use ikanos_guest::serde_json::json;
use ikanos_guest::{capability, Error, Request, Response};

fn say_hello(req: Request) -> Result<Response, Error> {
    let name = req.require("name")?;
    let greeting = req
        .input("greeting")
        .filter(|g| !g.trim().is_empty())
        .unwrap_or("Hello");
    Ok(Response::json(
        &json!({ "message": format!("{greeting}, {name}!") }),
    ))
}

capability! {
    "say-hello" => say_hello,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(req: Request) -> String {
        let out = say_hello(req).unwrap();
        assert_eq!(
            (out.status(), out.content_type()),
            (200, "application/json")
        );
        let v: ikanos_guest::serde_json::Value =
            ikanos_guest::serde_json::from_slice(out.body()).unwrap();
        v["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn greets() {
        assert_eq!(
            message(Request::new("say-hello").with_input("name", "Ada")),
            "Hello, Ada!"
        );
        assert_eq!(
            message(
                Request::new("say-hello")
                    .with_input("name", "Ada")
                    .with_input("greeting", "Hi")
            ),
            "Hi, Ada!"
        );
        assert!(matches!(
            say_hello(Request::new("say-hello")),
            Err(Error::InvalidInput(_))
        ));
    }
}
