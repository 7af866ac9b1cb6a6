//! Decoding `exposes` entries: rest in full (resources, operations, parameters,
//! handlers), control's socket and authentication, and for mcp/skill only what the
//! checks need (namespace, socket, authentication, call/ref targets).
//!
//! Must not touch: other sections; cross-references are `check`'s.

use super::*;

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
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        let mut resources = Vec::new();
        for e in self.named(n, "resources", field) {
            let rfield = format!("{field}.resources.{}", e.key);
            let name = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&name, "resource name", &format!("{field}.resources"));
            if !self.expect_map(&e.value, &rfield) {
                continue;
            }
            let idx = resources.len();
            resources.push(self.exposed_resource(&e.value, name, &rfield, idx, d));
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
        if let Some(f) = n.get("forward") {
            let ffield = format!("{field}.forward");
            if self.expect_map(f, &ffield) {
                self.known_keys(f, &["targetNamespace", "trustedHeaders"], &ffield);
                let target = self.req_string(f, "targetNamespace", &ffield);
                if !target.value.is_empty() {
                    d.forwards
                        .push((format!("{ffield}.targetNamespace"), target));
                }
            }
        }
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
            operations,
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

    /// Steps are parsed leniently; only their `call`s are recorded for checking.
    fn steps(&mut self, n: &Node, field: &str, calls: &mut Vec<CallSite>) {
        for e in self.named(n, "steps", field) {
            let sfield = format!("{field}.steps.{}", e.key);
            if e.value.get("call").is_some() {
                self.call_site(&e.value, &sfield, calls);
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
        for e in self.named(n, "inputParameters", field) {
            let pfield = format!("{field}.inputParameters.{}", e.key);
            self.param_name(e, field);
            if !self.expect_map(&e.value, &pfield) {
                continue;
            }
            let p = &e.value;
            self.known_keys(
                p,
                &["in", "type", "description", "pattern", "value"],
                &pfield,
            );
            let location = self.param_location(p, &pfield, EXPOSED_PLACES);
            const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];
            let ty = match self
                .required(p, "type", &pfield)
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
            };
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

    /// MCP bodies are not served yet: read the namespace, socket, authentication and
    /// call/ref targets, and accept everything else the upstream format allows.
    fn exposes_mcp(&mut self, n: &Node, field: &str, d: &mut DExposes) {
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
        if let Some(a) = n.get("authentication") {
            self.authentication(a, &format!("{field}.authentication"), &mut d.refs);
        }
        for section in ["tools", "resources"] {
            for e in self.named(n, section, field) {
                let tfield = format!("{field}.{section}.{}", e.key);
                if e.value.as_map().is_some() {
                    self.handler(&e.value, &tfield, &mut d.calls, &mut d.flow_refs);
                }
            }
        }
        if !stdio {
            if let Some(port) = port.clone() {
                d.listen = Some(Listen { address, port });
            }
        }
        d.namespace = Some(namespace.clone());
        d.model = Some(Exposes::Mcp {
            namespace,
            port,
            pos: n.pos,
        });
    }

    fn exposes_skill(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        if let Some(a) = n.get("authentication") {
            self.authentication(a, &format!("{field}.authentication"), &mut d.refs);
        }
        if let Some(port) = port {
            d.listen = Some(Listen { address, port });
        }
        d.namespace = Some(namespace);
        d.model = Some(Exposes::Skill { pos: n.pos });
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
            pos: n.pos,
        }));
    }
}
