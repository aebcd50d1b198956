//! Health: components report what is degraded (database unreachable, writer behind …);
//! `GET /health` and the container health check read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Overall health as reported by `GET /health`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Why the server is degraded, keyed by component.
    pub reasons: BTreeMap<String, String>,
}

/// Components report problems here; `GET /health` reads it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    reasons: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Health {
    /// Marks `component` degraded with a reason (replacing an older one).
    pub fn degrade(&self, component: &str, reason: impl Into<String>) {
        if let Ok(mut r) = self.reasons.lock() {
            r.insert(component.to_owned(), reason.into());
        }
    }

    /// Marks `component` healthy again.
    pub fn recover(&self, component: &str) {
        if let Ok(mut r) = self.reasons.lock() {
            r.remove(component);
        }
    }

    /// Current report.
    pub fn report(&self) -> HealthReport {
        let reasons = self.reasons.lock().map(|r| r.clone()).unwrap_or_default();
        HealthReport {
            status: if reasons.is_empty() { "ok" } else { "degraded" },
            reasons,
        }
    }
}
