//! What a measurement hands back: a JSON value for the machine-readable file, Markdown for
//! BENCHMARKS.md, and the budgets it was held to.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct Budget {
    pub name: String,
    pub limit: String,
    pub measured: String,
    pub met: bool,
}

impl Budget {
    pub fn new(
        name: impl Into<String>,
        limit: impl Into<String>,
        measured: impl Into<String>,
        met: bool,
    ) -> Self {
        Self { name: name.into(), limit: limit.into(), measured: measured.into(), met }
    }
}

pub struct Section {
    pub key: &'static str,
    pub title: &'static str,
    pub json: Value,
    pub markdown: String,
    pub budgets: Vec<Budget>,
}

/// A Markdown table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", headers.join(" | "), "---|".repeat(headers.len()));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}
