//! Broken capability files: each test pins the exact `file:line:col: message` output.

mod common;

use std::path::Path;

use ikanos_spec::model::{Exposes, Handler};
use ikanos_spec::{load_str, Severity};

const FILE: &str = "crm.ikanos.yaml";

/// A valid capability; tests break one thing at a time. Line numbers matter.
const BASE: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: CRM
  description: CRM adapter
binds:
  - namespace: secrets
    location: "file:///./secrets.yaml"
    keys:
      CRM_TOKEN: crm-bearer-token
capability:
  consumes:
    - type: http
      namespace: crm
      baseUri: "https://crm.example.com/api"
      authentication:
        type: bearer
        token: "{{secrets.CRM_TOKEN}}"
      resources:
        customers:
          path: /customers/{{id}}
          operations:
            get-customer:
              method: GET
              inputParameters:
                id:
                  in: path
  exposes:
    - type: rest
      namespace: crm-api
      port: 8080
      resources:
        customer:
          path: /customers/{id}
          inputParameters:
            id:
              in: path
              type: string
              description: Customer id
          operations:
            get:
              method: GET
              call: crm.get-customer
              with:
                id: "{{id}}"
"#;

fn edit(from: &str, to: &str) -> String {
    common::edit(BASE, from, to)
}

/// The load warnings of a file that loads, as `line:col: message`.
fn warnings_of(text: &str) -> Vec<String> {
    let l = load_str(Path::new(FILE), text).expect("warnings only");
    l.warnings
        .iter()
        .map(|w| format!("{}: {}", w.pos, w.message))
        .collect()
}

fn errors(text: &str) -> String {
    common::errors(FILE, text)
}

#[test]
fn base_fixture_loads_cleanly() {
    let l = load_str(Path::new(FILE), BASE).expect("BASE loads");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.capability;
    assert_eq!(c.version.value, "1.0.0-beta5");
    assert_eq!(
        c.consumes[0].base_uri.value.as_str(),
        "https://crm.example.com/api"
    );
    let Exposes::Rest(r) = &c.exposes[0] else {
        panic!("rest expected")
    };
    assert_eq!(r.port.value, 8080);
    assert_eq!(
        r.resources[0].operations[0].handler,
        Handler::Call(r.resources[0].operations[0].handler_call())
    );
    assert!(c.find_operation("crm", "get-customer").is_some());
    assert!(c.find_operation("crm", "nope").is_none());
}

/// Test-only accessor so the assertion above reads well.
trait CallOf {
    fn handler_call(&self) -> ikanos_spec::model::Spanned<String>;
}
impl CallOf for ikanos_spec::model::ExposedOperation {
    fn handler_call(&self) -> ikanos_spec::model::Spanned<String> {
        match &self.handler {
            Handler::Call(c) => {
                assert_eq!(c.value, "crm.get-customer");
                assert_eq!((c.pos.line, c.pos.col), (42, 21));
                c.clone()
            }
            other => panic!("expected a call handler, got {other:?}"),
        }
    }
}

#[test]
fn unknown_key_with_suggestion() {
    let out = errors(&edit(
        "              method: GET\n              inputParameters:",
        "              methd: GET\n              inputParameters:",
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:23:15: missing required key 'method' in capability.consumes[0].resources.customers.operations.get-customer\n\
         crm.ikanos.yaml:23:15: unknown key 'methd' in capability.consumes[0].resources.customers.operations.get-customer (did you mean 'method'?)"
    );
}

#[test]
fn unknown_root_and_info_keys() {
    let out = errors(&edit(
        "  description: CRM adapter\n",
        "  description: CRM adapter\n  colour: blue\n",
    ));
    assert_eq!(out, "crm.ikanos.yaml:5:3: unknown key 'colour' in info");
}

#[test]
fn bad_base_uri() {
    let out = errors(&edit(
        r#"baseUri: "https://crm.example.com/api""#,
        r#"baseUri: "ftp://x""#,
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:14:16: capability.consumes[0].baseUri: 'ftp://x' is not an http(s) URL"
    );
    let out = errors(&edit(
        r#""https://crm.example.com/api""#,
        r#""https://crm.example.com/api?v=1""#,
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:14:16: capability.consumes[0].baseUri: 'https://crm.example.com/api?v=1' has a query string; declare query values as inputParameters with in: query"
    );
    let out = errors(&edit(
        r#""https://crm.example.com/api""#,
        r#""https://crm.example.com/{{v}}""#,
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:14:16: capability.consumes[0].baseUri: 'https://crm.example.com/{{v}}' holds a template; put placeholders in resource paths"
    );
}

#[test]
fn trailing_slash_base_uri_is_fine() {
    let text = edit(
        r#""https://crm.example.com/api""#,
        r#""https://crm.example.com/""#,
    );
    assert!(load_str(Path::new(FILE), &text).is_ok());
}

#[test]
fn duplicate_consumes_namespace() {
    let text = edit(
        "  exposes:\n",
        "    - type: http\n      namespace: crm\n      baseUri: http://localhost:9000\n  exposes:\n",
    );
    let out = errors(&text);
    assert_eq!(
        out,
        "crm.ikanos.yaml:28:18: capability.consumes[1].namespace: consumes namespace 'crm' is already declared at crm.ikanos.yaml:13:18"
    );
}

#[test]
fn duplicate_exposes_namespace_and_port() {
    let text = format!(
        "{BASE}    - type: mcp\n      namespace: crm-api\n      port: 8080\n      tools:\n        t:\n          description: d\n          call: crm.get-customer\n          with:\n            id: x\n"
    );
    let out = errors(&text);
    assert_eq!(
        out,
        "crm.ikanos.yaml:46:18: capability.exposes[1].namespace: exposes namespace 'crm-api' is already declared at crm.ikanos.yaml:29:18\n\
         crm.ikanos.yaml:47:13: capability.exposes[1].port: (default address):8080 is already used by capability.exposes[0] at crm.ikanos.yaml:30:13"
    );
}

/// Upstream's `ikanos-namespaces-unique` (severity error): one namespace for a consumes
/// and an exposes entry (`erp` on both) is refused, at the second one.
#[test]
fn a_namespace_shared_by_consumes_and_exposes_is_refused() {
    let text = format!(
        "{BASE}    - type: mcp\n      namespace: crm\n      port: 8081\n      tools:\n        t:\n          description: d\n          call: crm.get-customer\n          with:\n            id: x\n"
    );
    let out = errors(&text);
    assert_eq!(
        out,
        "crm.ikanos.yaml:46:18: capability.exposes[1].namespace: namespace 'crm' is already used by a consumes entry at crm.ikanos.yaml:13:18; namespaces must be unique across binds, consumes and exposes (ikanos-namespaces-unique)"
    );
}

/// Keys upstream files carry that this host does not act on are named in a warning at
/// the key, never dropped silently.
#[test]
fn keys_this_host_does_not_apply_are_warned_about_at_their_position() {
    let base = edit(
        "      port: 8080\n",
        "      port: 8080\n      maxBinarySize: 1024\n",
    );
    let text = format!("{base}    - type: control\n      port: 0\n      management:\n        info: true\n        reload: true\n        logs: true\n      observability:\n        traces:\n          sampling: 0.5\n");
    let l = load_str(Path::new(FILE), &text).expect("warnings only");
    let warnings = warnings_of(&text);
    // maxBinarySize is applied (by the declarative engine), and so is observability
    // (by the trace pipeline): neither is warned about.
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    let Exposes::Rest(rest) = &l.capability.exposes[0] else {
        panic!("rest expected")
    };
    assert_eq!(rest.max_binary_size.as_ref().map(|m| m.value), Some(1024));
    assert!(
        warnings.iter().any(
            |w| w.contains("capability.exposes[1].management.reload: not applied by this host")
        ),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("capability.exposes[1].management.logs: not applied by this host")),
        "{warnings:#?}"
    );
}

#[test]
fn port_zero_never_conflicts() {
    let base = edit("      port: 8080\n", "      port: 0\n");
    let text = format!("{base}    - type: control\n      port: 0\n");
    let l = load_str(Path::new(FILE), &text).expect("port 0 twice is fine");
    assert!(matches!(l.capability.exposes[1], Exposes::Control(_)));
}

#[test]
fn wildcard_address_conflicts_with_loopback() {
    let text = format!("{BASE}    - type: control\n      address: 0.0.0.0\n      port: 8080\n");
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:47:13: capability.exposes[1].port: 0.0.0.0:8080 is already used by capability.exposes[0] at crm.ikanos.yaml:30:13"
    );
    // A different concrete address on the same port is fine.
    let text = format!("{BASE}    - type: control\n      address: 10.1.2.3\n      port: 8080\n");
    assert!(load_str(Path::new(FILE), &text).is_ok());
}

#[test]
fn path_parameter_without_value() {
    let text = edit(
        "              inputParameters:\n                id:\n                  in: path\n",
        "",
    )
    .replace("              with:\n                id: \"{{id}}\"\n", "");
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:20:17: capability.consumes[0].resources.customers.path: path parameter 'id' in '/customers/{{id}}' has no value: declare inputParameters.id with in: path (operation 'get-customer')"
    );
}

#[test]
fn path_parameter_supplied_by_every_caller_is_fine() {
    // Upstream samples rely on `with:` of the calling operation to fill placeholders.
    let text = edit(
        "              inputParameters:\n                id:\n                  in: path\n",
        "",
    );
    assert!(load_str(Path::new(FILE), &text).is_ok());
}

#[test]
fn path_parameter_declared_elsewhere() {
    let text = edit(
        "                  in: path\n",
        "                  in: query\n",
    );
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:20:17: capability.consumes[0].resources.customers.path: path parameter 'id' in '/customers/{{id}}' is declared with in: query (operation 'get-customer'); declare inputParameters.id with in: path"
    );
}

#[test]
fn exposed_path_parameter_not_declared() {
    let text = edit(
        "          inputParameters:\n            id:\n              in: path\n              type: string\n              description: Customer id\n",
        "",
    )
    .replace("                id: \"{{id}}\"\n", "                id: x\n");
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:33:17: capability.exposes[0].resources.customer.path: path parameter 'id' in '/customers/{id}' is not declared: add inputParameters.id with in: path (operation 'get')"
    );
}

#[test]
fn unresolvable_references() {
    let out = errors(&edit("{{secrets.CRM_TOKEN}}", "{{secrets.NOPE}}"));
    assert_eq!(
        out,
        "crm.ikanos.yaml:17:16: capability.consumes[0].authentication.token: unresolvable reference '{{secrets.NOPE}}': bind 'secrets' declares no key 'NOPE'"
    );
    let out = errors(&edit("{{secrets.CRM_TOKEN}}", "{{secret.CRM_TOKEN}}"));
    assert_eq!(
        out,
        "crm.ikanos.yaml:17:16: capability.consumes[0].authentication.token: unresolvable reference '{{secret.CRM_TOKEN}}': no bind namespace 'secret' (did you mean 'secrets'?)"
    );
    let out = errors(&edit("{{secrets.CRM_TOKEN}}", "Bearer {{CRM_TOKN}}"));
    assert_eq!(
        out,
        "crm.ikanos.yaml:17:16: capability.consumes[0].authentication.token: unresolvable reference '{{CRM_TOKN}}': no bind declares key 'CRM_TOKN' (did you mean 'CRM_TOKEN'?)"
    );
}

#[test]
fn flat_bind_reference_and_param_reference_resolve() {
    let text = edit("{{secrets.CRM_TOKEN}}", "{{CRM_TOKEN}}").replace(
        "                  in: path\n",
        "                  in: path\n                trace:\n                  in: header\n                  value: \"id-{{id}}\"\n",
    );
    assert!(load_str(Path::new(FILE), &text).is_ok());
}

#[test]
fn param_value_reference_to_unknown_name() {
    let text = edit("                  in: path\n", "                  in: path\n                trace:\n                  in: header\n                  value: \"{{ident}}\"\n");
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:29:26: capability.consumes[0].resources.customers.operations.get-customer.inputParameters.trace.value: unresolvable reference '{{ident}}': 'ident' is neither a bind key nor a parameter of this operation"
    );
}

#[test]
fn unknown_call_targets() {
    let out = errors(&edit("call: crm.get-customer", "call: crm.get-customr"));
    assert_eq!(
        out,
        "crm.ikanos.yaml:42:21: capability.exposes[0].resources.customer.operations.get.call: 'crm.get-customr': consumes namespace 'crm' has no operation 'get-customr' (did you mean 'get-customer'?)"
    );
    let out = errors(&edit("call: crm.get-customer", "call: crn.get-customer"));
    assert_eq!(
        out,
        "crm.ikanos.yaml:42:21: capability.exposes[0].resources.customer.operations.get.call: 'crn.get-customer' calls consumes namespace 'crn', which is not declared (declared: crm) (did you mean 'crm'?)"
    );
}

#[test]
fn yaml_syntax_error() {
    let out = errors("ikanos: \"1.0.0-beta5\"\ncapability:\n  consumes: [a, b\n");
    assert_eq!(out, "crm.ikanos.yaml:4:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'");
}

#[test]
fn duplicate_yaml_key() {
    let out = errors(&edit(
        "      namespace: crm\n",
        "      namespace: crm\n      namespace: crm2\n",
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:14:7: YAML syntax error: duplicated key in mapping"
    );
}

#[test]
fn unsupported_version() {
    let out = errors(&edit(r#"ikanos: "1.0.0-beta5""#, r#"ikanos: "2.0.0""#));
    assert_eq!(
        out,
        "crm.ikanos.yaml:1:9: ikanos: unsupported version '2.0.0' (supported: 1.0.0-alpha3, 1.0.0-alpha4, 1.0.0-alpha5, 1.0.0-beta1, 1.0.0-beta2, 1.0.0-beta3, 1.0.0-beta4, 1.0.0-beta5)"
    );
}

#[test]
fn missing_required_keys_and_every_problem_reported_in_order() {
    let text = edit("      namespace: crm\n", "")
        .replace(
            "              method: GET\n              call",
            "              method: FETCH\n              call",
        )
        .replace("      port: 8080\n", "      port: 70000\n");
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:12:7: missing required key 'namespace' in capability.consumes[0]\n\
         crm.ikanos.yaml:29:13: capability.exposes[0].port: 70000 is not a port number (0-65535; 0 picks a free port)\n\
         crm.ikanos.yaml:40:23: capability.exposes[0].resources.customer.operations.get.method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE\n\
         crm.ikanos.yaml:41:21: capability.exposes[0].resources.customer.operations.get.call: 'crm.get-customer' calls consumes namespace 'crm', which is not declared (declared: none)"
    );
}

#[test]
fn non_string_value_hint() {
    let out = errors(&edit(
        "      resources:\n        customers:",
        "      description: 42\n      resources:\n        customers:",
    ));
    assert_eq!(out, "crm.ikanos.yaml:18:20: capability.consumes[0].description: expected a string, found an integer (quote it: \"42\")");
}

#[test]
fn identifiers_must_be_kebab() {
    let out = errors(
        &edit("            get-customer:\n", "            get_customer:\n")
            .replace("crm.get-customer", "crm.get_customer"),
    );
    assert_eq!(
        out,
        "crm.ikanos.yaml:22:13: capability.consumes[0].resources.customers.operations: operation name 'get_customer' must match ^[a-zA-Z0-9-]+$ (letters, digits, '-')\n\
         crm.ikanos.yaml:42:21: capability.exposes[0].resources.customer.operations.get.call: 'crm.get_customer' must be 'namespace.name'"
    );
}

#[test]
fn consumed_operation_names_unique_per_namespace() {
    let text = edit(
        "  exposes:\n",
        "        other:\n          path: /other\n          operations:\n            get-customer:\n              method: GET\n  exposes:\n",
    );
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:30:13: capability.consumes[0].resources.other.operations: operation 'get-customer' is also declared in resource 'customers' at crm.ikanos.yaml:22:13; operation names must be unique within consumes namespace 'crm'"
    );
}

#[test]
fn apikey_placement() {
    let auth = "        type: bearer\n        token: \"{{secrets.CRM_TOKEN}}\"\n";
    let ok = edit(
        auth,
        "        type: apikey\n        key: X-Key\n        value: \"{{secrets.CRM_TOKEN}}\"\n",
    );
    let l = load_str(Path::new(FILE), &ok).expect("apikey without placement");
    assert!(matches!(
        l.capability.consumes[0].authentication,
        Some(ikanos_spec::model::Authentication::ApiKey {
            placement: ikanos_spec::model::ApiKeyPlacement::Header,
            ..
        })
    ));
    let bad = edit(auth, "        type: apikey\n        key: X-Key\n        value: \"{{secrets.CRM_TOKEN}}\"\n        placement: cookie\n");
    assert_eq!(errors(&bad), "crm.ikanos.yaml:19:20: capability.consumes[0].authentication.placement: 'cookie' is not one of header, query");
}

#[test]
fn tunnels() {
    let at = "      resources:\n        customers:";
    let ziti = edit(at, "      tunnel:\n        type: ziti\n        identity: \"{{secrets.CRM_TOKEN}}\"\n        fallback: never\n        relay: x\n      resources:\n        customers:");
    assert_eq!(
        errors(&ziti),
        "crm.ikanos.yaml:19:9: missing required key 'service' in capability.consumes[0].tunnel\n\
         crm.ikanos.yaml:21:19: capability.consumes[0].tunnel.fallback: 'never' is not one of fail, direct\n\
         crm.ikanos.yaml:22:9: unknown key 'relay' in capability.consumes[0].tunnel"
    );
    let ssh = edit(at, "      tunnel:\n        type: ssh\n        relay: bastion.example.com\n        port: 22\n      resources:\n        customers:");
    let l = load_str(Path::new(FILE), &ssh).expect("other tunnel types keep extra keys");
    let t = l.capability.consumes[0].tunnel.as_ref().expect("tunnel");
    assert_eq!(t.kind.value, "ssh");
    assert_eq!(t.fallback, ikanos_spec::model::Fallback::Fail);
    let extra: Vec<(&str, &serde_json::Value)> =
        t.extra.iter().map(|(k, v)| (k.value.as_str(), v)).collect();
    assert_eq!(
        extra,
        vec![
            ("relay", &serde_json::json!("bastion.example.com")),
            ("port", &serde_json::json!(22))
        ]
    );
}

#[test]
fn fallback_direct_warns_on_public_host() {
    let text = edit(
        "      resources:\n        customers:",
        "      tunnel:\n        type: ziti\n        service: crm\n        identity: /etc/ziti/id.json\n        fallback: direct\n      resources:\n        customers:",
    );
    let l = load_str(Path::new(FILE), &text).expect("a warning only");
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec!["crm.ikanos.yaml:22:19: warning: capability.consumes[0].tunnel.fallback: 'direct' sends traffic for https://crm.example.com/api over the open network when the tunnel is down"]
    );
    assert_eq!(l.warnings[0].severity, Severity::Warning);
}

#[test]
fn handlers() {
    let ops = "              call: crm.get-customer\n              with:\n                id: \"{{id}}\"\n";
    let component = load_str(Path::new(FILE), &edit(ops, "")).expect("component handler");
    let Exposes::Rest(r) = &component.capability.exposes[0] else {
        panic!()
    };
    assert_eq!(r.resources[0].operations[0].handler, Handler::Component);

    let both = edit(
        ops,
        "              call: crm.get-customer\n              ref: agg.flow\n",
    );
    assert_eq!(
        errors(&both),
        "crm.ikanos.yaml:43:15: capability.exposes[0].resources.customer.operations.get: 'call' and 'ref' are alternatives; keep only one\n\
         crm.ikanos.yaml:43:20: capability.exposes[0].resources.customer.operations.get.ref: 'agg.flow' refers to aggregate namespace 'agg', which is not declared"
    );
}

#[test]
fn exposed_param_without_description_is_a_warning() {
    let text = edit("              description: Customer id\n", "");
    let l = load_str(Path::new(FILE), &text).expect("loads");
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec!["crm.ikanos.yaml:36:15: warning: capability.exposes[0].resources.customer.inputParameters.id: no description (clients and agents show it)"]
    );
}

#[test]
fn binds_under_capability_merge_with_root_binds() {
    let text = edit(
        "capability:\n",
        "capability:\n  binds:\n    - namespace: more\n      keys:\n        EXTRA: EXTRA_ENV\n",
    )
    .replace("{{secrets.CRM_TOKEN}}", "{{more.EXTRA}}");
    let l = load_str(Path::new(FILE), &text).expect("loads");
    let names: Vec<(&str, &str)> = l
        .capability
        .binds
        .iter()
        .map(|b| (b.namespace.value.as_str(), b.field.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("secrets", "binds[0]"), ("more", "capability.binds[0]")]
    );
}

#[test]
fn weird_input_does_not_panic() {
    for text in [
        "",
        "- a\n- b\n",
        "ikanos:\n",
        "ikanos: 1\ncapability: 3\n",
        "ikanos: \"1.0.0-beta5\"\ncapability:\n  consumes: {}\n  exposes: [1, 2]\n",
        "ikanos: \"1.0.0-beta5\"\ncapability:\n  consumes:\n    - [x]\n    - type: http\n      resources: [1]\n",
        "ikanos: \"1.0.0-beta5\"\ncapability:\n  exposes:\n    - type: rest\n      resources:\n        r:\n          operations:\n            o: 5\n",
        "a: &x [*x]\n",
        "? [a, b]\n: c\n",
        &"[".repeat(100_000),
        "ikanos: !custom \"1.0.0-beta5\"\n---\nsecond: doc\n",
        "\u{feff}ikanos: \"1.0.0-beta5\"\ncapability:\n  consumes:\n    - {type: http, namespace: é, baseUri: \"http://[::1\"}\n",
    ] {
        let _ = load_str(Path::new(FILE), text);
    }
}

#[test]
fn duplicate_bind_namespace_and_shadowed_variable() {
    let text = edit(
        "capability:\n",
        "  - namespace: secrets\n    keys:\n      OTHER: OTHER\n  - namespace: more\n    keys:\n      CRM_TOKEN: CRM_TOKEN\ncapability:\n",
    );
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:10:16: binds[1].namespace: bind namespace 'secrets' is already declared at crm.ikanos.yaml:6:16\n\
         crm.ikanos.yaml:15:7: warning: binds[2].keys.CRM_TOKEN: also declared by bind 'secrets'; a bare {{CRM_TOKEN}} takes this one, write {{more.CRM_TOKEN}} to be explicit"
    );
}

#[test]
fn json_body_references() {
    let text = edit(
        "              method: GET\n              inputParameters:",
        "              method: POST\n              body:\n                type: json\n                data:\n                  name: \"{{secrets.CRM_TOKEN}}\"\n                  ids: [\"{{id}}\", \"{{nope}}\"]\n              inputParameters:",
    );
    assert_eq!(
        errors(&text),
        "crm.ikanos.yaml:28:35: capability.consumes[0].resources.customers.operations.get-customer.body.data.ids[1]: unresolvable reference '{{nope}}': 'nope' is neither a bind key nor a parameter of this operation"
    );
}

#[test]
fn bad_form_and_multipart_bodies() {
    let with_body = |body: &str| {
        errors(&edit(
            "              method: GET\n              inputParameters:",
            &format!("              method: GET\n              body:\n{body}              inputParameters:"),
        ))
    };
    assert_eq!(
        with_body("                type: formUrlEncoded\n                data: [a]\n"),
        "crm.ikanos.yaml:26:23: capability.consumes[0].resources.customers.operations.get-customer.body.data: expected a pre-encoded string or a mapping of field names to string values, found a list"
    );
    assert_eq!(
        with_body("                type: multipartForm\n                data:\n                  - value: x\n                    contentType: \"a\\nb\"\n"),
        "crm.ikanos.yaml:27:21: missing required key 'name' in capability.consumes[0].resources.customers.operations.get-customer.body.data[0]\n\
         crm.ikanos.yaml:28:34: capability.consumes[0].resources.customers.operations.get-customer.body.data[0].contentType: 'a\\nb' is not a valid media type for a header (e.g. image/png)"
    );
    assert_eq!(
        with_body("                type: multipartForm\n                data:\n                  - name: f\n                    value: \"{{nope}}\"\n"),
        "crm.ikanos.yaml:28:28: capability.consumes[0].resources.customers.operations.get-customer.body.data[0].value: unresolvable reference '{{nope}}': 'nope' is neither a bind key nor a parameter of this operation"
    );
}

#[test]
fn max_binary_size_follows_upstreams_grammar() {
    use ikanos_spec::model::parse_binary_size as p;
    assert_eq!(p("10MiB"), Some(10_485_760));
    assert_eq!(p("512KiB"), Some(524_288));
    assert_eq!(p("1.5MiB"), Some(1_572_864));
    assert_eq!(p("4096"), Some(4096));
    assert_eq!(p("7B"), Some(7));
    assert_eq!(p(" 1GiB "), Some(1 << 30));
    for bad in [
        "",
        "MiB",
        "10 MiB",
        "10mb",
        "1.MiB",
        "-1",
        "1e3",
        "99999999999999999999GiB",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }
    let out = errors(&edit(
        "              method: GET\n              inputParameters:",
        "              method: GET\n              maxBinarySize: 10MB\n              inputParameters:",
    ));
    assert_eq!(
        out,
        "crm.ikanos.yaml:24:30: capability.consumes[0].resources.customers.operations.get-customer.maxBinarySize: '10MB' is not a size: expected a number optionally suffixed with B, KiB, MiB or GiB (e.g. '512KiB', '10MiB', '1GiB')"
    );
}

#[test]
fn oauth2_on_a_consumed_api_is_warned_about_not_dropped_silently() {
    let text = edit(
        "      authentication:\n        type: bearer\n        token: \"{{secrets.CRM_TOKEN}}\"\n",
        "      authentication:\n        type: oauth2\n        authorizationServerUri: \"https://as.example/realm\"\n        resource: \"https://api.example\"\n",
    );
    let warnings = warnings_of(&text);
    assert!(
        warnings.iter().any(|w| w
            .starts_with("16:9: capability.consumes[0].authentication: type oauth2")
            && w.contains("calls to 'crm' go out unauthenticated")),
        "{warnings:#?}"
    );
}

#[test]
fn an_oauth2_token_endpoint_is_warned_about_at_its_position() {
    let text = edit(
        "      port: 8080\n",
        "      port: 8080\n      authentication:\n        type: oauth2\n        authorizationServerUri: \"https://as.example/realm\"\n        resource: \"https://api.example\"\n        tokenEndpoint: \"https://as.example/realm/token\"\n",
    );
    let warnings = warnings_of(&text);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("authentication.tokenEndpoint: not applied by this host")),
        "{warnings:#?}"
    );
}
