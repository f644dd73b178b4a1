//! Size of each function's release binary and of its deployment zip (the binary as
//! `bootstrap`, deflated, as `cargo lambda build --output-format zip` packs it).

use serde_json::json;
use std::process::Command;

use crate::report::{Budget, Section, table};
use crate::setup::Setup;

/// 4 MB, decimal: the stricter reading.
const BUDGET_BYTES: u64 = 4_000_000;

fn zipped_size(binary: &std::path::Path) -> Result<u64, String> {
    let dir = std::env::temp_dir().join(format!("bench-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bootstrap = dir.join("bootstrap");
    let zip = dir.join("function.zip");
    let _ = std::fs::remove_file(&zip);
    std::fs::copy(binary, &bootstrap).map_err(|e| e.to_string())?;
    let status = Command::new("zip")
        .arg("-q")
        .arg("-j")
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .map_err(|e| format!("zip: {e}"))?;
    if !status.success() {
        return Err(format!("zip exited with {status}"));
    }
    let size = std::fs::metadata(&zip).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(size)
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1024.0 / 1024.0)
}

pub fn measure() -> Section {
    let arch = std::env::consts::ARCH;
    let (mut rows, mut results, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
    for name in ["users", "passwords", "logs", "oidc", "docs", "hello"] {
        let binary = Setup::binary(name);
        let Ok(meta) = std::fs::metadata(&binary) else {
            println!("size {name}: no binary at {}", binary.display());
            continue;
        };
        let zip = zipped_size(&binary);
        println!(
            "size {name}: binary {} MiB, zip {}",
            mib(meta.len()),
            zip.as_ref().map_or_else(|e| e.clone(), |z| format!("{} MiB", mib(*z)))
        );
        rows.push(vec![format!("`{name}`"), mib(meta.len()), zip.as_ref().map_or("–".into(), |z| mib(*z))]);
        results.push(json!({ "function": name, "arch": arch, "binary_bytes": meta.len(), "zip_bytes": zip.as_ref().ok() }));
        if name != "hello"
            && let Ok(zip) = zip
        {
            budgets.push(Budget::new(
                format!("zip `{name}` ≤ 4 MB ({arch})"),
                "4,000,000 bytes",
                format!("{zip} bytes"),
                zip <= BUDGET_BYTES,
            ));
        }
    }
    let markdown = format!(
        "Release profile (`lto = true`, `codegen-units = 1`, `strip`, `panic = abort`), built for \
         **{arch}**: this machine has no aarch64 Rust standard library and cannot fetch one, so the \
         arm64 binaries the template deploys are not measured here (aarch64 code is typically \
         within a few per cent of x86_64 in size). Zip: the binary as `bootstrap`, deflated.\n\n{}",
        table(&["function", "binary MiB", "zip MiB"], &rows)
    );
    Section { key: "size", title: "Binary and zip size", json: json!(results), markdown, budgets }
}
