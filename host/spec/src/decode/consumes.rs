//! Decoding `consumes` entries (type http): base URI, parameters, authentication,
//! tunnel, resources, operations and request bodies.
//!
//! Must not touch: other sections; cross-references are `check`'s.

use super::*;

impl Decoder<'_> {
    // ----- consumes -----

    pub(super) fn consumes(&mut self, n: &Node, field: &str) -> Option<DConsumes> {
        self.known_keys(
            n,
            &[
                "namespace",
                "type",
                "description",
                "baseUri",
                "inputParameters",
                "authentication",
                "tunnel",
                "resources",
            ],
            field,
        );
        if let Some(t) = self.required(n, "type", field) {
            if let Some(t) = self.string(t, &format!("{field}.type")) {
                if t.value != "http" {
                    self.err(t.pos, format!("{field}.type: unsupported consumes type '{}' (this host supports 'http')", t.value));
                }
            }
        }
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (base_uri, base_uri_raw) = self.base_uri(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let mut refs = Vec::new();
        let ns_scope = Scope::Consumed {
            resource: None,
            operation: None,
        };
        let input_parameters = self.consumed_params(n, field, ns_scope, &mut refs);
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut refs));
        if let (Some(Authentication::OAuth2 { pos, .. }), Some(_)) =
            (&authentication, n.get("authentication"))
        {
            // The schema's oauth2 is a resource server's check of incoming tokens;
            // upstream's HTTP client ignores it on consumes, and so must this host
            // (it has no client credentials to get a token with) — but not silently.
            self.warn(
                *pos,
                format!("{field}.authentication: type oauth2 describes how an exposed adapter checks incoming tokens; on a consumed API it sends no credentials (as upstream), so calls to '{}' go out unauthenticated — to send a token, use type bearer with a bound token", namespace.value),
            );
        }
        let tunnel = n
            .get("tunnel")
            .and_then(|t| self.tunnel(t, &format!("{field}.tunnel"), &base_uri, &mut refs));
        let mut resources = Vec::new();
        let mut resource_fields = Vec::new();
        for (name, value, rfield) in self.named_maps(n, "resources", "resource name", field) {
            let idx = resources.len();
            resources.push(self.consumed_resource(value, name, &rfield, idx, &mut refs));
            resource_fields.push(rfield);
        }
        let model = Consumes {
            namespace,
            base_uri,
            base_uri_raw,
            description,
            input_parameters,
            authentication,
            tunnel,
            resources,
            pos: n.pos,
        };
        Some(DConsumes {
            model,
            field: field.to_string(),
            refs,
            resource_fields,
        })
    }

    /// The parsed URL (a placeholder after an error) and the text as written.
    fn base_uri(&mut self, n: &Node, field: &str) -> (Spanned<url::Url>, Spanned<String>) {
        let placeholder = || url::Url::parse("http://invalid.invalid/").expect("constant URL");
        let raw = self.req_string(n, "baseUri", field);
        let pos = raw.pos;
        let f = format!("{field}.baseUri");
        let v = raw.value.as_str();
        let url = if v.is_empty() {
            None
        } else if !v.starts_with("http://") && !v.starts_with("https://") {
            self.err(pos, format!("{f}: '{v}' is not an http(s) URL"));
            None
        } else if v.contains('{') {
            self.err(
                pos,
                format!("{f}: '{v}' holds a template; put placeholders in resource paths"),
            );
            None
        } else if !BASE_URI.is_match(v) {
            self.err(pos, format!("{f}: '{v}' is not an http(s) URL"));
            None
        } else {
            match url::Url::parse(v) {
                Err(e) => {
                    self.err(pos, format!("{f}: '{v}' is not a valid URL ({e})"));
                    None
                }
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    self.err(pos, format!("{f}: '{v}' has no host"));
                    None
                }
                Ok(u) if u.query().is_some() => {
                    self.err(pos, format!("{f}: '{v}' has a query string; declare query values as inputParameters with in: query"));
                    None
                }
                Ok(u) if u.fragment().is_some() => {
                    self.err(pos, format!("{f}: '{v}' has a fragment (#…); remove it"));
                    None
                }
                Ok(u) => Some(u),
            }
        };
        let url = Spanned {
            value: url.unwrap_or_else(placeholder),
            pos,
            file: self.file.to_path_buf(),
        };
        (url, raw)
    }

    fn consumed_params(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Vec<ConsumedParam> {
        let mut out = Vec::new();
        for (e, pfield) in self.input_parameters(n, field) {
            let p = &e.value;
            self.known_keys(p, &["in", "value"], &pfield);
            let location = self.param_location(p, &pfield, CONSUMED_PLACES);
            let value = self.param_value(p, &pfield, scope, refs);
            out.push(ConsumedParam {
                name: self.spanned(e.key.clone(), e.key_pos),
                location,
                value,
            });
        }
        out
    }

    fn consumed_resource(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        idx: usize,
        refs: &mut Vec<RefSite>,
    ) -> ConsumedResource {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "path",
                "inputParameters",
                "operations",
            ],
            field,
        );
        let path = self.req_string(n, "path", field);
        let scope = Scope::Consumed {
            resource: Some(idx),
            operation: None,
        };
        let input_parameters = self.consumed_params(n, field, scope, refs);
        let mut operations = Vec::new();
        if self.required(n, "operations", field).is_some() {
            let ops = self.named(n, "operations", field);
            if ops.is_empty() && n.get("operations").is_some_and(|o| o.as_map().is_some()) {
                self.err(
                    n.pos,
                    format!("{field}.operations: declare at least one operation"),
                );
            }
            for e in ops {
                let ofield = format!("{field}.operations.{}", e.key);
                let oname = self.spanned(e.key.clone(), e.key_pos);
                self.kebab(&oname, "operation name", &format!("{field}.operations"));
                if !self.expect_map(&e.value, &ofield) {
                    continue;
                }
                let oidx = operations.len();
                operations.push(self.consumed_operation(&e.value, oname, &ofield, idx, oidx, refs));
            }
        }
        ConsumedResource {
            name,
            path,
            input_parameters,
            operations,
        }
    }

    pub(super) fn method(&mut self, n: &Node, field: &str) -> HttpMethod {
        self.required(n, "method", field)
            .and_then(|m| {
                self.enum_value(
                    m,
                    &format!("{field}.method"),
                    &[
                        ("GET", HttpMethod::Get),
                        ("POST", HttpMethod::Post),
                        ("PUT", HttpMethod::Put),
                        ("PATCH", HttpMethod::Patch),
                        ("DELETE", HttpMethod::Delete),
                    ],
                )
            })
            .unwrap_or(HttpMethod::Get)
    }

    fn consumed_operation(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        ridx: usize,
        oidx: usize,
        refs: &mut Vec<RefSite>,
    ) -> ConsumedOperation {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "method",
                "inputParameters",
                "outputRawFormat",
                "outputMediaType",
                "maxBinarySize",
                "outputSchema",
                "outputParameters",
                "body",
            ],
            field,
        );
        let max_binary_size = self.binary_size(n, field);
        let method = self.method(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let scope = Scope::Consumed {
            resource: Some(ridx),
            operation: Some(oidx),
        };
        let input_parameters = self.consumed_params(n, field, scope, refs);
        const FORMATS: &[&str] = &[
            "json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown",
            "binary",
        ];
        let output_raw_format = match self.opt_string(n, "outputRawFormat", field) {
            Some(f) if FORMATS.contains(&f.value.as_str()) => f.value,
            Some(f) => {
                let hint = did_you_mean(&f.value, FORMATS.iter().copied());
                self.err(
                    f.pos,
                    format!(
                        "{field}.outputRawFormat: '{}' is not one of {}{hint}",
                        f.value,
                        FORMATS.join(", ")
                    ),
                );
                "json".into()
            }
            None => "json".into(),
        };
        let body = n
            .get("body")
            .and_then(|b| self.body(b, &format!("{field}.body"), scope, refs));
        ConsumedOperation {
            name,
            method,
            description,
            input_parameters,
            body,
            output_raw_format,
            max_binary_size,
            definition: n.to_json(),
            pos: n.pos,
        }
    }

    fn body(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Option<RequestBody> {
        match &n.value {
            Value::Null => None,
            Value::Str(_) => {
                let t = self.template(n, field)?;
                refs.push(RefSite {
                    field: field.to_string(),
                    template: t.clone(),
                    scope,
                });
                Some(RequestBody::Raw(t))
            }
            Value::Map(_) => {
                let kind = self.req_string(n, "type", field);
                match kind.value.as_str() {
                    "json" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        self.json_templates(data, &format!("{field}.data"), scope, refs);
                        Some(RequestBody::Json(data.to_json()))
                    }
                    "text" | "xml" | "sparql" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        let t = self.template(data, &format!("{field}.data"))?;
                        refs.push(RefSite {
                            field: format!("{field}.data"),
                            template: t.clone(),
                            scope,
                        });
                        let kind = match kind.value.as_str() {
                            "xml" => TextKind::Xml,
                            "sparql" => TextKind::Sparql,
                            _ => TextKind::Text,
                        };
                        Some(RequestBody::Text { kind, data: t })
                    }
                    "formUrlEncoded" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        self.form_body(data, &format!("{field}.data"), scope, refs)
                            .map(RequestBody::Form)
                    }
                    "multipartForm" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        self.multipart_body(data, &format!("{field}.data"), scope, refs)
                            .map(RequestBody::Multipart)
                    }
                    "" => None,
                    other => {
                        const KINDS: &[&str] = &[
                            "json",
                            "text",
                            "xml",
                            "sparql",
                            "formUrlEncoded",
                            "multipartForm",
                        ];
                        let hint = did_you_mean(other, KINDS.iter().copied());
                        self.err(
                            kind.pos,
                            format!(
                                "{field}.type: unknown body type '{other}' (one of {}){hint}",
                                KINDS.join(", ")
                            ),
                        );
                        None
                    }
                }
            }
            _ => {
                self.err(
                    n.pos,
                    format!(
                        "{field}: expected a string or a mapping with type and data, found {}",
                        n.kind()
                    ),
                );
                None
            }
        }
    }

    /// String leaves of a JSON body may hold references; record each with its position.
    /// A template whose references are checked like the other body templates.
    fn body_template(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Option<Template> {
        let t = self.template(n, field)?;
        if !t.is_literal() {
            refs.push(RefSite {
                field: field.to_string(),
                template: t.clone(),
                scope,
            });
        }
        Some(t)
    }

    /// `formUrlEncoded` data: a pre-encoded string, or a map of string fields.
    fn form_body(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Option<FormBody> {
        match &n.value {
            Value::Str(_) => self
                .body_template(n, field, scope, refs)
                .map(FormBody::Encoded),
            Value::Map(entries) => {
                let mut fields = Vec::new();
                for e in entries {
                    let f = format!("{field}.{}", e.key);
                    if let Some(t) = self.body_template(&e.value, &f, scope, refs) {
                        fields.push((e.key.clone(), t));
                    }
                }
                Some(FormBody::Fields(fields))
            }
            _ => {
                self.err(
                    n.pos,
                    format!(
                        "{field}: expected a pre-encoded string or a mapping of field names to string values, found {}",
                        n.kind()
                    ),
                );
                None
            }
        }
    }

    /// `multipartForm` data: a list of parts `{name, value, filename?, contentType?}`.
    fn multipart_body(
        &mut self,
        n: &Node,
        field: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Option<Vec<MultipartPart>> {
        let Value::Seq(items) = &n.value else {
            self.err(
                n.pos,
                format!(
                    "{field}: expected a list of parts (each with name and value), found {}",
                    n.kind()
                ),
            );
            return None;
        };
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            if !self.expect_map(item, &f) {
                continue;
            }
            self.known_keys(item, &["name", "value", "filename", "contentType"], &f);
            let name = self.req_string(item, "name", &f);
            let value = self
                .required(item, "value", &f)
                .and_then(|v| self.body_template(v, &format!("{f}.value"), scope, refs));
            let filename = item
                .get("filename")
                .and_then(|v| self.body_template(v, &format!("{f}.filename"), scope, refs));
            let content_type = self.opt_string(item, "contentType", &f).filter(|ct| {
                let ok = !ct.value.trim().is_empty()
                    && ct.value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
                if !ok {
                    self.err(
                        ct.pos,
                        format!(
                            "{f}.contentType: '{}' is not a valid media type for a header (e.g. image/png)",
                            ct.value.escape_default()
                        ),
                    );
                }
                ok
            });
            if name.value.is_empty() {
                continue;
            }
            if let Some(value) = value {
                parts.push(MultipartPart {
                    name: name.value,
                    value,
                    filename,
                    content_type: content_type.map(|c| c.value.trim().to_string()),
                });
            }
        }
        Some(parts)
    }

    fn json_templates(&mut self, n: &Node, field: &str, scope: Scope, refs: &mut Vec<RefSite>) {
        match &n.value {
            Value::Str(s) => {
                let t = Template::parse(self.spanned(s.clone(), n.pos));
                if !t.is_literal() {
                    refs.push(RefSite {
                        field: field.to_string(),
                        template: t,
                        scope,
                    });
                }
            }
            Value::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    self.json_templates(it, &format!("{field}[{i}]"), scope, refs);
                }
            }
            Value::Map(es) => {
                for e in es {
                    self.json_templates(&e.value, &format!("{field}.{}", e.key), scope, refs);
                }
            }
            _ => {}
        }
    }

    pub(super) fn authentication(
        &mut self,
        n: &Node,
        field: &str,
        refs: &mut Vec<RefSite>,
    ) -> Option<Authentication> {
        if !self.expect_map(n, field) {
            return None;
        }
        let kind = self.req_string(n, "type", field);
        let mut tpl = |d: &mut Self, key: &str| -> Template {
            let f = format!("{field}.{key}");
            let t = match d.required(n, key, field) {
                Some(v) => d.template(v, &f),
                None => None,
            };
            let t = t.unwrap_or_else(|| Template::parse(d.spanned(String::new(), n.pos)));
            refs.push(RefSite {
                field: f,
                template: t.clone(),
                scope: Scope::Binds,
            });
            t
        };
        Some(match kind.value.as_str() {
            "bearer" => {
                self.known_keys(n, &["type", "token"], field);
                Authentication::Bearer {
                    token: tpl(self, "token"),
                }
            }
            "basic" => {
                self.known_keys(n, &["type", "username", "password"], field);
                Authentication::Basic {
                    username: tpl(self, "username"),
                    password: tpl(self, "password"),
                }
            }
            "digest" => {
                self.known_keys(n, &["type", "username", "password"], field);
                Authentication::Digest {
                    username: tpl(self, "username"),
                    password: tpl(self, "password"),
                }
            }
            "apikey" => {
                self.known_keys(n, &["type", "key", "value", "placement"], field);
                let key = tpl(self, "key");
                let value = tpl(self, "value");
                let placement = match n.get("placement") {
                    None => ApiKeyPlacement::Header,
                    Some(p) => self
                        .enum_value(
                            p,
                            &format!("{field}.placement"),
                            &[
                                ("header", ApiKeyPlacement::Header),
                                ("query", ApiKeyPlacement::Query),
                            ],
                        )
                        .unwrap_or(ApiKeyPlacement::Header),
                };
                Authentication::ApiKey {
                    key,
                    value,
                    placement,
                }
            }
            "oauth2" => {
                self.known_keys(
                    n,
                    &[
                        "type",
                        "authorizationServerUri",
                        "resource",
                        "scopes",
                        "audience",
                        "tokenEndpoint",
                        "tokenValidation",
                    ],
                    field,
                );
                let authorization_server =
                    self.req_string(n, "authorizationServerUri", field).value;
                let resource = self.req_string(n, "resource", field).value;
                let audience = self.opt_string(n, "audience", field).map(|s| s.value);
                let scopes = n
                    .get("scopes")
                    .and_then(Node::as_seq)
                    .map(|items| items.iter().filter_map(|i| i.scalar_text()).collect())
                    .unwrap_or_default();
                let token_validation = self.opt_string(n, "tokenValidation", field);
                self.not_applied(
                    n,
                    "tokenEndpoint",
                    field,
                    "upstream reads it only to export OpenAPI documents, which this host does not do; tokens are checked against authorizationServerUri's keys",
                );
                Authentication::OAuth2 {
                    authorization_server,
                    resource,
                    audience,
                    scopes,
                    token_validation,
                    pos: n.pos,
                }
            }
            "" => return None,
            other => {
                const KINDS: &[&str] = &["bearer", "basic", "digest", "apikey", "oauth2"];
                let hint = did_you_mean(other, KINDS.iter().copied());
                self.err(
                    kind.pos,
                    format!(
                        "{field}.type: unknown authentication type '{other}' (one of {}){hint}",
                        KINDS.join(", ")
                    ),
                );
                return None;
            }
        })
    }

    fn tunnel(
        &mut self,
        n: &Node,
        field: &str,
        base_uri: &Spanned<url::Url>,
        refs: &mut Vec<RefSite>,
    ) -> Option<Tunnel> {
        if !self.expect_map(n, field) {
            return None;
        }
        let kind = self.req_string(n, "type", field);
        let ziti = kind.value == "ziti";
        if ziti {
            // The upstream schema closes the ziti shape; other types are the provider's to check.
            self.known_keys(n, &Tunnel::COMMON_KEYS, field);
        }
        let service = if ziti {
            Some(self.req_string(n, "service", field))
        } else {
            self.opt_string(n, "service", field)
        };
        let identity_node = if ziti {
            self.required(n, "identity", field)
        } else {
            n.get("identity")
        };
        let identity = identity_node.and_then(|i| self.template(i, &format!("{field}.identity")));
        if let Some(t) = &identity {
            refs.push(RefSite {
                field: format!("{field}.identity"),
                template: t.clone(),
                scope: Scope::TunnelIdentity,
            });
        }
        let fallback_pos = n.get("fallback").map(|f| f.pos);
        let fallback = match n.get("fallback") {
            None => Fallback::Fail,
            Some(f) => self
                .enum_value(
                    f,
                    &format!("{field}.fallback"),
                    &[("fail", Fallback::Fail), ("direct", Fallback::Direct)],
                )
                .unwrap_or(Fallback::Fail),
        };
        if fallback == Fallback::Direct && !LOOPBACK_URI.is_match(base_uri.value.as_str()) {
            let pos = n.get("fallback").map_or(n.pos, |f| f.pos);
            self.warn(
                pos,
                format!(
                    "{field}.fallback: 'direct' sends traffic for {} over the open network when the tunnel is down",
                    base_uri.value.as_str()
                ),
            );
        }
        let extra = entries(n)
            .iter()
            .filter(|e| !Tunnel::COMMON_KEYS.contains(&e.key.as_str()))
            .map(|e| (self.spanned(e.key.clone(), e.key_pos), e.value.to_json()))
            .collect();
        Some(Tunnel {
            kind,
            service,
            identity,
            fallback,
            fallback_pos,
            extra,
            pos: n.pos,
        })
    }
}
