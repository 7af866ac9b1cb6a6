//! A table of named rules, for scenarios that try many attacks on one setup: every rule
//! is checked, each broken one is kept as (rule, expected, got), and the scenario fails
//! once at the end naming every broken rule, so one regression does not hide the others.
//! Owns only the bookkeeping; what each rule checks stays in the test.

use std::fmt::Display;

/// The rules a scenario checked, and the broken ones.
pub struct Rules {
    what: &'static str,
    checked: usize,
    broken: Vec<Broken>,
}

struct Broken {
    rule: String,
    expected: String,
    got: String,
}

impl Rules {
    /// An empty table of `what` rules (the word the failure message uses).
    pub fn new(what: &'static str) -> Self {
        Rules {
            what,
            checked: 0,
            broken: Vec::new(),
        }
    }

    /// Rule `rule` held if `holds`; else it is kept with what was expected and what was seen.
    pub fn check(&mut self, rule: &str, expected: impl Display, got: impl Display, holds: bool) {
        self.checked += 1;
        if !holds {
            self.broken.push(Broken {
                rule: rule.into(),
                expected: expected.to_string(),
                got: got.to_string(),
            });
        }
    }

    /// Fail, naming every broken rule, unless all held.
    #[track_caller]
    pub fn assert_all_hold(self) {
        if self.broken.is_empty() {
            return;
        }
        let mut report = format!(
            "{} of {} {} rules broken:",
            self.broken.len(),
            self.checked,
            self.what
        );
        for b in &self.broken {
            report.push_str(&format!(
                "\n- {}\n    expected: {}\n    got: {}",
                b.rule, b.expected, b.got
            ));
        }
        panic!("{report}");
    }
}
