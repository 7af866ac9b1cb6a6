//! Decoding a control entry's `observability` block (upstream's `ObservabilitySpec`).
//!
//! Owns: its keys (every level refuses unknown ones, as the schema's
//! `unevaluatedProperties: false`), the types and bounds of `sampling` (0 ..= 1) and
//! `buffer-size` (10 ..= 10000), the `propagation` names, and the endpoint's shape when
//! it is written literally (http or https, a host, no credentials). Must not touch:
//! telemetry itself.

use super::*;
use crate::model::{check_otlp_endpoint, Observability, Propagation, TRACE_BUFFER_RANGE};

const KEYS: &[&str] = &["enabled", "metrics", "traces", "exporters"];
const PROPAGATIONS: &[(&str, Propagation)] = &[("w3c", Propagation::W3c), ("b3", Propagation::B3)];

impl Decoder<'_> {
    /// `observability`, upstream's defaults when absent or null.
    pub(super) fn observability(
        &mut self,
        n: &Node,
        field: &str,
        refs: &mut Vec<RefSite>,
    ) -> Observability {
        let mut o = Observability::default();
        let Some(b) = n.get("observability") else {
            return o;
        };
        let field = format!("{field}.observability");
        if matches!(b.value, Value::Null) || !self.expect_map(b, &field) {
            return o;
        }
        o.pos = Some(b.pos);
        self.known_keys(b, KEYS, &field);
        o.enabled = self.opt_bool(b, "enabled", &field).unwrap_or(true);
        if let Some(m) = self.block(b, "metrics", &field, &["local"]) {
            let mfield = format!("{field}.metrics");
            if let Some(l) = self.block(m, "local", &mfield, &["enabled"]) {
                o.metrics_local = self
                    .opt_bool(l, "enabled", &format!("{mfield}.local"))
                    .unwrap_or(true);
            }
        }
        if let Some(t) = self.block(b, "traces", &field, &["sampling", "propagation", "local"]) {
            self.traces(t, &format!("{field}.traces"), &mut o);
        }
        if let Some(e) = self.block(b, "exporters", &field, &["otlp"]) {
            let efield = format!("{field}.exporters");
            if let Some(otlp) = self.block(e, "otlp", &efield, &["endpoint"]) {
                let ofield = format!("{efield}.otlp");
                if let Some(v) = self.required(otlp, "endpoint", &ofield) {
                    let efield = format!("{ofield}.endpoint");
                    if let Some(t) = self.template(v, &efield) {
                        self.otlp_endpoint(&t, &efield);
                        refs.push(RefSite {
                            field: efield,
                            template: t.clone(),
                            scope: Scope::Binds,
                        });
                        o.otlp_endpoint = Some(t);
                    }
                }
            }
        }
        o
    }

    /// A nested mapping `key` of `n` with its keys checked; None when absent or null.
    fn block<'n>(
        &mut self,
        n: &'n Node,
        key: &str,
        field: &str,
        keys: &[&str],
    ) -> Option<&'n Node> {
        let v = n.get(key)?;
        let field = format!("{field}.{key}");
        if matches!(v.value, Value::Null) || !self.expect_map(v, &field) {
            return None;
        }
        self.known_keys(v, keys, &field);
        Some(v)
    }

    fn traces(&mut self, t: &Node, field: &str, o: &mut Observability) {
        if let Some(s) = t.get("sampling") {
            let ratio = match s.value {
                Value::Int(i, _) => Some(i as f64),
                Value::Float(f, _) => Some(f),
                _ => None,
            };
            match ratio {
                Some(r) if (0.0..=1.0).contains(&r) => o.sampling = Some(self.spanned(r, s.pos)),
                _ => self.err(
                    s.pos,
                    format!(
                        "{field}.sampling: expected a number from 0 to 1 (the share of traces recorded: 1.0 all, 0.1 one in ten), found {}",
                        s.scalar_text().unwrap_or_else(|| s.kind().to_string())
                    ),
                ),
            }
        }
        if let Some(p) = t.get("propagation") {
            if let Some(p) = self.enum_value(p, &format!("{field}.propagation"), PROPAGATIONS) {
                o.propagation = p;
            }
        }
        if let Some(l) = self.block(t, "local", field, &["enabled", "buffer-size"]) {
            let lfield = format!("{field}.local");
            o.traces_local = self.opt_bool(l, "enabled", &lfield).unwrap_or(true);
            if let Some(v) = l.get("buffer-size") {
                let size = match v.value {
                    Value::Int(i, _) => usize::try_from(i).ok(),
                    _ => None,
                };
                match size {
                    Some(s) if TRACE_BUFFER_RANGE.contains(&s) => o.buffer_size = s,
                    _ => self.err(
                        v.pos,
                        format!(
                            "{lfield}.buffer-size: expected a whole number of traces from {} to {}, found {}",
                            TRACE_BUFFER_RANGE.start(),
                            TRACE_BUFFER_RANGE.end(),
                            v.scalar_text().unwrap_or_else(|| v.kind().to_string())
                        ),
                    ),
                }
            }
        }
    }

    /// A literal endpoint is checked here, so `ikanos validate` finds a bad one; one
    /// that names binds is checked once rendered, at start-up.
    fn otlp_endpoint(&mut self, t: &Template, field: &str) {
        if t.parts
            .iter()
            .any(|p| matches!(p, TemplatePart::Ref { .. }))
        {
            return;
        }
        let raw = &t.raw.value;
        match check_otlp_endpoint(raw) {
            Err(why) => self.err(t.raw.pos, format!("{field}: '{raw}' {why}")),
            Ok(url) if url.port() == Some(4317) => self.warn(
                t.raw.pos,
                format!("{field}: port 4317 is where collectors take OTLP over gRPC; this host exports OTLP over HTTP (`/v1/traces`, port 4318 by convention), so point it at the collector's HTTP receiver"),
            ),
            Ok(_) => {}
        }
    }
}
