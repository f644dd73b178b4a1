//! The benchmark harness: measures cold start, size, warm latency, DynamoDB cost, Argon2id,
//! scale and memory, each next to its physical floor in the same run, prints the figures as
//! it goes, and rewrites `BENCHMARKS.md` and `BENCHMARKS.json`. Run it with `scripts/bench`,
//! which builds the release binaries and starts the emulator first.
//!
//! Usage: bench [--quick] [--only section,...] [--out DIR]

mod argon;
mod calls;
mod ceilings;
mod cold;
mod lambda;
mod memory;
mod meter;
mod report;
mod scale;
mod setup;
mod size;
mod stats;
mod totals;
mod warm;

use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

use report::{Section, table};
use setup::{Fixture, Setup};

const SECTIONS: &[&str] =
    &["size", "cold", "warm", "calls", "ceilings", "cost", "argon2", "scale", "totals", "memory"];

struct Options {
    quick: bool,
    only: Vec<String>,
    out: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        quick: false,
        only: SECTIONS.iter().map(|s| s.to_string()).collect(),
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => options.only = args.next().unwrap_or_default().split(',').map(String::from).collect(),
            "--out" => options.out = PathBuf::from(args.next().expect("--out DIR")),
            other => {
                eprintln!(
                    "unknown argument {other}\nusage: bench [--quick] [--only {}] [--out DIR]",
                    SECTIONS.join(",")
                );
                std::process::exit(2);
            }
        }
    }
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    let started = Instant::now();
    let wants = |name: &str| options.only.iter().any(|o| o == name);
    let setup = Setup::new(options.quick).await;
    let functions = setup.in_process().await;
    let fixture = Fixture::create(&setup, &functions, &setup.config).await;

    let mut sections: Vec<Section> = Vec::new();
    // Each section says how long it took, so a slow one shows where a run's time goes.
    let mut lap = Instant::now();
    let mut timed = |name: &str| {
        eprintln!("==> section {name}: {:.0} s", lap.elapsed().as_secs_f64());
        lap = Instant::now();
    };
    if wants("size") {
        sections.push(size::measure());
        timed("size");
    }
    if wants("cold") {
        sections.push(cold::measure(&setup, &fixture).await);
        timed("cold");
    }
    if wants("warm") {
        sections.push(warm::measure(&setup, &fixture).await);
        timed("warm");
    }
    if wants("calls") || wants("ceilings") || wants("cost") {
        // On tables of its own: small (moto's transactions copy the whole table, and slow
        // down as it grows), and the section deletes its user.
        let config = setup.fresh_tables().await;
        let functions = setup.in_process_on(&config, Setup::timeouts()).await;
        let fixture = Fixture::create(&setup, &functions, &config).await;
        let kept = shared::Config { list_cache_ms: 60_000, ..config.clone() };
        let cached = setup.in_process_on(&kept, Setup::timeouts()).await;
        let (section, routes) = calls::measure(&setup, &functions, &cached, &fixture).await;
        if wants("calls") {
            sections.push(section);
        }
        let loads = ceilings::loads(&config, &routes);
        if wants("ceilings") {
            sections.push(ceilings::ceilings(&loads));
        }
        if wants("cost") {
            sections.push(ceilings::cost(&loads));
        }
        timed("calls, ceilings and cost");
    }
    if wants("argon2") {
        sections.push(argon::measure(options.quick));
        timed("argon2");
    }
    if wants("scale") {
        sections.push(scale::measure(&setup).await);
        timed("scale");
    }
    if wants("totals") {
        sections.push(totals::measure(&setup).await);
        timed("totals");
    }
    if wants("memory") {
        sections.push(memory::measure(&setup, &fixture).await);
        timed("memory");
    }
    let elapsed = started.elapsed().as_secs_f64();
    write(&options, &sections, elapsed);
}

/// What the figures were measured on.
fn machine() -> Vec<(&'static str, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string());
    let memory = read("/proc/meminfo")
        .lines()
        .next()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024);
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    vec![
        (
            "CPU",
            format!(
                "{} × {}",
                std::thread::available_parallelism().map_or(0, |n| n.get()),
                cpu.unwrap_or_default()
            ),
        ),
        ("memory", format!("{} GiB", memory.unwrap_or(0))),
        ("kernel", read("/proc/sys/kernel/osrelease").trim().to_string()),
        ("architecture", std::env::consts::ARCH.to_string()),
        ("rustc", run("rustc", &["--version"])),
        (
            "emulator",
            std::env::var("BENCH_EMULATOR")
                .unwrap_or_else(|_| "DynamoDB endpoint from AWS_ENDPOINT_URL_DYNAMODB".into()),
        ),
        ("commit", run("git", &["rev-parse", "--short", "HEAD"])),
        ("date", run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
    ]
}

fn write(options: &Options, sections: &[Section], elapsed: f64) {
    let machine = machine();
    let mode = if options.quick { "quick" } else { "full" };
    let mut md = String::from("# Benchmarks\n\n");
    md.push_str(&format!(
        "Written by `scripts/bench{}` ({mode} mode, {:.0} s); do not edit by hand. Every figure is \
         measured next to its floor in the same run; the machine is shared and noisy, so figures \
         are medians and ratios come from paired runs. Reproduce: `scripts/bench` (full) or \
         `scripts/bench --quick` on a clone of this repository.\n\n",
        if options.quick { " --quick" } else { "" },
        elapsed
    ));
    md.push_str("## Machine\n\n");
    md.push_str(&table(
        &["", ""],
        &machine.iter().map(|(k, v)| vec![k.to_string(), v.clone()]).collect::<Vec<_>>(),
    ));
    md.push_str("\n## Budgets\n\n");
    let budget_rows: Vec<Vec<String>> = sections
        .iter()
        .flat_map(|s| &s.budgets)
        .map(|b| {
            vec![
                b.name.clone(),
                b.limit.clone(),
                b.measured.clone(),
                if b.met { "met".into() } else { "**not met**".into() },
            ]
        })
        .collect();
    md.push_str(&table(&["budget", "limit", "measured", ""], &budget_rows));
    for section in sections {
        md.push_str(&format!("\n## {}\n\n{}", section.title, section.markdown));
    }
    let mut results = serde_json::Map::new();
    for section in sections {
        results.insert(section.key.into(), section.json.clone());
    }
    let json = json!({
        "mode": mode,
        "seconds": elapsed,
        "machine": machine.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "budgets": sections.iter().flat_map(|s| &s.budgets).collect::<Vec<_>>(),
        "results": results,
    });
    std::fs::create_dir_all(&options.out).expect("the output directory exists");
    std::fs::write(options.out.join("BENCHMARKS.md"), md).expect("BENCHMARKS.md is written");
    std::fs::write(options.out.join("BENCHMARKS.json"), serde_json::to_string_pretty(&json).unwrap() + "\n")
        .expect("BENCHMARKS.json is written");
    let unmet = sections.iter().flat_map(|s| &s.budgets).filter(|b| !b.met).count();
    println!(
        "wrote {} and BENCHMARKS.json in {elapsed:.0} s; {unmet} budget(s) not met",
        options.out.join("BENCHMARKS.md").display()
    );
}
