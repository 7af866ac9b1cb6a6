//! The generated edge cases of the Spectral differential test (tests/spectral.rs).
//!
//! Owns: small documents written to make one upstream rule fire or stay quiet,
//! including the boundaries of its pattern or function and the places where
//! Spectral's reading is surprising (each said beside its case). The test checks
//! that Spectral does fire (or not) the rule a case was written for, and that our
//! verdicts on the whole document are Spectral's.
//! Must not touch: how the two linters are run and compared (tests/spectral.rs).
//!
//! Cases hold no `null` entry in a list that a rule's filter or function reads: that
//! makes Spectral abort the whole run (`Cannot read properties of null`), so there is
//! no verdict to compare (this host skips the entry).

pub struct Case {
    pub name: String,
    /// The rule the case was written for.
    pub rule: &'static str,
    /// Whether Spectral (with every rule enabled) fires `rule` on it.
    pub fires: bool,
    pub text: String,
}

/// A capability document: `ikanos`, a complete `info`, then `capability:` with
/// `body` (indented by the caller, two spaces per level under `capability`).
fn cap(body: &str) -> String {
    format!(
        "ikanos: \"1.0.0-beta5\"\ninfo:\n  label: Lint case\n  description: A generated lint case\n  tags: [lint]\ncapability:\n{body}"
    )
}

/// A plain consumes entry for bodies that need one (described, no trailing slash).
const CONSUMES: &str = "  consumes:
    - type: http
      namespace: crm
      description: CRM
      baseUri: https://crm.internal
      resources:
        ping:
          path: /ping
          operations:
            get-ping:
              method: GET
";

/// An exposed REST adapter with one described resource and operation, `extra` added
/// to the resource.
fn rest(path: &str, extra: &str) -> String {
    format!(
        "  exposes:
    - type: rest
      namespace: api
      port: 8080
      resources:
        ships:
          path: \"{path}\"
          description: Ships
{extra}          operations:
            list:
              method: GET
              description: List ships
"
    )
}

/// A tunnelled consumes entry with a secrets bind declaring ZITI_IDENTITY.
fn tunnel(base_uri: &str, identity: &str, fallback: &str) -> String {
    cap(&format!(
        "  binds:
    - namespace: secrets
      keys:
        ZITI_IDENTITY: ziti-identity-path
  consumes:
    - type: http
      namespace: crm
      description: CRM
      baseUri: \"{base_uri}\"
      tunnel:
        type: ziti
        service: crm-api
        identity: \"{identity}\"
{fallback}      resources:
        ping:
          path: /ping
"
    ))
}

const NAMESPACES: &str = "ikanos-namespaces-unique";
const TRAILING_SLASH: &str = "ikanos-consumes-baseuri-no-trailing-slash";
const CONSUMED_QUERY: &str = "ikanos-consumed-resource-no-query-in-path";
const REST_SLASH: &str = "ikanos-rest-resource-path-no-trailing-slash";
const REST_QUERY: &str = "ikanos-rest-resource-path-no-query";
const ADDRESS: &str = "ikanos-address-not-example";
const FLOW_DESCRIPTION: &str = "ikanos-aggregate-flow-description";
const SEMANTICS: &str = "ikanos-aggregate-semantics-consistency";
const STDIO: &str = "ikanos-mcp-auth-stdio-conflict";
const AUTHSERVER: &str = "ikanos-oauth2-https-authserver";
const RESOURCE: &str = "ikanos-oauth2-resource-https";
const SCOPES: &str = "ikanos-oauth2-scopes-defined";
const INFO_TAGS: &str = "ikanos-info-tags";
const CONSUMES_DESCRIPTION: &str = "ikanos-consumes-description";
const RESOURCE_DESCRIPTION: &str = "ikanos-rest-resource-description";
const OPERATION_DESCRIPTION: &str = "ikanos-rest-operation-description";
const SCRIPT: &str = "ikanos-no-script-tags-in-markdown";
const EVAL: &str = "ikanos-no-eval-in-markdown";
const BASEURI_EXAMPLE: &str = "ikanos-baseuri-not-example";
const CONTROL_PORT: &str = "ikanos-control-port-singleton-and-unique";
const CONTROL_ADDRESS: &str = "ikanos-control-address-localhost-warning";
const SCRIPT_DEFAULTS: &str = "ikanos-script-defaults-required";
const FROM_REQUIRED: &str = "ikanos-import-from-required";
const IMPORT_REQUIRED: &str = "ikanos-import-import-required";
const ALIAS: &str = "ikanos-import-unique-alias";
const NOT_SELF: &str = "ikanos-import-from-not-self";
const STANDALONE: &str = "ikanos-standalone-no-imports";
const EXPOSES_NS: &str = "ikanos-exposes-namespace-required";
const AGGREGATES_NS: &str = "ikanos-aggregates-namespace-required";
const FUNCTION_NAMES: &str = "ikanos-aggregates-unique-function-name";
const MUST_BIND: &str = "ikanos-tunnel-identity-must-bind";
const FALLBACK: &str = "ikanos-tunnel-fallback-direct-warns";
const PUBLIC: &str = "ikanos-tunnel-with-public-baseuri-warns";

/// An MCP adapter with one tool, `tool` added to it, and `extra` to the adapter.
fn mcp(extra: &str, tool: &str) -> String {
    format!(
        "  exposes:
    - type: mcp
      namespace: tools
      description: Tools
{extra}      tools:
        get-ship:
          description: Get a ship
{tool}"
    )
}

/// Aggregates with a flow `f` in namespace `fleet` with `semantics`, plus `exposes`.
fn aggregate(semantics: &str, exposes: &str) -> String {
    cap(&format!(
        "{CONSUMES}  aggregates:
    - namespace: fleet
      flows:
        f:
          description: A flow
          semantics: {semantics}
          call: crm.get-ping
{exposes}"
    ))
}

/// An MCP tool that refs `fleet.f` with `hints`.
fn tool_ref(hints: &str) -> String {
    format!(
        "  exposes:
    - type: mcp
      namespace: tools
      description: Tools
      tools:
        t:
          description: A tool
          ref: fleet.f
          hints: {hints}
"
    )
}

/// A REST operation with `method` that refs `fleet.f`.
fn op_ref(method: &str) -> String {
    format!(
        "  exposes:
    - type: rest
      namespace: api
      port: 8080
      resources:
        r:
          path: /r
          description: R
          operations:
            o:
              method: {method}
              description: O
              ref: fleet.f
"
    )
}

/// An exposes `authentication` for the OAuth 2 rules, on a REST adapter.
fn auth(authentication: &str) -> String {
    cap(&format!(
        "  exposes:
    - type: rest
      namespace: api
      port: 8080
      authentication: {authentication}
      resources:
        r:
          path: /r
          description: R
"
    ))
}

/// Control adapters and another adapter for the control rules.
fn control(entries: &str) -> String {
    cap(&format!("  exposes:\n{entries}"))
}

/// A capability whose `consumes` holds `entries` (import directives and others).
fn section(name: &str, entries: &str) -> String {
    cap(&format!("  {name}:\n{entries}"))
}

#[allow(clippy::too_many_lines)]
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut c = |name: &str, rule: &'static str, fires: bool, text: String| {
        v.push(Case {
            name: name.to_string(),
            rule,
            fires,
            text,
        });
    };

    // ----- ikanos-namespaces-unique -----
    c(
        "ns-two-consumes",
        NAMESPACES,
        true,
        cap(&format!(
            "{CONSUMES}{}",
            CONSUMES.replace("  consumes:\n", "")
        )),
    );
    c(
        "ns-bind-and-consumes",
        NAMESPACES,
        true,
        cap(&format!(
            "  binds:\n    - namespace: crm\n      keys:\n        K: v\n{CONSUMES}"
        )),
    );
    c(
        "ns-exposes-and-consumes",
        NAMESPACES,
        true,
        cap(&format!(
            "{CONSUMES}{}",
            rest("/s", "").replace("namespace: api", "namespace: crm")
        )),
    );
    c(
        "ns-root-binds-and-capability-binds",
        NAMESPACES,
        true,
        format!(
            "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: env\n    keys:\n      A: a\n{}",
            cap("  binds:\n    - namespace: env\n      keys:\n        B: b\n")
                .replace("ikanos: \"1.0.0-beta5\"\n", "")
        ),
    );
    c(
        "ns-distinct",
        NAMESPACES,
        false,
        cap(&format!("{CONSUMES}{}", rest("/s", ""))),
    );
    // Aggregates and root exposes are not among the sections upstream compares.
    c("ns-aggregate-reuses-consumes", NAMESPACES, false, cap(&format!("{CONSUMES}  aggregates:\n    - namespace: crm\n      flows:\n        f:\n          description: F\n          call: crm.get-ping\n")));
    c("ns-empty-and-non-string", NAMESPACES, false, cap("  binds:\n    - namespace: \"\"\n      keys: {A: a}\n    - namespace: \"\"\n      keys: {B: b}\n    - namespace: 7\n      keys: {C: c}\n    - namespace: 7\n      keys: {D: d}\n"));

    // ----- ikanos-consumes-baseuri-no-trailing-slash -----
    c(
        "slash-fires",
        TRAILING_SLASH,
        true,
        cap(&CONSUMES.replace("crm.internal", "crm.internal/")),
    );
    c("slash-root-consumes", TRAILING_SLASH, true, "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - type: http\n    namespace: crm\n    description: CRM\n    baseUri: \"https://crm.internal/v1/\"\n".into());
    c("slash-quiet", TRAILING_SLASH, false, cap(CONSUMES));
    c("slash-not-a-string", TRAILING_SLASH, false, cap("  consumes:\n    - type: http\n      namespace: crm\n      description: CRM\n      baseUri: [\"https://crm.internal/\"]\n"));
    // `[*]` visits a mapping's values too.
    c("slash-consumes-as-mapping", TRAILING_SLASH, true, cap("  consumes:\n    crm:\n      type: http\n      namespace: crm\n      description: CRM\n      baseUri: https://crm.internal/\n"));
    c(
        "slash-only-inside",
        TRAILING_SLASH,
        false,
        cap(&CONSUMES.replace("crm.internal", "crm.internal/v1/x")),
    );

    // ----- ikanos-consumed-resource-no-query-in-path -----
    c(
        "cquery-fires",
        CONSUMED_QUERY,
        true,
        cap(&CONSUMES.replace("path: /ping", "path: /ping?x=1")),
    );
    c("cquery-quiet", CONSUMED_QUERY, false, cap(CONSUMES));
    c(
        "cquery-not-http",
        CONSUMED_QUERY,
        false,
        cap(&CONSUMES
            .replace("path: /ping", "path: /ping?x=1")
            .replace("type: http", "type: grpc")),
    );
    // The filter is JS `==`: a one-item list equals its item.
    c(
        "cquery-type-in-a-list",
        CONSUMED_QUERY,
        true,
        cap(&CONSUMES
            .replace("path: /ping", "path: /ping?x=1")
            .replace("type: http", "type: [http]")),
    );
    c("cquery-resources-list", CONSUMED_QUERY, true, "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - type: http\n    namespace: crm\n    description: CRM\n    baseUri: https://crm.internal\n    resources:\n      - path: \"/a?b\"\n      - path: /c\n".into());
    c(
        "cquery-template-braces",
        CONSUMED_QUERY,
        false,
        cap(&CONSUMES.replace("path: /ping", "path: \"/ping/{{id}}\"")),
    );

    // ----- ikanos-rest-resource-path-no-trailing-slash / -no-query -----
    c("rslash-fires", REST_SLASH, true, cap(&rest("/ships/", "")));
    c("rslash-root-path", REST_SLASH, true, cap(&rest("/", "")));
    c("rslash-quiet", REST_SLASH, false, cap(&rest("/ships", "")));
    c(
        "rslash-on-mcp",
        REST_SLASH,
        false,
        cap(&rest("/ships/", "").replace("type: rest", "type: mcp")),
    );
    c(
        "rquery-fires",
        REST_QUERY,
        true,
        cap(&rest("/ships?all=true", "")),
    );
    c(
        "rquery-quiet",
        REST_QUERY,
        false,
        cap(&rest("/ships/{{id}}", "")),
    );
    c("rquery-both", REST_QUERY, true, cap(&rest("/ships?x/", "")));

    // ----- ikanos-address-not-example -----
    c(
        "address-rest",
        ADDRESS,
        true,
        cap(&rest("/s", "").replace(
            "      port: 8080\n",
            "      address: api.example.com\n      port: 8080\n",
        )),
    );
    c(
        "address-mcp",
        ADDRESS,
        true,
        cap(&mcp("      address: example.com\n", "")),
    );
    c("address-skill", ADDRESS, true, cap("  exposes:\n    - type: skill\n      namespace: sk\n      address: docs.example.com\n      skills:\n        s:\n          description: S\n"));
    c(
        "address-quiet",
        ADDRESS,
        false,
        cap(&rest("/s", "").replace(
            "      port: 8080\n",
            "      address: 0.0.0.0\n      port: 8080\n",
        )),
    );
    c(
        "address-suffix-after",
        ADDRESS,
        false,
        cap(&rest("/s", "").replace(
            "      port: 8080\n",
            "      address: example.com.au\n      port: 8080\n",
        )),
    );
    c("address-on-control", ADDRESS, false, control("    - type: control\n      namespace: ctl\n      address: example.com\n      port: 9090\n"));

    // ----- ikanos-aggregate-flow-description -----
    c("flowdesc-missing", FLOW_DESCRIPTION, true, cap(&format!("{CONSUMES}  aggregates:\n    - namespace: fleet\n      flows:\n        f:\n          call: crm.get-ping\n")));
    c("flowdesc-empty", FLOW_DESCRIPTION, true, cap(&format!("{CONSUMES}  aggregates:\n    - namespace: fleet\n      flows:\n        f:\n          description: \"\"\n          call: crm.get-ping\n")));
    c(
        "flowdesc-quiet",
        FLOW_DESCRIPTION,
        false,
        aggregate("{safe: true}", ""),
    );
    // A flow that is not a mapping is judged itself: a string is truthy.
    c(
        "flowdesc-flow-is-text",
        FLOW_DESCRIPTION,
        false,
        cap(&format!(
            "{CONSUMES}  aggregates:\n    - namespace: fleet\n      flows:\n        f: just text\n"
        )),
    );

    // ----- ikanos-aggregate-semantics-consistency -----
    c(
        "sem-safe-tool-not-readonly",
        SEMANTICS,
        true,
        aggregate("{safe: true}", &tool_ref("{readOnly: false}")),
    );
    c(
        "sem-safe-tool-destructive",
        SEMANTICS,
        true,
        aggregate(
            "{safe: true}",
            &tool_ref("{readOnly: true, destructive: true}"),
        ),
    );
    c(
        "sem-unsafe-tool-readonly",
        SEMANTICS,
        true,
        aggregate("{safe: false}", &tool_ref("{readOnly: true}")),
    );
    c(
        "sem-idempotent-tool",
        SEMANTICS,
        true,
        aggregate("{idempotent: true}", &tool_ref("{idempotent: false}")),
    );
    c(
        "sem-not-idempotent-tool",
        SEMANTICS,
        true,
        aggregate("{idempotent: false}", &tool_ref("{idempotent: true}")),
    );
    c(
        "sem-tool-consistent",
        SEMANTICS,
        false,
        aggregate(
            "{safe: true, idempotent: true}",
            &tool_ref("{readOnly: true, destructive: false, idempotent: true}"),
        ),
    );
    c(
        "sem-tool-no-hints",
        SEMANTICS,
        false,
        aggregate(
            "{safe: true}",
            &tool_ref("{}").replace("          hints: {}\n", ""),
        ),
    );
    // Only booleans count: the string "true" is not `=== true`.
    c(
        "sem-string-booleans",
        SEMANTICS,
        false,
        aggregate("{safe: \"true\"}", &tool_ref("{readOnly: false}")),
    );
    c(
        "sem-safe-rest-post",
        SEMANTICS,
        true,
        aggregate("{safe: true}", &op_ref("POST")),
    );
    c(
        "sem-unsafe-rest-get-lowercase",
        SEMANTICS,
        true,
        aggregate("{safe: false}", &op_ref("get")),
    );
    c(
        "sem-idempotent-rest-post",
        SEMANTICS,
        true,
        aggregate("{idempotent: true}", &op_ref("POST")),
    );
    c(
        "sem-rest-consistent",
        SEMANTICS,
        false,
        aggregate("{safe: true, idempotent: true}", &op_ref("GET")),
    );
    c(
        "sem-unknown-flow",
        SEMANTICS,
        false,
        aggregate(
            "{safe: true}",
            &op_ref("POST").replace("fleet.f", "fleet.nope"),
        ),
    );
    // The older format: aggregate `functions` lists and tools as a list with names.
    c("sem-legacy-functions", SEMANTICS, true, cap(&format!("{CONSUMES}  aggregates:\n    - namespace: fleet\n      functions:\n        - name: f\n          semantics: {{safe: true}}\n  exposes:\n    - type: mcp\n      namespace: tools\n      tools:\n        - name: t\n          ref: fleet.f\n          hints: {{destructive: true}}\n")));

    // ----- ikanos-mcp-auth-stdio-conflict -----
    c("stdio-auth", STDIO, true, cap(&mcp("      transport: stdio\n      authentication:\n        type: bearer\n        token: t\n", "")));
    c(
        "stdio-empty-auth-is-truthy",
        STDIO,
        true,
        cap(&mcp(
            "      transport: stdio\n      authentication: {}\n",
            "",
        )),
    );
    c(
        "stdio-no-auth",
        STDIO,
        false,
        cap(&mcp("      transport: stdio\n", "")),
    );
    c("http-auth", STDIO, false, cap(&mcp("      transport: http\n      port: 3000\n      authentication:\n        type: bearer\n        token: t\n", "")));

    // ----- the OAuth 2 rules -----
    // As the schema writes it (one mapping), upstream's filter visits the mapping's
    // values, none of which is an object with `type: oauth2`: nothing fires.
    let schema_form = "\n        type: oauth2\n        authorizationServerUri: http://auth.internal\n        resource: http://api.internal\n";
    c(
        "oauth2-authserver-schema-form",
        AUTHSERVER,
        false,
        auth(schema_form),
    );
    c(
        "oauth2-resource-schema-form",
        RESOURCE,
        false,
        auth(schema_form),
    );
    c(
        "oauth2-scopes-schema-form",
        SCOPES,
        false,
        auth(schema_form),
    );
    c("oauth2-authserver-list-form", AUTHSERVER, true, auth("\n        - type: oauth2\n          authorizationServerUri: http://auth.internal\n          scopes: [read]\n"));
    c("oauth2-authserver-https", AUTHSERVER, false, auth("\n        - type: oauth2\n          authorizationServerUri: https://auth.internal\n          scopes: [read]\n"));
    c(
        "oauth2-authserver-missing",
        AUTHSERVER,
        false,
        auth("\n        - type: oauth2\n          scopes: [read]\n"),
    );
    c("oauth2-resource-http", RESOURCE, true, auth("\n        - type: oauth2\n          authorizationServerUri: https://auth.internal\n          resource: http://api.internal\n          scopes: [read]\n"));
    c("oauth2-resource-https", RESOURCE, false, auth("\n        - type: oauth2\n          authorizationServerUri: https://auth.internal\n          resource: https://api.internal\n          scopes: [read]\n"));
    c(
        "oauth2-scopes-missing",
        SCOPES,
        true,
        auth("\n        - type: oauth2\n          authorizationServerUri: https://auth.internal\n"),
    );
    c("oauth2-scopes-empty-list-is-truthy", SCOPES, false, auth("\n        - type: oauth2\n          authorizationServerUri: https://auth.internal\n          scopes: []\n"));
    c(
        "oauth2-mapping-of-mappings",
        SCOPES,
        true,
        auth(
            "\n        primary: {type: oauth2, authorizationServerUri: \"http://auth.internal\"}\n",
        ),
    );
    c(
        "oauth2-other-type-in-list",
        SCOPES,
        false,
        auth("\n        - type: bearer\n          token: t\n"),
    );

    // ----- ikanos-info-tags (recommended: false) -----
    c(
        "tags-missing",
        INFO_TAGS,
        true,
        cap(CONSUMES).replace("  tags: [lint]\n", ""),
    );
    c("tags-present", INFO_TAGS, false, cap(CONSUMES));
    c(
        "tags-empty-list-is-truthy",
        INFO_TAGS,
        false,
        cap(CONSUMES).replace("tags: [lint]", "tags: []"),
    );
    c(
        "tags-info-empty",
        INFO_TAGS,
        true,
        cap(CONSUMES).replace(
            "info:\n  label: Lint case\n  description: A generated lint case\n  tags: [lint]\n",
            "info:\n",
        ),
    );
    c(
        "tags-info-is-text",
        INFO_TAGS,
        false,
        cap(CONSUMES).replace(
            "info:\n  label: Lint case\n  description: A generated lint case\n  tags: [lint]\n",
            "info: some text\n",
        ),
    );

    // ----- ikanos-consumes-description -----
    c(
        "cdesc-missing",
        CONSUMES_DESCRIPTION,
        true,
        cap(&CONSUMES.replace("      description: CRM\n", "")),
    );
    c(
        "cdesc-empty-value",
        CONSUMES_DESCRIPTION,
        true,
        cap(&CONSUMES.replace("description: CRM", "description:")),
    );
    c("cdesc-quiet", CONSUMES_DESCRIPTION, false, cap(CONSUMES));
    c(
        "cdesc-import-entry",
        CONSUMES_DESCRIPTION,
        true,
        section(
            "consumes",
            "    - from: ./shared/crm.yml\n      import: crm\n",
        ),
    );
    c(
        "cdesc-entry-is-text",
        CONSUMES_DESCRIPTION,
        false,
        section("consumes", "    - just text\n"),
    );
    c(
        "cdesc-entry-is-zero",
        CONSUMES_DESCRIPTION,
        true,
        section("consumes", "    - 0\n"),
    );

    // ----- ikanos-rest-resource-description / -operation-description -----
    c(
        "resdesc-missing",
        RESOURCE_DESCRIPTION,
        true,
        cap(&rest("/s", "").replace("          description: Ships\n", "")),
    );
    c(
        "resdesc-quiet",
        RESOURCE_DESCRIPTION,
        false,
        cap(&rest("/s", "")),
    );
    c(
        "resdesc-on-mcp",
        RESOURCE_DESCRIPTION,
        false,
        cap(&rest("/s", "")
            .replace("          description: Ships\n", "")
            .replace("type: rest", "type: mcp")),
    );
    c(
        "opdesc-missing",
        OPERATION_DESCRIPTION,
        true,
        cap(&rest("/s", "").replace("              description: List ships\n", "")),
    );
    c(
        "opdesc-quiet",
        OPERATION_DESCRIPTION,
        false,
        cap(&rest("/s", "")),
    );
    c(
        "opdesc-false",
        OPERATION_DESCRIPTION,
        true,
        cap(&rest("/s", "").replace("description: List ships", "description: false")),
    );

    // ----- ikanos-no-script-tags-in-markdown / ikanos-no-eval-in-markdown -----
    c(
        "script-info-description",
        SCRIPT,
        true,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: \"Hi <script>alert(1)</script>\"",
        ),
    );
    c(
        "script-info-label",
        SCRIPT,
        true,
        cap(CONSUMES).replace("label: Lint case", "label: \"<script src=x>\""),
    );
    c(
        "script-block-scalar",
        SCRIPT,
        true,
        cap(&CONSUMES.replace(
            "description: CRM",
            "description: |\n        The CRM.\n        <script>x()</script>",
        )),
    );
    c(
        "script-block-scalar-header-comment",
        SCRIPT,
        true,
        cap(&CONSUMES.replace(
            "description: CRM",
            "description: >+ # folded, kept\n\n        The CRM\n        <script>",
        )),
    );
    c(
        "script-block-scalar-in-a-list",
        SCRIPT,
        false,
        cap(&CONSUMES.replace(
            "description: CRM",
            "description: CRM\n      notes:\n        - |\n          <script>",
        )),
    );
    c(
        "script-crlf-lines",
        SCRIPT,
        true,
        cap(&CONSUMES.replace("description: CRM", "description: \"<script>\""))
            .replace('\n', "\r\n"),
    );
    c("script-flow-mapping", SCRIPT, true, cap("  consumes:\n    - {type: http, namespace: crm,\n       description: \"<script>\", baseUri: \"https://crm.internal\"}\n"));
    c(
        "script-folded-on-next-line",
        SCRIPT,
        true,
        cap(&CONSUMES.replace(
            "description: CRM",
            "description:\n        \"The <script> CRM\"",
        )),
    );
    c(
        "script-tool",
        SCRIPT,
        true,
        cap(&mcp("", "").replace("description: Get a ship", "description: \"<script>\"")),
    );
    c("script-skill", SCRIPT, true, cap("  exposes:\n    - type: skill\n      namespace: sk\n      skills:\n        s:\n          description: \"a <script> b\"\n"));
    c(
        "script-adapter",
        SCRIPT,
        true,
        cap(&mcp("", "").replace("description: Tools", "description: \"<script\"")),
    );
    c(
        "script-operation",
        SCRIPT,
        true,
        cap(&rest("/s", "").replace("description: List ships", "description: \"<script>\"")),
    );
    c(
        "script-upper-case",
        SCRIPT,
        false,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: \"<SCRIPT>\"",
        ),
    );
    c(
        "script-spaced",
        SCRIPT,
        false,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: \"< script>\"",
        ),
    );
    c("script-not-a-listed-field", SCRIPT, false, cap(&format!("{CONSUMES}  exposes:\n    - type: mcp\n      namespace: tools\n      description: Tools\n      resources:\n        r:\n          description: \"<script>\"\n")));
    c("script-root-consumes", SCRIPT, true, "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - type: http\n    namespace: crm\n    description: \"<script>\"\n    baseUri: https://crm.internal\n".into());
    c(
        "eval-fires",
        EVAL,
        true,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: \"run eval(x)\"",
        ),
    );
    c(
        "eval-operation",
        EVAL,
        true,
        cap(&rest("/s", "").replace("description: List ships", "description: \"eval(1)\"")),
    );
    c(
        "eval-word",
        EVAL,
        false,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: evaluate the fleet",
        ),
    );
    c(
        "eval-space",
        EVAL,
        false,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: \"eval (x)\"",
        ),
    );
    c(
        "eval-not-a-string",
        EVAL,
        false,
        cap(CONSUMES).replace(
            "description: A generated lint case",
            "description: [\"eval(x)\"]",
        ),
    );

    // ----- ikanos-baseuri-not-example (recommended: false) -----
    c(
        "example-fires",
        BASEURI_EXAMPLE,
        true,
        cap(&CONSUMES.replace("crm.internal", "api.example.com")),
    );
    c(
        "example-inside-a-longer-name",
        BASEURI_EXAMPLE,
        true,
        cap(&CONSUMES.replace("crm.internal", "example.community")),
    );
    c(
        "example-quiet",
        BASEURI_EXAMPLE,
        false,
        cap(&CONSUMES.replace("crm.internal", "example.org")),
    );

    // ----- ikanos-control-port-singleton-and-unique -----
    let ctl = |port: &str| {
        format!("    - type: control\n      namespace: ctl\n      address: localhost\n      port: {port}\n")
    };
    let rest_on = |port: &str| {
        format!("    - type: rest\n      namespace: api\n      port: {port}\n      resources:\n        r:\n          path: /r\n          description: R\n")
    };
    c(
        "control-two",
        CONTROL_PORT,
        true,
        control(&format!(
            "{}{}",
            ctl("9090"),
            ctl("9091").replace("ctl\n", "ctl2\n")
        )),
    );
    c(
        "control-port-conflict",
        CONTROL_PORT,
        true,
        control(&format!("{}{}", rest_on("8080"), ctl("8080"))),
    );
    c(
        "control-port-distinct",
        CONTROL_PORT,
        false,
        control(&format!("{}{}", rest_on("8080"), ctl("9090"))),
    );
    // `===`: a number and a string never conflict; 8080 and 8080.0 are one number.
    c(
        "control-port-string-vs-number",
        CONTROL_PORT,
        false,
        control(&format!("{}{}", rest_on("8080"), ctl("\"8080\""))),
    );
    c(
        "control-port-float",
        CONTROL_PORT,
        true,
        control(&format!("{}{}", rest_on("8080"), ctl("8080.0"))),
    );
    c(
        "control-port-zero",
        CONTROL_PORT,
        false,
        control(&format!("{}{}", rest_on("0"), ctl("0"))),
    );

    // ----- ikanos-control-address-localhost-warning -----
    c(
        "ctladdr-any",
        CONTROL_ADDRESS,
        true,
        control(&ctl("9090").replace("localhost", "0.0.0.0")),
    );
    c(
        "ctladdr-localhost",
        CONTROL_ADDRESS,
        false,
        control(&ctl("9090")),
    );
    c(
        "ctladdr-loopback",
        CONTROL_ADDRESS,
        false,
        control(&ctl("9090").replace("localhost", "127.0.0.1")),
    );
    c(
        "ctladdr-trailing-space",
        CONTROL_ADDRESS,
        true,
        control(&ctl("9090").replace("localhost", "\"localhost \"")),
    );
    c(
        "ctladdr-ipv6-loopback",
        CONTROL_ADDRESS,
        true,
        control(&ctl("9090").replace("localhost", "\"::1\"")),
    );
    c(
        "ctladdr-absent",
        CONTROL_ADDRESS,
        false,
        control(&ctl("9090").replace("      address: localhost\n", "")),
    );

    // ----- ikanos-script-defaults-required -----
    // The function reads only the older list forms (tools, resources, operations,
    // steps, aggregate functions as lists).
    let script_tool = "    - type: mcp\n      namespace: tools\n      tools:\n        - name: t\n          steps:\n            - type: script\n              name: compute\n";
    let scripting = |loc: &str, lang: &str| {
        format!("    - type: control\n      namespace: ctl\n      address: localhost\n      port: 9090\n      management:\n        scripting:\n{loc}{lang}")
    };
    c(
        "scripts-no-defaults",
        SCRIPT_DEFAULTS,
        true,
        control(script_tool),
    );
    c(
        "scripts-both-defaults",
        SCRIPT_DEFAULTS,
        false,
        control(&format!(
            "{script_tool}{}",
            scripting(
                "          defaultLocation: ./scripts\n",
                "          defaultLanguage: javascript\n"
            )
        )),
    );
    c(
        "scripts-language-default-only",
        SCRIPT_DEFAULTS,
        true,
        control(&format!(
            "{script_tool}{}",
            scripting("", "          defaultLanguage: javascript\n")
        )),
    );
    c(
        "scripts-blank-default",
        SCRIPT_DEFAULTS,
        true,
        control(&format!(
            "{script_tool}{}",
            scripting(
                "          defaultLocation: \"  \"\n",
                "          defaultLanguage: javascript\n"
            )
        )),
    );
    c(
        "scripts-step-complete",
        SCRIPT_DEFAULTS,
        false,
        control(&format!(
            "{script_tool}              location: ./s\n              language: python\n"
        )),
    );
    c(
        "scripts-empty-location",
        SCRIPT_DEFAULTS,
        true,
        control(&format!(
            "{script_tool}              location: \"\"\n              language: python\n"
        )),
    );
    c("scripts-current-mapping-form", SCRIPT_DEFAULTS, false, control("    - type: mcp\n      namespace: tools\n      tools:\n        t:\n          steps:\n            s:\n              type: script\n"));
    c("scripts-rest-lists", SCRIPT_DEFAULTS, true, control("    - type: rest\n      namespace: api\n      resources:\n        - path: /r\n          operations:\n            - method: POST\n              steps:\n                - type: script\n"));
    c("scripts-aggregate-functions", SCRIPT_DEFAULTS, true, cap("  aggregates:\n    - namespace: fleet\n      functions:\n        - name: f\n          steps:\n            - type: script\n              location: ./s\n"));
    c(
        "scripts-call-step",
        SCRIPT_DEFAULTS,
        false,
        control(&script_tool.replace("type: script", "type: call")),
    );

    // ----- ikanos-import-from-required / -import-required -----
    c(
        "from-without-import",
        FROM_REQUIRED,
        true,
        section(
            "consumes",
            "    - from: ./shared/crm.yml\n      description: CRM\n",
        ),
    );
    c(
        "from-with-import",
        FROM_REQUIRED,
        false,
        section(
            "consumes",
            "    - from: ./shared/crm.yml\n      import: crm\n      description: CRM\n",
        ),
    );
    c(
        "from-empty-is-not-an-import",
        FROM_REQUIRED,
        false,
        section("binds", "    - from: \"\"\n      namespace: env\n"),
    );
    c(
        "from-without-import-in-exposes",
        FROM_REQUIRED,
        true,
        section(
            "exposes",
            "    - from: ./shared/api.yml\n      namespace: api\n",
        ),
    );
    c(
        "import-without-from",
        IMPORT_REQUIRED,
        true,
        section("aggregates", "    - import: fleet\n"),
    );
    c("import-with-type-is-not-a-directive", IMPORT_REQUIRED, false, section("consumes", "    - import: crm\n      type: http\n      namespace: crm\n      description: CRM\n      baseUri: https://crm.internal\n"));
    c(
        "import-with-from",
        IMPORT_REQUIRED,
        false,
        section("binds", "    - import: env\n      from: ./shared/env.yml\n"),
    );

    // ----- ikanos-import-unique-alias -----
    c("alias-same-import", ALIAS, true, section("consumes", "    - from: ./a.yml\n      import: crm\n      description: A\n    - from: ./b.yml\n      import: crm\n      description: B\n"));
    c("alias-same-as", ALIAS, true, section("binds", "    - from: ./a.yml\n      import: env\n      as: one\n    - from: ./b.yml\n      import: other\n      as: one\n"));
    c("alias-distinct-as", ALIAS, false, section("consumes", "    - from: ./a.yml\n      import: crm\n      as: crm-a\n      description: A\n    - from: ./b.yml\n      import: crm\n      as: crm-b\n      description: B\n"));
    c("alias-empty-as-falls-back", ALIAS, true, section("exposes", "    - from: ./a.yml\n      import: api\n    - from: ./b.yml\n      import: api\n      as: \"\"\n"));
    c("alias-other-sections", ALIAS, false, cap("  consumes:\n    - from: ./a.yml\n      import: x\n      description: A\n  binds:\n    - from: ./b.yml\n      import: x\n"));

    // ----- ikanos-import-from-not-self -----
    c(
        "self-dot",
        NOT_SELF,
        true,
        section(
            "consumes",
            "    - from: .\n      import: crm\n      description: CRM\n",
        ),
    );
    c(
        "self-dot-slash",
        NOT_SELF,
        false,
        section(
            "consumes",
            "    - from: ./\n      import: crm\n      description: CRM\n",
        ),
    );
    c(
        "self-parent",
        NOT_SELF,
        false,
        section("aggregates", "    - from: ..\n      import: fleet\n"),
    );

    // ----- ikanos-standalone-no-imports -----
    c("standalone-import", STANDALONE, true, "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - from: ./other.yml\n    import: crm\n    description: CRM\n".into());
    c("standalone-binds-import", STANDALONE, true, "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: env\n    keys: {A: a}\n  - from: ./other.yml\n    import: more\n".into());
    c("standalone-plain", STANDALONE, false, "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - type: http\n    namespace: crm\n    description: CRM\n    baseUri: https://crm.internal\n".into());
    c(
        "standalone-in-a-capability",
        STANDALONE,
        false,
        section(
            "consumes",
            "    - from: ./other.yml\n      import: crm\n      description: CRM\n",
        ),
    );
    c(
        "standalone-from-not-a-string",
        STANDALONE,
        false,
        "ikanos: \"1.0.0-beta5\"\nbinds:\n  - from: [./other.yml]\n    import: more\n".into(),
    );

    // ----- ikanos-exposes-namespace-required -----
    c(
        "exns-control",
        EXPOSES_NS,
        true,
        control("    - type: control\n      address: localhost\n      port: 9090\n"),
    );
    c(
        "exns-empty",
        EXPOSES_NS,
        true,
        cap(&rest("/s", "").replace("namespace: api", "namespace: \"\"")),
    );
    c(
        "exns-standalone",
        EXPOSES_NS,
        true,
        "ikanos: \"1.0.0-beta5\"\nexposes:\n  - type: rest\n    port: 8080\n".into(),
    );
    c("exns-quiet", EXPOSES_NS, false, cap(&rest("/s", "")));
    c(
        "exns-import-entry",
        EXPOSES_NS,
        false,
        section(
            "exposes",
            "    - from: ./shared/api.yml\n      import: api\n",
        ),
    );

    // ----- ikanos-aggregates-namespace-required -----
    c(
        "aggns-standalone",
        AGGREGATES_NS,
        true,
        "ikanos: \"1.0.0-beta5\"\naggregates:\n  - flows:\n      f:\n        description: F\n"
            .into(),
    );
    c("aggns-standalone-quiet", AGGREGATES_NS, false, "ikanos: \"1.0.0-beta5\"\naggregates:\n  - namespace: fleet\n    flows:\n      f:\n        description: F\n".into());
    // Selected by the older `functions` key only: a capability aggregate with
    // `flows` and no namespace is not checked.
    c(
        "aggns-capability-flows",
        AGGREGATES_NS,
        false,
        cap("  aggregates:\n    - flows:\n        f:\n          description: F\n"),
    );
    c(
        "aggns-capability-functions",
        AGGREGATES_NS,
        true,
        cap("  aggregates:\n    - functions:\n        - name: f\n"),
    );

    // ----- ikanos-aggregates-unique-function-name -----
    c("fnames-duplicate", FUNCTION_NAMES, true, cap("  aggregates:\n    - namespace: fleet\n      functions:\n        - name: f\n        - name: g\n        - name: f\n"));
    c("fnames-standalone-duplicate", FUNCTION_NAMES, true, "ikanos: \"1.0.0-beta5\"\naggregates:\n  - namespace: fleet\n    functions:\n      - name: f\n      - name: f\n".into());
    c("fnames-distinct", FUNCTION_NAMES, false, cap("  aggregates:\n    - namespace: fleet\n      functions:\n        - name: f\n        - name: g\n"));
    c("fnames-empty-names", FUNCTION_NAMES, false, cap("  aggregates:\n    - namespace: fleet\n      functions:\n        - name: \"\"\n        - name: \"\"\n        - {}\n"));

    // ----- the tunnel rules -----
    c(
        "bind-unbound-namespace",
        MUST_BIND,
        true,
        tunnel("https://crm.internal", "{{vault.ZITI_IDENTITY}}", ""),
    );
    c(
        "bind-missing-key",
        MUST_BIND,
        true,
        tunnel("https://crm.internal", "{{secrets.OTHER}}", ""),
    );
    c(
        "bind-two-bad-references",
        MUST_BIND,
        true,
        tunnel("https://crm.internal", "{{vault.A}}/{{secrets.B}}", ""),
    );
    c(
        "bind-bound",
        MUST_BIND,
        false,
        tunnel("https://crm.internal", "{{ secrets.ZITI_IDENTITY }}", ""),
    );
    c(
        "bind-literal-path",
        MUST_BIND,
        false,
        tunnel("https://crm.internal", "/etc/ziti/crm.json", ""),
    );
    c(
        "bind-flat-reference",
        MUST_BIND,
        false,
        tunnel("https://crm.internal", "{{ZITI_IDENTITY}}", ""),
    );
    c(
        "bind-case-differs",
        MUST_BIND,
        true,
        tunnel("https://crm.internal", "{{SECRETS.ZITI_IDENTITY}}", ""),
    );
    c(
        "bind-root-binds",
        MUST_BIND,
        false,
        format!(
            "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: vault\n    keys:\n      ID: x\n{}",
            tunnel("https://crm.internal", "{{vault.ID}}", "")
                .replace("ikanos: \"1.0.0-beta5\"\n", "")
        ),
    );
    c(
        "direct-public",
        FALLBACK,
        true,
        tunnel(
            "https://crm.internal",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: direct\n",
        ),
    );
    c(
        "direct-loopback",
        FALLBACK,
        false,
        tunnel(
            "http://127.0.0.1:8080/api",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: direct\n",
        ),
    );
    c(
        "direct-localhost-lookalike",
        FALLBACK,
        true,
        tunnel(
            "http://localhost.evil.test",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: direct\n",
        ),
    );
    c(
        "direct-upper-case-localhost",
        FALLBACK,
        true,
        tunnel(
            "http://LOCALHOST",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: direct\n",
        ),
    );
    c(
        "direct-in-a-list",
        FALLBACK,
        true,
        tunnel(
            "https://crm.internal",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: [direct]\n",
        ),
    );
    c(
        "fallback-fail",
        FALLBACK,
        false,
        tunnel(
            "https://crm.internal",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: fail\n",
        ),
    );
    c(
        "public-tld",
        PUBLIC,
        true,
        tunnel(
            "https://api.example.com:8443/x",
            "{{secrets.ZITI_IDENTITY}}",
            "",
        ),
    );
    c(
        "public-private-name",
        PUBLIC,
        false,
        tunnel("https://crm.co.uk", "{{secrets.ZITI_IDENTITY}}", ""),
    );
    c(
        "public-upper-case",
        PUBLIC,
        false,
        tunnel("https://API.EXAMPLE.COM", "{{secrets.ZITI_IDENTITY}}", ""),
    );
    c(
        "public-without-tunnel",
        PUBLIC,
        false,
        cap(&CONSUMES.replace("crm.internal", "api.example.com")),
    );
    c(
        "public-and-direct",
        PUBLIC,
        true,
        tunnel(
            "https://x.io",
            "{{secrets.ZITI_IDENTITY}}",
            "        fallback: direct\n",
        ),
    );

    v
}
