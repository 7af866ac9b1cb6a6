//! Cross-reference checks on the merged document.
//!
//! Owns: everything that needs more than one entry to decide — duplicate namespaces,
//! sockets two exposes would both listen on, consumed operation names the host
//! addresses as `namespace.operation`, path placeholders without a value, `{{…}}`
//! references binds or parameters cannot satisfy, and `call`/`ref`/`forward` targets.
//! Must not touch: the shape of single entries (that is `decode`), files, the
//! environment (bind values are only read at run time by `binds`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::decode::{CallSite, DConsumes, DExposes, RefSite, Scope};
use crate::diagnostic::{did_you_mean, Sink};
use crate::imports::Merged;
use crate::model::{Exposes, ParamIn, Pos, Spanned, Template, TemplatePart};

mod skill;

pub(crate) fn run(m: &Merged, sink: &mut Sink) {
    let binds = BindIndex::new(m, sink);
    let callers = Callers::new(m);
    let soft = m.standalone;
    let mut c = Checker {
        m,
        sink,
        binds,
        callers,
        soft,
    };
    c.namespaces();
    c.listeners();
    c.operation_names();
    for (i, ce) in m.consumes.iter().enumerate() {
        c.consumed_paths(i, ce);
        for r in &ce.refs {
            c.reference(r, Some((i, ce)), None);
        }
    }
    for e in &m.exposes {
        c.exposed_paths(e);
        for r in &e.refs {
            c.reference(r, None, Some(e));
        }
        for call in &e.calls {
            c.call(call);
        }
        for (field, target) in &e.flow_refs {
            c.flow_ref(field, target);
        }
        for (field, target) in &e.forwards {
            c.forward(field, target);
        }
    }
    for a in &m.aggregates {
        for call in &a.calls {
            c.call(call);
        }
    }
    skill::run(m, c.sink);
}

/// Bind namespaces and their variables.
struct BindIndex {
    by_ns: BTreeMap<String, BTreeSet<String>>,
    flat: BTreeSet<String>,
}

impl BindIndex {
    fn new(m: &Merged, sink: &mut Sink) -> Self {
        let mut by_ns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut seen_ns: HashMap<&str, &Spanned<String>> = HashMap::new();
        let mut seen_var: HashMap<&str, &str> = HashMap::new();
        for b in &m.binds {
            let ns = b.namespace.value.as_str();
            if ns.is_empty() {
                continue;
            }
            if let Some(first) = seen_ns.get(ns) {
                sink.error(
                    &b.namespace.file,
                    b.namespace.pos,
                    format!(
                        "{}.namespace: bind namespace '{ns}' is already declared at {}",
                        b.field,
                        at(first)
                    ),
                );
            } else {
                seen_ns.insert(ns, &b.namespace);
            }
            for (var, _) in &b.keys {
                if let Some(other) = seen_var.get(var.value.as_str()).filter(|o| **o != ns) {
                    sink.warn(
                        &var.file,
                        var.pos,
                        format!(
                            "{}.keys.{}: also declared by bind '{other}'; a bare {{{{{}}}}} takes this one, write {{{{{ns}.{}}}}} to be explicit",
                            b.field, var.value, var.value, var.value
                        ),
                    );
                }
                seen_var.insert(&var.value, ns);
                by_ns
                    .entry(ns.to_string())
                    .or_default()
                    .insert(var.value.clone());
            }
            by_ns.entry(ns.to_string()).or_default();
        }
        let flat = by_ns.values().flatten().cloned().collect();
        BindIndex { by_ns, flat }
    }

    /// Why `{{ns.name}}` does not resolve, if it does not.
    fn problem(&self, ns: &str, name: &str) -> Option<String> {
        match self.by_ns.get(ns) {
            None => {
                let hint = did_you_mean(ns, self.by_ns.keys().map(String::as_str));
                Some(format!("no bind namespace '{ns}'{hint}"))
            }
            Some(keys) if !keys.contains(name) => {
                let hint = did_you_mean(name, keys.iter().map(String::as_str));
                Some(format!("bind '{ns}' declares no key '{name}'{hint}"))
            }
            Some(_) => None,
        }
    }
}

/// `with:` keys of the call sites that target each consumed operation.
struct Callers {
    by_target: HashMap<(String, String), Vec<Vec<String>>>,
}

impl Callers {
    fn new(m: &Merged) -> Self {
        let mut by_target: HashMap<(String, String), Vec<Vec<String>>> = HashMap::new();
        let calls = m
            .exposes
            .iter()
            .flat_map(|e| &e.calls)
            .chain(m.aggregates.iter().flat_map(|a| &a.calls));
        for c in calls {
            if let Some((ns, op)) = c.target.value.split_once('.') {
                by_target
                    .entry((ns.to_string(), op.to_string()))
                    .or_default()
                    .push(c.with_keys.clone());
            }
        }
        Callers { by_target }
    }

    fn of(&self, ns: &str, op: &str) -> &[Vec<String>] {
        self.by_target
            .get(&(ns.to_string(), op.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}

struct Checker<'a, 's> {
    m: &'a Merged,
    sink: &'s mut Sink,
    binds: BindIndex,
    callers: Callers,
    soft: bool,
}

fn at(s: &Spanned<String>) -> String {
    format!("{}:{}", s.file.display(), s.pos)
}

impl Checker<'_, '_> {
    fn error(&mut self, s: &Spanned<impl Sized>, msg: String) {
        self.sink.error(&s.file, s.pos, msg);
    }

    /// An error, or a warning when the file is a shared file loaded on its own.
    fn unresolved(&mut self, file: &std::path::Path, pos: Pos, msg: String) {
        let soft = self.soft;
        let msg = if soft {
            format!("{msg} (the importing capability must provide it)")
        } else {
            msg
        };
        self.sink.report(soft, file, pos, msg);
    }

    /// Namespaces are unique across binds, consumes and exposes (upstream's
    /// `ikanos-namespaces-unique`, severity error): one name, one meaning, for routing
    /// and for `{{ns.KEY}}` references alike. Duplicates within binds are the bind
    /// index's to report.
    fn namespaces(&mut self) {
        let mut seen: HashMap<&str, (&'static str, &Spanned<String>)> = HashMap::new();
        for b in &self.m.binds {
            if !b.namespace.value.is_empty() {
                seen.entry(&b.namespace.value)
                    .or_insert(("bind", &b.namespace));
            }
        }
        let consumes = self
            .m
            .consumes
            .iter()
            .map(|c| ("consumes", c.field.as_str(), Some(&c.model.namespace)));
        let exposes = self
            .m
            .exposes
            .iter()
            .map(|e| ("exposes", e.field.as_str(), e.namespace.as_ref()));
        let mut problems = Vec::new();
        for (kind, field, ns) in consumes.chain(exposes) {
            let Some(ns) = ns else { continue };
            if ns.value.is_empty() {
                continue;
            }
            match seen.get(ns.value.as_str()) {
                Some((first_kind, first)) if *first_kind == kind => problems.push((
                    ns,
                    format!(
                        "{field}.namespace: {kind} namespace '{}' is already declared at {}",
                        ns.value,
                        at(first)
                    ),
                )),
                Some((first_kind, first)) => problems.push((
                    ns,
                    format!(
                        "{field}.namespace: namespace '{}' is already used by a {first_kind} entry at {}; namespaces must be unique across binds, consumes and exposes (ikanos-namespaces-unique)",
                        ns.value,
                        at(first)
                    ),
                )),
                None => {
                    seen.insert(&ns.value, (kind, ns));
                }
            }
        }
        for (ns, msg) in problems {
            self.sink.error(&ns.file, ns.pos, msg);
        }
    }

    /// Two exposes may not listen on the same address and port. Port 0 asks the OS for
    /// a free port and never conflicts; 0.0.0.0 / :: overlap every address.
    fn listeners(&mut self) {
        let mut taken: Vec<(&DExposes, String, &Spanned<u16>)> = Vec::new();
        for e in &self.m.exposes {
            let Some(l) = &e.listen else { continue };
            if l.port.value == 0 {
                continue;
            }
            let addr = normalize_address(l.address.as_ref().map(|a| a.value.as_str()));
            let clash = taken.iter().find(|(_, a, p)| {
                p.value == l.port.value && (*a == addr || is_wildcard(a) || is_wildcard(&addr))
            });
            if let Some((first, _, first_port)) = clash {
                let msg = format!(
                    "{}.port: {}:{} is already used by {} at {}:{}",
                    e.field,
                    l.address
                        .as_ref()
                        .map_or("(default address)", |a| a.value.as_str()),
                    l.port.value,
                    first.field,
                    first_port.file.display(),
                    first_port.pos
                );
                self.sink.error(&l.port.file, l.port.pos, msg);
            } else {
                taken.push((e, addr, &l.port));
            }
        }
    }

    /// The host addresses consumed operations as namespace + operation name.
    fn operation_names(&mut self) {
        for c in &self.m.consumes {
            let mut seen: HashMap<&str, (&str, &Spanned<String>)> = HashMap::new();
            for r in &c.model.resources {
                for o in &r.operations {
                    if let Some((res, first)) = seen.get(o.name.value.as_str()) {
                        let msg = format!(
                            "{}.resources.{}.operations: operation '{}' is also declared in resource '{res}' at {}; operation names must be unique within consumes namespace '{}'",
                            c.field, r.name.value, o.name.value, at(first), c.model.namespace.value
                        );
                        self.sink.error(&o.name.file, o.name.pos, msg);
                    } else {
                        seen.insert(&o.name.value, (&r.name.value, &o.name));
                    }
                }
            }
        }
        for e in &self.m.exposes {
            let Some(Exposes::Rest(rest)) = &e.model else {
                continue;
            };
            let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
            for r in &rest.resources {
                for o in &r.operations {
                    if let Some(first) = seen.get(o.name.value.as_str()) {
                        let msg = format!(
                            "{}.resources.{}.operations: operation name '{}' is also used at {}; the component cannot tell them apart",
                            e.field, r.name.value, o.name.value, at(first)
                        );
                        self.sink.warn(&o.name.file, o.name.pos, msg);
                    } else {
                        seen.insert(&o.name.value, &o.name);
                    }
                }
            }
        }
    }

    fn consumed_paths(&mut self, _idx: usize, ce: &DConsumes) {
        let c = &ce.model;
        for (ri, r) in c.resources.iter().enumerate() {
            let field = ce.resource_fields.get(ri).cloned().unwrap_or_default();
            let path = r.path_template();
            for (ns, name) in path.refs() {
                if let Some(ns) = ns {
                    if let Some(why) = self.binds.problem(ns, name) {
                        let msg = format!(
                            "{field}.path: unresolvable reference '{{{{{ns}.{name}}}}}': {why}"
                        );
                        self.unresolved(&r.path.file, r.path.pos, msg);
                    }
                    continue;
                }
                for o in &r.operations {
                    let declared = c
                        .input_parameters
                        .iter()
                        .chain(&r.input_parameters)
                        .chain(&o.input_parameters)
                        .rfind(|p| p.name.value == name);
                    match declared {
                        Some(p) if p.location == ParamIn::Path => {}
                        Some(p) => {
                            let msg = format!(
                                "{field}.path: path parameter '{name}' in '{}' is declared with in: {} (operation '{}'); declare inputParameters.{name} with in: path",
                                r.path.value,
                                param_in(p.location),
                                o.name.value
                            );
                            self.error(&r.path, msg);
                        }
                        None => {
                            let callers = self.callers.of(&c.namespace.value, &o.name.value);
                            let by_callers = !callers.is_empty()
                                && callers.iter().all(|w| w.iter().any(|k| k == name));
                            if by_callers || self.binds.flat.contains(name) {
                                continue;
                            }
                            let msg = format!(
                                "{field}.path: path parameter '{name}' in '{}' has no value: declare inputParameters.{name} with in: path (operation '{}')",
                                r.path.value, o.name.value
                            );
                            self.error(&r.path, msg);
                        }
                    }
                }
            }
        }
    }

    fn exposed_paths(&mut self, e: &DExposes) {
        let Some(Exposes::Rest(rest)) = &e.model else {
            return;
        };
        for (ri, r) in rest.resources.iter().enumerate() {
            let field = e.resource_fields.get(ri).cloned().unwrap_or_default();
            let path = r.path_template();
            for (ns, name) in path.refs() {
                let shown = match ns {
                    Some(ns) => format!("{ns}.{name}"),
                    None => name.to_string(),
                };
                for o in &r.operations {
                    let declared = r
                        .input_parameters
                        .iter()
                        .chain(&o.input_parameters)
                        .rfind(|p| p.name.value == shown);
                    match declared {
                        Some(p) if p.location == ParamIn::Path => {}
                        Some(p) => {
                            let msg = format!(
                                "{field}.path: path parameter '{shown}' in '{}' is declared with in: {} (operation '{}'); declare inputParameters.{shown} with in: path",
                                r.path.value,
                                param_in(p.location),
                                o.name.value
                            );
                            self.error(&r.path, msg);
                        }
                        None => {
                            let msg = format!(
                                "{field}.path: path parameter '{shown}' in '{}' is not declared: add inputParameters.{shown} with in: path (operation '{}')",
                                r.path.value, o.name.value
                            );
                            self.error(&r.path, msg);
                        }
                    }
                }
            }
        }
    }

    /// Names a flat `{{x}}` may use at a site besides bind variables.
    fn scope_names(
        &self,
        scope: Scope,
        consumes: Option<(usize, &DConsumes)>,
        exposes: Option<&DExposes>,
    ) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        match scope {
            Scope::Binds | Scope::TunnelIdentity => {}
            Scope::Consumed {
                resource,
                operation,
            } => {
                let Some((_, ce)) = consumes else {
                    return names;
                };
                let c = &ce.model;
                names.extend(c.input_parameters.iter().map(|p| p.name.value.clone()));
                for (ri, r) in c.resources.iter().enumerate() {
                    if resource.is_some_and(|x| x != ri) {
                        continue;
                    }
                    names.extend(r.input_parameters.iter().map(|p| p.name.value.clone()));
                    for (oi, o) in r.operations.iter().enumerate() {
                        if resource.is_some() && operation.is_some_and(|x| x != oi) {
                            continue;
                        }
                        names.extend(o.input_parameters.iter().map(|p| p.name.value.clone()));
                        for w in self.callers.of(&c.namespace.value, &o.name.value) {
                            names.extend(w.iter().cloned());
                        }
                    }
                }
            }
            Scope::Exposed {
                resource,
                operation,
            } => {
                let Some(Exposes::Rest(rest)) = exposes.and_then(|e| e.model.as_ref()) else {
                    return names;
                };
                for (ri, r) in rest.resources.iter().enumerate() {
                    if resource.is_some_and(|x| x != ri) {
                        continue;
                    }
                    names.extend(r.input_parameters.iter().map(|p| p.name.value.clone()));
                    for (oi, o) in r.operations.iter().enumerate() {
                        if operation.is_some_and(|x| x != oi) {
                            continue;
                        }
                        names.extend(o.input_parameters.iter().map(|p| p.name.value.clone()));
                    }
                }
            }
        }
        names
    }

    fn reference(
        &mut self,
        site: &RefSite,
        consumes: Option<(usize, &DConsumes)>,
        exposes: Option<&DExposes>,
    ) {
        let t: &Template = &site.template;
        let mut params: Option<BTreeSet<String>> = None;
        for part in &t.parts {
            let TemplatePart::Ref { namespace, name } = part else {
                continue;
            };
            let why = match namespace {
                Some(ns) => self.binds.problem(ns, name),
                None if self.binds.flat.contains(name) => None,
                None => {
                    let names = params
                        .get_or_insert_with(|| self.scope_names(site.scope, consumes, exposes));
                    if names.contains(name) {
                        None
                    } else if matches!(site.scope, Scope::Binds | Scope::TunnelIdentity) {
                        let hint = did_you_mean(name, self.binds.flat.iter().map(String::as_str));
                        Some(format!("no bind declares key '{name}'{hint}"))
                    } else {
                        let all = names.iter().chain(&self.binds.flat).map(String::as_str);
                        let hint = did_you_mean(name, all);
                        Some(format!("'{name}' is neither a bind key nor a parameter of this operation{hint}"))
                    }
                }
            };
            if let Some(why) = why {
                let msg = format!(
                    "{}: unresolvable reference '{}': {why}",
                    site.field,
                    part.display()
                );
                if site.scope == Scope::TunnelIdentity {
                    let msg = format!("{msg}; the tunnel can never become ready (`ikanos-tunnel-identity-must-bind`)");
                    self.sink.report(true, &t.raw.file, t.raw.pos, msg);
                } else {
                    self.unresolved(&t.raw.file, t.raw.pos, msg);
                }
            }
        }
    }

    fn call(&mut self, call: &CallSite) {
        let Some((ns, op)) = call.target.value.split_once('.') else {
            return;
        };
        let Some(c) = self
            .m
            .consumes
            .iter()
            .find(|c| c.model.namespace.value == ns)
        else {
            let names: Vec<&str> = self
                .m
                .consumes
                .iter()
                .map(|c| c.model.namespace.value.as_str())
                .filter(|n| !n.is_empty())
                .collect();
            let hint = did_you_mean(ns, names.iter().copied());
            let declared = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            let msg = format!(
                "{}: '{}' calls consumes namespace '{ns}', which is not declared (declared: {declared}){hint}",
                call.field, call.target.value
            );
            self.unresolved(&call.target.file, call.target.pos, msg);
            return;
        };
        let ops: Vec<&str> = c
            .model
            .resources
            .iter()
            .flat_map(|r| &r.operations)
            .map(|o| o.name.value.as_str())
            .collect();
        if !ops.contains(&op) {
            let hint = did_you_mean(op, ops.iter().copied());
            let msg = format!(
                "{}: '{}': consumes namespace '{ns}' has no operation '{op}'{hint}",
                call.field, call.target.value
            );
            self.unresolved(&call.target.file, call.target.pos, msg);
        }
    }

    fn flow_ref(&mut self, field: &str, target: &Spanned<String>) {
        let Some((ns, flow)) = target.value.split_once('.') else {
            return;
        };
        let aggs: Vec<_> = self
            .m
            .aggregates
            .iter()
            .filter(|a| a.namespace.as_ref().is_some_and(|n| n.value == ns))
            .collect();
        if aggs.is_empty() {
            let names: Vec<&str> = self
                .m
                .aggregates
                .iter()
                .filter_map(|a| a.namespace.as_ref())
                .map(|n| n.value.as_str())
                .collect();
            let hint = did_you_mean(ns, names.iter().copied());
            let msg = format!(
                "{field}: '{}' refers to aggregate namespace '{ns}', which is not declared{hint}",
                target.value
            );
            self.unresolved(&target.file, target.pos, msg);
            return;
        }
        let flows: Vec<&str> = aggs
            .iter()
            .flat_map(|a| &a.flows)
            .map(|f| f.value.as_str())
            .collect();
        if !flows.contains(&flow) {
            let hint = did_you_mean(flow, flows.iter().copied());
            let msg = format!(
                "{field}: '{}': aggregate '{ns}' has no flow '{flow}'{hint}",
                target.value
            );
            self.unresolved(&target.file, target.pos, msg);
        }
    }

    fn forward(&mut self, field: &str, target: &Spanned<String>) {
        let names: Vec<&str> = self
            .m
            .consumes
            .iter()
            .map(|c| c.model.namespace.value.as_str())
            .collect();
        if !names.contains(&target.value.as_str()) {
            let hint = did_you_mean(&target.value, names.iter().copied());
            let msg = format!("{field}: no consumes namespace '{}'{hint}", target.value);
            self.unresolved(&target.file, target.pos, msg);
        }
    }
}

fn param_in(p: ParamIn) -> &'static str {
    match p {
        ParamIn::Query => "query",
        ParamIn::Header => "header",
        ParamIn::Path => "path",
        ParamIn::Cookie => "cookie",
        ParamIn::Body => "body",
        ParamIn::Environment => "environment",
    }
}

fn normalize_address(a: Option<&str>) -> String {
    match a.map(|s| s.trim().to_ascii_lowercase()) {
        None => "loopback".into(),
        Some(s) if s == "localhost" || s == "127.0.0.1" || s == "::1" => "loopback".into(),
        Some(s) if s == "::" => "0.0.0.0".into(),
        Some(s) => s,
    }
}

fn is_wildcard(a: &str) -> bool {
    a == "0.0.0.0"
}
