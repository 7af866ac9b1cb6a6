//! The capability files the tests share, built with `capability` and written into a
//! temporary folder per test: the test CRM's consumes entry, the hostile component's
//! REST operations, the MCP test adapter, the bind file and its token. A test starts
//! from one of these and says what differs (a tunnel, another authentication, binds
//! from the environment, an import); only tests of broken YAML, and tests of the
//! shipped examples, write text themselves. Knows nothing of how the host runs a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use super::capability::*;
use super::write;

/// The test token. Tests assert it never shows up where it must not.
pub const TOKEN: &str = "tok-3f9c2b7d-never-log-me";

/// The display name of `hostile`'s capability.
pub const HOSTILE_DISPLAY: &str = "Hostile test capability";

/// The bind file every test capability reads its keys from by default.
pub const SECRETS_LOCATION: &str = "file:///./secrets.yaml";

/// The bearer token bound from secrets.yaml, as the test files declare it.
pub const BEARER_CRM_TOKEN: Authentication = Authentication::Bearer {
    token: "{{secrets.CRM_TOKEN}}",
};

impl Capability {
    /// The test header, binding `CRM_TOKEN` from secrets.yaml; nothing consumed or exposed.
    pub fn new(display: &str) -> Self {
        Capability::with_binds(
            display,
            Binds::Secrets {
                location: Some(SECRETS_LOCATION.into()),
                keys: vec![("CRM_TOKEN".into(), "crm-bearer-token".into())],
            },
        )
    }

    /// The hostile component's capability: the test CRM at `crm_base` consumed, every
    /// operation of the component exposed over REST under namespace `hostile`.
    pub fn hostile(display: &str, crm_base: &str) -> Self {
        Capability::new(display)
            .consumes(crm(crm_base))
            .exposes(hostile_rest())
    }

    /// The crm-sidecar component's capability: the test CRM at `crm_base` consumed, the
    /// MCP test adapter exposed over `transport`.
    pub fn mcp(display: &str, crm_base: &str, transport: McpTransport) -> Self {
        Capability::new(display)
            .consumes(crm(crm_base))
            .exposes(crm_mcp(transport))
    }

    /// Route the test CRM (`crm`) through `tunnel`.
    pub fn crm_tunnel(mut self, tunnel: Tunnel) -> Self {
        self.consumed("crm").tunnel = Some(tunnel);
        self
    }

    /// Authenticate to the test CRM (`crm`) with `authentication`.
    pub fn crm_authentication(mut self, authentication: Authentication) -> Self {
        self.consumed("crm").authentication = Some(authentication);
        self
    }
}

/// The MCP test adapter `crm-mcp`: the crm-sidecar component's operations as tools, a
/// static resource (a file and a folder template) and a prompt.
pub fn crm_mcp(transport: McpTransport) -> McpExposes {
    McpExposes {
        namespace: "crm-mcp",
        transport,
        authentication: None,
        body: MCP_TEST_ADAPTER,
    }
}

/// The MCP test adapter after its namespace and authentication.
const MCP_TEST_ADAPTER: &str = r#"      description: "Customer lookups for agents."
      ttlMs: 5000
      tools:
        list-customers:
          display: "List customers"
          description: "List customers, at most `limit`."
          inputParameters:
            limit:
              type: "integer"
              description: "Maximum number of customers."
              required: false
          hints:
            readOnly: true
          outputParameters:
            customers:
              type: "string"
              value: "[]"
        get-customer:
          display: "Get customer"
          description: "One customer by id."
          inputParameters:
            id:
              type: "string"
              description: "Customer id."
          hints:
            readOnly: true
            idempotent: true
            openWorld: false
          outputParameters:
            id:
              type: "string"
              value: "{{id}}"
        via-call:
          description: "Declared with call: the built-in declarative engine runs it."
          call: "crm.list-customers"
        customer-names:
          description: "Customer names, shaped by outputParameters (an outputSchema)."
          call: "crm.list-customers"
          outputParameters:
            - type: "array"
              mapping: "$"
              items:
                type: "object"
                properties:
                  name:
                    type: "string"
                    mapping: "$.name"
      resources:
        guide:
          display: "CRM guide"
          uri: "docs://crm/guide.md"
          description: "What the fields mean."
          mimeType: "text/markdown"
          location: "file:///./guide.md"
        notes:
          display: "Notes"
          uri: "notes://{name}"
          description: "One note by file name."
          location: "file:///./notes"
      prompts:
        customer-summary:
          display: "Customer summary"
          description: "Summarise one customer."
          arguments:
            id:
              description: "Customer id."
            tone:
              description: "Tone."
              required: false
          template:
            - role: "user"
              content: "Fetch customer {{id}} and summarise it in a {{tone}} tone."
"#;

/// The operations of the test CRM (tests/e2e/support/upstream.rs), with parameters in
/// every place and one fixed header.
pub const CRM_OPS: &[ConsumedOp] = &[
    ConsumedOp::new(
        "customers",
        "/customers",
        "list-customers",
        "GET",
        &[("limit", "query", None)],
    ),
    ConsumedOp::new(
        "customer",
        "/customers/{{id}}",
        "get-customer",
        "GET",
        &[("id", "path", None)],
    ),
    ConsumedOp::new(
        "echo",
        "/echo/{{section}}",
        "post-echo",
        "POST",
        &[
            ("section", "path", None),
            ("q", "query", None),
            ("X-Trace-Tag", "header", None),
            ("session", "cookie", None),
            ("Api-Version", "header", Some("2024-01")),
        ],
    ),
    ConsumedOp::new("slow", "/slow", "get-slow", "GET", &[("ms", "query", None)]),
    ConsumedOp::new("big", "/big", "get-big", "GET", &[("bytes", "query", None)]),
];

/// The consumes entry `crm` of the test CRM at `base`: bearer auth from the file bind.
pub fn crm(base: &str) -> HttpConsumes {
    HttpConsumes {
        namespace: "crm".into(),
        description: "The test CRM on loopback.".into(),
        base_uri: base.into(),
        tunnel: None,
        authentication: Some(BEARER_CRM_TOKEN),
        operations: CRM_OPS.to_vec(),
    }
}

/// Every operation of the `hostile` test component, exposed under namespace `hostile`.
pub fn hostile_rest() -> RestExposes {
    RestExposes {
        namespace: "hostile".into(),
        port: 0,
        authentication: None,
        operations: HOSTILE_OPS.to_vec(),
    }
}

/// Every operation of the `hostile` test component.
pub const HOSTILE_OPS: &[Op<'static>] = &[
    Op::new("/healthy", "healthy", "GET", &[]),
    Op::new(
        "/echo/{{id}}",
        "echo",
        "POST",
        &[
            ("id", "path", "string"),
            ("n", "query", "integer"),
            ("X-Tag", "header", "string"),
            ("flag", "query", "boolean"),
        ],
    ),
    Op::new("/spin", "spin", "GET", &[]),
    Op::new("/grow", "grow", "GET", &[]),
    Op::new("/trap", "trap", "GET", &[]),
    Op::new("/recurse", "recurse", "GET", &[]),
    Op::new(
        "/call",
        "call",
        "POST",
        &[
            ("ns", "query", "string"),
            ("op", "query", "string"),
            ("p_id", "query", "string"),
            ("p_limit", "query", "string"),
            ("p_section", "query", "string"),
            ("p_q", "query", "string"),
            ("p_X-Trace-Tag", "query", "string"),
            ("p_session", "query", "string"),
            ("p_Api-Version", "query", "string"),
            ("p_Authorization", "query", "string"),
            ("p_ms", "query", "string"),
            ("p_bytes", "query", "string"),
        ],
    ),
    Op::new(
        "/flood",
        "flood",
        "POST",
        &[
            ("ns", "query", "string"),
            ("op", "query", "string"),
            ("n", "query", "integer"),
        ],
    ),
    Op::new("/print", "print", "GET", &[]),
    Op::new("/env-probe", "env-probe", "GET", &[]),
    Op::new("/big", "big", "GET", &[("size", "query", "integer")]),
    Op::new("/status", "status", "GET", &[("code", "query", "integer")]),
    Op::new("/undeclared-op", "no-such-handler", "GET", &[]),
];

/// The `test-relay` tunnel to service `crm-api` through `relay`, with the identity bound
/// as `RELAY_ID`.
pub fn relay_tunnel(relay: &str, fallback: &str) -> Tunnel {
    Tunnel::new("test-relay")
        .set("service", "crm-api")
        .set("identity", "{{secrets.RELAY_ID}}")
        .set("fallback", fallback)
        .set("relay", relay)
}

/// secrets.yaml with the test token under `crm-bearer-token`.
pub fn secrets(dir: &Path) {
    secrets_with(dir, &[]);
}

/// A bind variable the tunnel tests add: (VAR, key in secrets.yaml, its value).
pub type ExtraBind<'a> = (&'a str, &'a str, String);

/// secrets.yaml with the test token and each extra bind's value.
pub fn secrets_with(dir: &Path, extra: &[ExtraBind]) {
    let mut values = format!("crm-bearer-token: \"{TOKEN}\"\n");
    for (_, key, value) in extra {
        let _ = writeln!(values, "{key}: \"{value}\"");
    }
    write(dir, "secrets.yaml", &values);
}

/// The hostile capability against the test CRM at `base` as hostile.ikanos.yaml in
/// `dir`, with secrets.yaml beside it.
pub fn hostile(dir: &Path, base: &str) -> PathBuf {
    secrets(dir);
    Capability::hostile(HOSTILE_DISPLAY, base).write(dir, "hostile.ikanos.yaml")
}

/// The hostile capability with `tunnel` on `crm` and one more bind key per extra bind.
pub fn hostile_tunnelled_capability(
    display: &str,
    base: &str,
    tunnel: Tunnel,
    extra: &[ExtraBind],
) -> Capability {
    extra.iter().fold(
        Capability::hostile(display, base)
            .crm_tunnel(tunnel)
            .exposes(Exposes::Literal(DECLARATIVE_CRM.into())),
        |c, (var, key, _)| c.bind_key(var, key),
    )
}

/// A REST adapter `crm-declarative` whose `GET /customers` is declared the upstream way
/// (`call` + a JSONPath mapping): the built-in engine runs it, through the same route
/// (and tunnel) as the component's calls.
pub const DECLARATIVE_CRM: &str = r#"    - type: "rest"
      address: "127.0.0.1"
      port: 0
      namespace: "crm-declarative"
      resources:
        customers:
          path: "/customers"
          description: "Customer names, shaped by the declarative engine."
          operations:
            list-names:
              method: "GET"
              description: "Every customer's id and name."
              call: "crm.list-customers"
              outputParameters:
                - type: "array"
                  mapping: "$"
                  items:
                    type: "object"
                    properties:
                      id:
                        type: "string"
                        mapping: "$.id"
                      name:
                        type: "string"
                        mapping: "$.name"
"#;

/// `hostile_tunnelled_capability` written as `dir/file_name` with secrets.yaml beside it.
pub fn hostile_tunnelled(
    dir: &Path,
    file_name: &str,
    display: &str,
    base: &str,
    tunnel: Tunnel,
    extra: &[ExtraBind],
) -> PathBuf {
    secrets_with(dir, extra);
    hostile_tunnelled_capability(display, base, tunnel, extra).write(dir, file_name)
}
