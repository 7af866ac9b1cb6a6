//! `in: environment` consumed parameters: values read from the host process's
//! environment once, when the capability loads.
//!
//! Upstream (`Resolver.resolveInputParametersToRequest`) takes such a parameter's value
//! from `System.getenv(name)` when it has no `value`, puts it in the call's parameter map
//! so that the templates of the other parameters (and the body) can use it, and sends it
//! nowhere itself: only `header` and `query` parameters reach the wire there. This host
//! does the same, reading each variable once at load instead of per call.
//!
//! Owns: which variables a capability reads and the load-time errors (missing variable,
//! variable the host configuration does not grant). Must not touch: where values go on
//! the wire (`request`). Values are never logged, printed or put in an error.

use std::collections::HashMap;
use std::fmt;

use ikanos_spec::model::{Consumes, ParamIn, Pos};
use thiserror::Error;

/// One variable's value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue(String);

impl EnvValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvValue(<redacted>)")
    }
}

/// The values of every `in: environment` parameter of one capability, by variable name
/// (the parameter's name).
#[derive(Debug, Clone, Default)]
pub struct ConsumedEnvironment {
    values: HashMap<String, EnvValue>,
}

impl ConsumedEnvironment {
    pub fn get(&self, name: &str) -> Option<&EnvValue> {
        self.values.get(name)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What the environment may answer for one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Value(String),
    /// Not set (or not valid UTF-8: a header or query value could not carry it anyway).
    Missing,
    /// The host configuration does not let this capability read it.
    NotGranted,
}

/// Why an `in: environment` parameter has no value. Names the parameter and the
/// variable, never a value.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EnvironmentError {
    #[error("{file}:{pos}: consumes '{namespace}': parameter '{name}' (in: environment) reads environment variable '{name}', which is not set; set it before starting the capability, or give the parameter a `value`")]
    Missing {
        file: String,
        pos: Pos,
        namespace: String,
        name: String,
    },
    #[error("{file}:{pos}: consumes '{namespace}': parameter '{name}' (in: environment) reads environment variable '{name}', which the host configuration does not grant to this capability (add it to capabilities.NAME.env)")]
    NotGranted {
        file: String,
        pos: Pos,
        namespace: String,
        name: String,
    },
}

/// Read every `in: environment` parameter without a `value` (namespace, resource and
/// operation levels) through `lookup`. The first problem, in file order, is the error.
pub fn resolve(
    consumes: &[Consumes],
    lookup: &dyn Fn(&str) -> Lookup,
) -> Result<ConsumedEnvironment, EnvironmentError> {
    let mut values = HashMap::new();
    for c in consumes {
        let params = c
            .input_parameters
            .iter()
            .chain(c.resources.iter().flat_map(|r| {
                r.input_parameters
                    .iter()
                    .chain(r.operations.iter().flat_map(|o| &o.input_parameters))
            }));
        for p in params {
            if p.location != ParamIn::Environment || p.value.is_some() {
                continue;
            }
            let name = &p.name.value;
            if values.contains_key(name) {
                continue;
            }
            let site = || {
                (
                    p.name.file.display().to_string(),
                    p.name.pos,
                    c.namespace.value.clone(),
                    name.clone(),
                )
            };
            match lookup(name) {
                Lookup::Value(v) => {
                    values.insert(name.clone(), EnvValue(v));
                }
                Lookup::Missing => {
                    let (file, pos, namespace, name) = site();
                    return Err(EnvironmentError::Missing {
                        file,
                        pos,
                        namespace,
                        name,
                    });
                }
                Lookup::NotGranted => {
                    let (file, pos, namespace, name) = site();
                    return Err(EnvironmentError::NotGranted {
                        file,
                        pos,
                        namespace,
                        name,
                    });
                }
            }
        }
    }
    Ok(ConsumedEnvironment { values })
}

/// The process environment (`ikanos run`), or only the variables in `granted`
/// (`ikanos serve`: a tenant must not read the host's environment).
pub fn process_lookup(granted: Option<&[String]>) -> impl Fn(&str) -> Lookup + '_ {
    move |name: &str| {
        if let Some(granted) = granted {
            if !granted.iter().any(|g| g == name) {
                return Lookup::NotGranted;
            }
        }
        // `var` refuses names with `=` or NUL as unset rather than panicking.
        if name.is_empty() || name.contains(['=', '\0']) {
            return Lookup::Missing;
        }
        match std::env::var(name) {
            Ok(v) => Lookup::Value(v),
            Err(_) => Lookup::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const FILE: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "t"
  description: "t"
capability:
  consumes:
    - type: "http"
      namespace: "crm"
      baseUri: "http://crm.test/api/"
      inputParameters:
        REGION:
          in: "environment"
        FIXED:
          in: "environment"
          value: "x"
      resources:
        customer:
          path: "/customers"
          operations:
            list:
              method: "GET"
              inputParameters:
                TENANT:
                  in: "environment"
"#;

    fn consumes() -> Vec<Consumes> {
        ikanos_spec::load_str(Path::new("t.yaml"), FILE)
            .expect("valid test file")
            .capability
            .consumes
    }

    #[test]
    fn reads_every_level_and_skips_fixed_values() {
        let asked = std::cell::RefCell::new(Vec::new());
        let env = resolve(&consumes(), &|n| {
            asked.borrow_mut().push(n.to_string());
            Lookup::Value(format!("v-{n}"))
        })
        .unwrap();
        assert_eq!(*asked.borrow(), ["REGION", "TENANT"]);
        assert_eq!(env.get("TENANT").unwrap().expose(), "v-TENANT");
        assert!(env.get("FIXED").is_none());
        assert!(
            !format!("{env:?}").contains("v-REGION"),
            "values stay out of Debug"
        );
    }

    #[test]
    fn missing_and_refused_variables_name_the_site_not_a_value() {
        let err = resolve(&consumes(), &|n| {
            if n == "REGION" {
                Lookup::Value("secret-value".into())
            } else {
                Lookup::Missing
            }
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("t.yaml:23:17:"), "{err}");
        assert!(err.contains("'TENANT'") && err.contains("not set"), "{err}");
        assert!(!err.contains("secret-value"));
        let err = resolve(&consumes(), &|_| Lookup::NotGranted)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.yaml:11:9:"), "{err}");
        assert!(err.contains("capabilities.NAME.env"), "{err}");
    }

    #[test]
    fn a_grant_list_confines_the_lookup() {
        let granted = vec!["PATH".to_string()];
        let l = process_lookup(Some(&granted));
        assert_eq!(l("HOME"), Lookup::NotGranted);
        assert!(matches!(l("PATH"), Lookup::Value(_)));
        assert_eq!(process_lookup(None)("A=B"), Lookup::Missing);
    }
}
