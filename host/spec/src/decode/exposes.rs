//! Decoding `exposes` entries: rest and mcp in full (resources, operations, tools,
//! prompts, parameters, handlers), control's socket and authentication; skill,
//! forward resources and the control entry's management and observability blocks in
//! submodules.
//!
//! Must not touch: other sections; cross-references are `check`'s.

use super::*;

mod forward;
mod management;
mod observability;
mod skill;

impl Decoder<'_> {
    // ----- exposes -----

    pub(super) fn exposes(&mut self, n: &Node, field: &str) -> Option<DExposes> {
        let kind = self.req_string(n, "type", field);
        let mut d = DExposes {
            model: None,
            field: field.to_string(),
            namespace: None,
            listen: None,
            calls: Vec::new(),
            flow_refs: Vec::new(),
            forwards: Vec::new(),
            refs: Vec::new(),
            resource_fields: Vec::new(),
        };
        match kind.value.as_str() {
            "rest" => self.exposes_rest(n, field, &mut d),
            "mcp" => self.exposes_mcp(n, field, &mut d),
            "skill" => self.exposes_skill(n, field, &mut d),
            "control" => self.exposes_control(n, field, &mut d),
            "" => return None,
            other => {
                const KINDS: &[&str] = &["rest", "mcp", "skill", "control"];
                let hint = did_you_mean(other, KINDS.iter().copied());
                self.err(
                    kind.pos,
                    format!(
                        "{field}.type: unknown exposes type '{other}' (one of {}){hint}",
                        KINDS.join(", ")
                    ),
                );
                return None;
            }
        }
        Some(d)
    }

    fn listen(
        &mut self,
        n: &Node,
        field: &str,
        required: bool,
    ) -> (Option<Spanned<String>>, Option<Spanned<u16>>) {
        let address = self.address(n, field);
        let port_node = if required {
            self.required(n, "port", field)
        } else {
            n.get("port")
        };
        let port = port_node.and_then(|p| self.port(p, &format!("{field}.port")));
        (address, port)
    }

    fn exposes_rest(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(
            n,
            &[
                "type",
                "address",
                "port",
                "namespace",
                "authentication",
                "maxBinarySize",
                "resources",
            ],
            field,
        );
        let max_binary_size = self.binary_size(n, field);
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        let mut resources = Vec::new();
        for (name, value, rfield) in self.named_maps(n, "resources", "resource name", field) {
            let idx = resources.len();
            resources.push(self.exposed_resource(value, name, &rfield, idx, d));
            d.resource_fields.push(rfield);
        }
        d.namespace = Some(namespace.clone());
        d.listen = Some(Listen {
            address: address.clone(),
            port: port.clone(),
        });
        d.model = Some(Exposes::Rest(ExposesRest {
            namespace,
            address,
            port,
            authentication,
            max_binary_size,
            resources,
            pos: n.pos,
        }));
    }

    fn exposed_resource(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        idx: usize,
        d: &mut DExposes,
    ) -> ExposedResource {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "path",
                "inputParameters",
                "operations",
                "forward",
            ],
            field,
        );
        let path = self.req_string(n, "path", field);
        let input_parameters = self.exposed_params(
            n,
            field,
            Scope::Exposed {
                resource: Some(idx),
                operation: None,
            },
            &mut d.refs,
        );
        if n.get("operations").is_none() && n.get("forward").is_none() {
            self.err(n.pos, format!("{field}: declare 'operations' or 'forward'"));
        }
        let forward = n.get("forward").and_then(|f| self.forward(f, field, d));
        let mut operations = Vec::new();
        for e in self.named(n, "operations", field) {
            let ofield = format!("{field}.operations.{}", e.key);
            let oname = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&oname, "operation name", &format!("{field}.operations"));
            if !self.expect_map(&e.value, &ofield) {
                continue;
            }
            let oidx = operations.len();
            operations.push(self.exposed_operation(&e.value, oname, &ofield, idx, oidx, d));
        }
        ExposedResource {
            name,
            path,
            input_parameters,
            input_definition: n
                .get("inputParameters")
                .map(Node::to_json)
                .unwrap_or_default(),
            operations,
            forward,
        }
    }

    fn exposed_operation(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        ridx: usize,
        oidx: usize,
        d: &mut DExposes,
    ) -> ExposedOperation {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "method",
                "inputParameters",
                "ref",
                "call",
                "with",
                "outputParameters",
                "steps",
                "mappings",
                "responses",
                "responseBinary",
            ],
            field,
        );
        let method = self.method(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let input_parameters = self.exposed_params(
            n,
            field,
            Scope::Exposed {
                resource: Some(ridx),
                operation: Some(oidx),
            },
            &mut d.refs,
        );
        let handler = self.handler(n, field, &mut d.calls, &mut d.flow_refs);
        ExposedOperation {
            name,
            method,
            description,
            input_parameters,
            handler,
            definition: n.to_json(),
            pos: n.pos,
        }
    }

    /// `call` / `steps` / `ref` (alternatives) of an operation, tool or flow.
    pub(super) fn handler(
        &mut self,
        n: &Node,
        field: &str,
        calls: &mut Vec<CallSite>,
        flow_refs: &mut Vec<(String, Spanned<String>)>,
    ) -> Handler {
        let present: Vec<&Entry> = entries(n)
            .iter()
            .filter(|e| ["call", "steps", "ref"].contains(&e.key.as_str()))
            .collect();
        if present.len() > 1 {
            let names: Vec<&str> = present.iter().map(|e| e.key.as_str()).collect();
            self.err(
                present[1].key_pos,
                format!(
                    "{field}: '{}' are alternatives; keep only one",
                    names.join("' and '")
                ),
            );
        }
        let mut handler = Handler::Component;
        if n.get("steps").is_some() {
            self.steps(n, field, calls);
            handler = Handler::Steps;
        }
        if let Some(r) = n.get("ref") {
            if let Some(r) = self.target(r, &format!("{field}.ref")) {
                flow_refs.push((format!("{field}.ref"), r.clone()));
                handler = Handler::Ref(r);
            }
        }
        if let Some(c) = self.call_site(n, field, calls) {
            handler = Handler::Call(c);
        }
        handler
    }

    /// `ns.name` targets of call/ref.
    fn target(&mut self, n: &Node, field: &str) -> Option<Spanned<String>> {
        let s = self.string(n, field)?;
        if !CALL_TARGET.is_match(&s.value) {
            self.err(
                s.pos,
                format!("{field}: '{}' must be 'namespace.name'", s.value),
            );
            return None;
        }
        Some(s)
    }

    /// Records `call:` (and its `with:` keys) of `n`, if any.
    fn call_site(
        &mut self,
        n: &Node,
        field: &str,
        calls: &mut Vec<CallSite>,
    ) -> Option<Spanned<String>> {
        let c = n.get("call")?;
        let target = self.target(c, &format!("{field}.call"))?;
        let with_keys = n
            .get("with")
            .map(|w| entries(w).iter().map(|e| e.key.clone()).collect())
            .unwrap_or_default();
        calls.push(CallSite {
            field: format!("{field}.call"),
            target: target.clone(),
            with_keys,
        });
        Some(target)
    }

    /// Steps are parsed leniently; their `call`s are recorded for checking, and a
    /// script step's keys are checked (upstream's `OperationStepScript`, no others):
    /// a misspelt `dependencies` would otherwise leave its files out unseen.
    fn steps(&mut self, n: &Node, field: &str, calls: &mut Vec<CallSite>) {
        for e in self.named(n, "steps", field) {
            let sfield = format!("{field}.steps.{}", e.key);
            if e.value.get("call").is_some() {
                self.call_site(&e.value, &sfield, calls);
            }
            if matches!(e.value.get("type").map(|t| &t.value), Some(Value::Str(t)) if t == "script")
            {
                self.known_keys(
                    &e.value,
                    &[
                        "type",
                        "name",
                        "language",
                        "location",
                        "file",
                        "dependencies",
                        "with",
                    ],
                    &sfield,
                );
            }
        }
    }

    fn exposed_params(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Vec<ExposedParam> {
        let mut out = Vec::new();
        for (e, pfield) in self.input_parameters(n, field) {
            let p = &e.value;
            self.known_keys(
                p,
                &["in", "type", "description", "pattern", "value"],
                &pfield,
            );
            let location = self.param_location(p, &pfield, EXPOSED_PLACES);
            let ty = self.param_type(p, &pfield);
            let description = self.opt_string(p, "description", &pfield).map(|s| s.value);
            if description.is_none() {
                self.warn(
                    p.pos,
                    format!("{pfield}: no description (clients and agents show it)"),
                );
            }
            let pattern = self.opt_string(p, "pattern", &pfield);
            if let Some(pt) = &pattern {
                if let Err(err) = Regex::new(&pt.value) {
                    let first = err
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    self.err(
                        pt.pos,
                        format!("{pfield}.pattern: not a valid regular expression: {first}"),
                    );
                }
            }
            let value = self.param_value(p, &pfield, scope, refs);
            out.push(ExposedParam {
                name: self.spanned(e.key.clone(), e.key_pos),
                location,
                ty,
                description,
                pattern: pattern.map(|p| p.value),
                value,
            });
        }
        out
    }

    /// `type: mcp`: socket or stdio, tools (with their handler, as REST operations),
    /// resources and prompts.
    fn exposes_mcp(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(
            n,
            &[
                "type",
                "transport",
                "address",
                "port",
                "namespace",
                "description",
                "maxBinarySize",
                "ttlMs",
                "cacheScope",
                "authentication",
                "tools",
                "resources",
                "prompts",
            ],
            field,
        );
        let max_binary_size = self.binary_size(n, field);
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let stdio = match n.get("transport") {
            None => false,
            Some(t) => self
                .enum_value(
                    t,
                    &format!("{field}.transport"),
                    &[("http", false), ("stdio", true)],
                )
                .unwrap_or(false),
        };
        let (address, port) = self.listen(n, field, false);
        if !stdio && port.is_none() && n.get("port").is_none() {
            self.err(
                n.pos,
                format!("missing required key 'port' in {field} (needed unless transport: stdio)"),
            );
        }
        if stdio && port.is_some() {
            self.warn(
                n.get("port").map_or(n.pos, |p| p.pos),
                format!("{field}.port: ignored with transport: stdio"),
            );
        }
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        let ttl_ms = n.get("ttlMs").and_then(|t| match t.value {
            Value::Int(i, _) if i >= 0 => Some(i as u64),
            _ => {
                self.err(
                    t.pos,
                    format!(
                        "{field}.ttlMs: expected a number of milliseconds (0 or more), found {}",
                        t.kind()
                    ),
                );
                None
            }
        });
        let cache_scope = n.get("cacheScope").and_then(|c| {
            self.enum_value(
                c,
                &format!("{field}.cacheScope"),
                &[("public", "public"), ("private", "private")],
            )
            .map(str::to_string)
        });
        let tool_entries = self.named_maps(n, "tools", "tool name", field);
        if n.get("tools").is_none() {
            self.err(n.pos, format!("missing required key 'tools' in {field}"));
        }
        let mut tools = Vec::new();
        for (name, value, tfield) in tool_entries {
            tools.push(self.mcp_tool(value, name, &tfield, d));
        }
        let mut resources = Vec::new();
        for (name, value, rfield) in self.named_maps(n, "resources", "resource name", field) {
            if let Some(r) = self.mcp_resource(value, name, &rfield, d) {
                resources.push(r);
            }
        }
        let mut prompts = Vec::new();
        for (name, value, pfield) in self.named_maps(n, "prompts", "prompt name", field) {
            if let Some(p) = self.mcp_prompt(value, name, &pfield) {
                prompts.push(p);
            }
        }
        if !stdio {
            if let Some(port) = port.clone() {
                d.listen = Some(Listen {
                    address: address.clone(),
                    port,
                });
            }
        }
        d.namespace = Some(namespace.clone());
        d.model = Some(Exposes::Mcp(ExposesMcp {
            namespace,
            transport: if stdio {
                McpTransport::Stdio
            } else {
                McpTransport::Http
            },
            address,
            port,
            description,
            authentication,
            ttl_ms,
            cache_scope,
            max_binary_size,
            tools,
            resources,
            prompts,
            pos: n.pos,
        }));
    }

    fn opt_bool(&mut self, n: &Node, key: &str, field: &str) -> Option<bool> {
        let v = n.get(key)?;
        match v.value {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            _ => {
                self.err(
                    v.pos,
                    format!("{field}.{key}: expected true or false, found {}", v.kind()),
                );
                None
            }
        }
    }

    fn mcp_tool(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        d: &mut DExposes,
    ) -> McpTool {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "inputParameters",
                "ref",
                "call",
                "with",
                "steps",
                "mappings",
                "hints",
                "outputParameters",
            ],
            field,
        );
        let display = self.opt_string(n, "display", field).map(|s| s.value);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let mut input_parameters = Vec::new();
        for (e, pfield) in self.input_parameters(n, field) {
            let p = &e.value;
            self.known_keys(p, &["type", "description", "required"], &pfield);
            let ty = self.param_type(p, &pfield);
            let pdesc = self.opt_string(p, "description", &pfield).map(|s| s.value);
            if pdesc.is_none() {
                self.warn(
                    p.pos,
                    format!("{pfield}: no description (clients and agents show it)"),
                );
            }
            let required = self.opt_bool(p, "required", &pfield).unwrap_or(true);
            input_parameters.push(McpToolParam {
                name: self.spanned(e.key.clone(), e.key_pos),
                ty,
                description: pdesc,
                required,
            });
        }
        let mut hints = McpHints::default();
        if let Some(h) = n.get("hints") {
            let hfield = format!("{field}.hints");
            if self.expect_map(h, &hfield) {
                self.known_keys(
                    h,
                    &["readOnly", "destructive", "idempotent", "openWorld"],
                    &hfield,
                );
                hints = McpHints {
                    read_only: self.opt_bool(h, "readOnly", &hfield),
                    destructive: self.opt_bool(h, "destructive", &hfield),
                    idempotent: self.opt_bool(h, "idempotent", &hfield),
                    open_world: self.opt_bool(h, "openWorld", &hfield),
                };
            }
        }
        let handler = self.handler(n, field, &mut d.calls, &mut d.flow_refs);
        let has_output_parameters = n.get("outputParameters").is_some();
        if handler == Handler::Component {
            if description.is_none() {
                self.warn(
                    n.pos,
                    format!("{field}: no description (agents choose tools by it; the upstream schema requires it)"),
                );
            }
            if !has_output_parameters {
                self.warn(
                    n.pos,
                    format!("{field}: handled by the component; the upstream schema wants such a tool to declare mock 'outputParameters' (they document the result here, the component answers)"),
                );
            }
        }
        McpTool {
            name,
            display,
            description,
            input_parameters,
            hints,
            handler,
            has_output_parameters,
            definition: n.to_json(),
            pos: n.pos,
        }
    }

    /// A parameter's required `type`, one of the JSON Schema primitive names.
    fn param_type(&mut self, p: &Node, pfield: &str) -> String {
        const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];
        match self
            .required(p, "type", pfield)
            .and_then(|t| self.string(t, &format!("{pfield}.type")))
        {
            Some(t) if TYPES.contains(&t.value.as_str()) => t.value,
            Some(t) => {
                let hint = did_you_mean(&t.value, TYPES.iter().copied());
                self.err(
                    t.pos,
                    format!(
                        "{pfield}.type: '{}' is not one of {}{hint}",
                        t.value,
                        TYPES.join(", ")
                    ),
                );
                "string".into()
            }
            None => "string".into(),
        }
    }

    /// A `location: file:///…` of a static resource or prompt, resolved against the
    /// declaring file's folder.
    fn file_location(&mut self, n: &Node, field: &str) -> Option<Spanned<PathBuf>> {
        let loc = self.opt_string(n, "location", field)?;
        let base = self.file.parent().unwrap_or(Path::new("."));
        match location::parse(&loc.value, false) {
            Ok(Location::Relative(p)) => Some(self.spanned(base.join(p), loc.pos)),
            Ok(Location::Absolute(p)) => Some(self.spanned(p, loc.pos)),
            Ok(_) => {
                self.err(
                    loc.pos,
                    format!(
                        "{field}.location: '{}' must be a file:/// location",
                        loc.value
                    ),
                );
                None
            }
            Err(e) => {
                self.err(loc.pos, format!("{field}.location: {e}"));
                None
            }
        }
    }

    fn mcp_resource(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        d: &mut DExposes,
    ) -> Option<McpResource> {
        self.known_keys(
            n,
            &[
                "display",
                "uri",
                "description",
                "mimeType",
                "binary",
                "call",
                "with",
                "steps",
                "mappings",
                "outputParameters",
                "location",
            ],
            field,
        );
        let display = self.opt_string(n, "display", field).map(|s| s.value);
        let uri = self.req_string(n, "uri", field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let mime_type = self.opt_string(n, "mimeType", field).map(|s| s.value);
        let dynamic = n.get("call").is_some() || n.get("steps").is_some();
        let source = if n.get("location").is_some() {
            if dynamic {
                self.err(
                    n.pos,
                    format!("{field}: 'location' (static) and 'call'/'steps' (dynamic) are alternatives; keep only one"),
                );
            }
            McpResourceSource::Location(self.file_location(n, field)?)
        } else if dynamic {
            McpResourceSource::Dynamic(self.handler(n, field, &mut d.calls, &mut d.flow_refs))
        } else {
            self.err(
                n.pos,
                format!("{field}: declare 'location' (static content) or 'call'/'steps'"),
            );
            return None;
        };
        Some(McpResource {
            name,
            display,
            uri,
            description,
            mime_type,
            source,
            definition: n.to_json(),
            pos: n.pos,
        })
    }

    fn mcp_prompt(&mut self, n: &Node, name: Spanned<String>, field: &str) -> Option<McpPrompt> {
        self.known_keys(
            n,
            &[
                "display",
                "description",
                "arguments",
                "template",
                "location",
            ],
            field,
        );
        let display = self.opt_string(n, "display", field).map(|s| s.value);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let mut arguments = Vec::new();
        for e in self.named(n, "arguments", field) {
            let afield = format!("{field}.arguments.{}", e.key);
            if !self.expect_map(&e.value, &afield) {
                continue;
            }
            let a = &e.value;
            self.known_keys(a, &["display", "description", "required"], &afield);
            arguments.push(McpPromptArg {
                name: self.spanned(e.key.clone(), e.key_pos),
                display: self.opt_string(a, "display", &afield).map(|s| s.value),
                description: self.opt_string(a, "description", &afield).map(|s| s.value),
                required: self.opt_bool(a, "required", &afield).unwrap_or(true),
            });
        }
        let body = match (n.get("template"), n.get("location")) {
            (Some(_), Some(l)) => {
                self.err(
                    l.pos,
                    format!("{field}: 'template' and 'location' are alternatives; keep only one"),
                );
                return None;
            }
            (Some(t), None) => {
                let tfield = format!("{field}.template");
                let Value::Seq(items) = &t.value else {
                    self.err(
                        t.pos,
                        format!("{tfield}: expected a list of messages, found {}", t.kind()),
                    );
                    return None;
                };
                let mut messages = Vec::new();
                for (i, m) in items.iter().enumerate() {
                    let mfield = format!("{tfield}[{i}]");
                    if !self.expect_map(m, &mfield) {
                        continue;
                    }
                    self.known_keys(m, &["role", "content"], &mfield);
                    let role = self
                        .required(m, "role", &mfield)
                        .and_then(|r| {
                            self.enum_value(
                                r,
                                &format!("{mfield}.role"),
                                &[("user", "user"), ("assistant", "assistant")],
                            )
                        })
                        .unwrap_or("user");
                    let content = self.req_string(m, "content", &mfield);
                    messages.push((role.to_string(), content.value));
                }
                if messages.is_empty() {
                    self.err(t.pos, format!("{tfield}: declare at least one message"));
                }
                McpPromptBody::Template(messages)
            }
            (None, Some(_)) => McpPromptBody::Location(self.file_location(n, field)?),
            (None, None) => {
                self.err(
                    n.pos,
                    format!("{field}: declare 'template' (messages) or 'location' (a file)"),
                );
                return None;
            }
        };
        Some(McpPrompt {
            name,
            display,
            description,
            arguments,
            body,
            pos: n.pos,
        })
    }

    fn exposes_control(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(
            n,
            &[
                "type",
                "address",
                "port",
                "authentication",
                "management",
                "observability",
            ],
            field,
        );
        let (management_info, scripting) = self.management(n, field);
        let observability = self.observability(n, field, &mut d.refs);
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        d.listen = Some(Listen {
            address: address.clone(),
            port: port.clone(),
        });
        d.model = Some(Exposes::Control(ExposesControl {
            address,
            port,
            authentication,
            management_info,
            scripting,
            observability,
            pos: n.pos,
        }));
    }
}
