//! The repository stands alone: people clone it without anything beside it, so no tracked
//! file may point outside it, and every section a comment cites ("compatibility §N") exists.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository")
}

/// Every tracked text file, with its path relative to the root.
fn tracked_files() -> Vec<(String, String)> {
    let out = Command::new("git").arg("ls-files").current_dir(root()).output().expect("git runs");
    assert!(out.status.success(), "git ls-files: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // This file names the patterns it looks for.
        .filter(|path| !["LICENSE", "Cargo.lock", "tests/repository.rs"].contains(path))
        .filter_map(|path| {
            let text = std::fs::read_to_string(root().join(path)).ok()?;
            Some((path.to_string(), text))
        })
        .collect()
}

/// Relative paths in `text` (runs of `../` that start a path) that climb above the root from
/// `dir`, as `(line, the path)`.
fn escaping_paths(dir_depth: usize, text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        while let Some(at) = line[i..].find("../").map(|at| at + i) {
            let continues_a_path =
                at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || b"/._-$".contains(&bytes[at - 1]));
            let mut end = at;
            let mut climbs = 0;
            while line[end..].starts_with("../") {
                end += 3;
                climbs += 1;
            }
            if !continues_a_path && climbs > dir_depth {
                let rest: String =
                    line[end..].chars().take_while(|c| !c.is_whitespace() && *c != '`').collect();
                found.push((number + 1, format!("{}{rest}", "../".repeat(climbs))));
            }
            i = end;
        }
    }
    found
}

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    let mut problems = Vec::new();
    for (path, text) in tracked_files() {
        let depth = path.matches('/').count();
        for (line, escaping) in escaping_paths(depth, &text) {
            problems.push(format!("{path}:{line}: {escaping}"));
        }
        for (number, line) in text.lines().enumerate() {
            for outside in ["shared/spec/", "/work/"] {
                if line.contains(outside) {
                    problems.push(format!("{path}:{}: mentions {outside}", number + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "paths outside the repository:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_what_it_looks_for() {
    assert_eq!(escaping_paths(0, "see `../elsewhere/x.md`"), [(1, "../elsewhere/x.md".to_string())]);
    assert_eq!(escaping_paths(1, "a\ninclude_str!(\"../../x\")"), [(2, "../../x\")".to_string())]);
    assert!(escaping_paths(3, "include_str!(\"../../../docs/openapi.json\")").is_empty());
    assert!(escaping_paths(0, "concat!(env!(\"DIR\"), \"/../template.yaml\")").is_empty());
    assert!(escaping_paths(0, "cd \"$(dirname \"$0\")/..\"").is_empty());
}

#[test]
fn every_cited_section_exists() {
    let compatibility = std::fs::read_to_string(root().join("docs/compatibility.md")).unwrap();
    let mut missing = Vec::new();
    for (path, text) in tracked_files() {
        for (at, _) in text.match_indices("compatibility §") {
            let number: String =
                text[at + "compatibility §".len()..].chars().take_while(char::is_ascii_digit).collect();
            let cited = !number.is_empty();
            if cited && !compatibility.lines().any(|l| l.starts_with(&format!("## {number}. "))) {
                missing.push(format!("{path}: compatibility §{number}"));
            }
        }
    }
    assert!(missing.is_empty(), "cited sections that docs/compatibility.md lacks: {missing:?}");
}
