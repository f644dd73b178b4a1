//! Size of each function's release binary and of its deployment zip (the binary as
//! `bootstrap`, deflated, as `cargo lambda build --output-format zip` packs it): built here
//! for this machine, and as `scripts/sam-build` left the deploy artefacts (arm64 by default).

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

/// The deploy artefact `scripts/sam-build` left for a function (`.aws-sam/build/<Id>/bootstrap`),
/// with the architecture its ELF header names.
fn sam_artefact(name: &str) -> Option<(std::path::PathBuf, &'static str)> {
    // `hook-deliveries` → `HookDeliveriesFunction`, as template.yaml names them.
    let pascal: String =
        name.split('-').map(|part| format!("{}{}", part[..1].to_uppercase(), &part[1..])).collect();
    let logical_id = format!("{pascal}Function");
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join(".aws-sam/build")
        .join(logical_id)
        .join("bootstrap");
    let head = std::fs::read(&path).ok()?;
    // ELF `e_machine` (little-endian, offset 18): 183 is AArch64, 62 is x86-64.
    let arch = match head.get(18..20)? {
        [183, 0] => "arm64",
        [62, 0] => "x86_64",
        _ => return None,
    };
    Some((path, arch))
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1024.0 / 1024.0)
}

pub fn measure() -> Section {
    let arch = std::env::consts::ARCH;
    let (mut rows, mut results, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
    let mut budget = |name: &str, arch: &str, zip: u64| {
        budgets.push(Budget::new(
            format!("zip `{name}` ≤ 4 MB ({arch})"),
            "4,000,000 bytes",
            format!("{zip} bytes"),
            zip <= BUDGET_BYTES,
        ));
    };
    for name in
        ["users", "passwords", "logs", "log-counts", "hooks", "hook-deliveries", "oidc", "docs", "hello"]
    {
        let mut row = vec![format!("`{name}`")];
        for (binary, arch) in [Some((Setup::binary(name), arch)), sam_artefact(name)].into_iter().flatten() {
            let Ok(meta) = std::fs::metadata(&binary) else {
                println!("size {name} ({arch}): no binary at {}", binary.display());
                continue;
            };
            let zip = zipped_size(&binary);
            println!(
                "size {name} ({arch}): binary {} MiB, zip {}",
                mib(meta.len()),
                zip.as_ref().map_or_else(|e| e.clone(), |z| format!("{} MiB", mib(*z)))
            );
            row.extend([
                format!("{arch}: {}", mib(meta.len())),
                zip.as_ref().map_or("–".into(), |z| mib(*z)),
            ]);
            results.push(json!({ "function": name, "arch": arch, "binary_bytes": meta.len(), "zip_bytes": zip.as_ref().ok() }));
            if name != "hello"
                && let Ok(zip) = zip
            {
                budget(name, arch, zip);
            }
        }
        row.resize(5, "–".into());
        rows.push(row);
    }
    let markdown = format!(
        "Release profile (`lto = true`, `codegen-units = 1`, `strip`, `panic = abort`), built here \
         for **{arch}**, and, where `scripts/sam-build` has run (CI runs it first), the deploy \
         artefacts it left in `.aws-sam/build` (arm64 by default, the architecture the template \
         deploys). Zip: the binary as `bootstrap`, deflated.\n\n{}",
        table(&["function", "binary MiB", "zip MiB", "deploy binary MiB", "deploy zip MiB"], &rows)
    );
    Section { key: "size", title: "Binary and zip size", json: json!(results), markdown, budgets }
}
