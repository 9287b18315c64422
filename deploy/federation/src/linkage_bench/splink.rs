//! Splink's side: a virtual environment with the pinned Splink (made once, remade when
//! the pinned versions change), the committed script run on the mapped records, and its
//! best match per A record read back.

use super::febrl::{Mapped, Split};
use super::score::Best;
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The pinned versions (`deploy/bench/linkage/requirements.txt`).
pub const REQUIREMENTS: &str = include_str!("../../../bench/linkage/requirements.txt");
/// The script (`deploy/bench/linkage/splink_febrl.py`).
pub const SCRIPT: &str = include_str!("../../../bench/linkage/splink_febrl.py");

/// What Splink's run gave.
pub struct SplinkRun {
    pub best: Vec<Best>,
    /// The script's own report, less the per-record list (versions, pairs, model,
    /// seconds).
    pub report: serde_json::Value,
    /// Wall time of the Python process (start-up, import, training, prediction).
    pub seconds: f64,
    /// Wall time of making the environment, 0 when it was already there.
    pub venv_seconds: f64,
}

/// Makes (or reuses) the environment in `venv` with `python`; returns its interpreter.
pub fn ensure_venv(python: &str, venv: &Path) -> anyhow::Result<(PathBuf, f64)> {
    let interpreter = venv.join("bin").join("python");
    let stamp = venv.join("federation-requirements.txt");
    if interpreter.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(REQUIREMENTS)
    {
        return Ok((interpreter, 0.0));
    }
    let started = Instant::now();
    if venv.exists() {
        anyhow::ensure!(
            stamp.exists(),
            "{} exists and is not an environment this command made; choose another --venv",
            venv.display()
        );
        std::fs::remove_dir_all(venv)?;
    }
    println!(
        "making the Splink environment in {} (once; pinned versions from deploy/bench/linkage/requirements.txt)",
        venv.display()
    );
    run(Command::new(python).args(["-m", "venv"]).arg(venv))
        .with_context(|| format!("making a virtual environment with {python}"))?;
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    run(Command::new(&interpreter)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "-r",
        ])
        .arg(&requirements))
    .context("installing Splink into the environment (needs PyPI)")?;
    std::fs::write(&stamp, REQUIREMENTS)?;
    Ok((interpreter, started.elapsed().as_secs_f64()))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "{command:?} failed ({status})");
    Ok(())
}

/// One CSV field, quoted.
fn field(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// The mapped records as the script reads them.
pub fn write_csv(path: &Path, records: &[Mapped]) -> anyhow::Result<()> {
    let mut text = String::from("rec_id,given_name,surname,date_of_birth,postcode\n");
    for r in records {
        let row = [
            &r.rec_id,
            &r.given_name,
            &r.family_name,
            &r.date_of_birth,
            &r.postcode,
        ]
        .map(|v| field(v));
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs the script on the split in `work` (a folder of this run's) and reads its answer.
pub fn run_splink(
    interpreter: &Path,
    split: &Split,
    work: &Path,
    seed: u64,
) -> anyhow::Result<SplinkRun> {
    std::fs::create_dir_all(work)?;
    let (a, b, script, out) = (
        work.join("agency-a.csv"),
        work.join("agency-b.csv"),
        work.join("splink_febrl.py"),
        work.join("splink.json"),
    );
    write_csv(&a, &split.a)?;
    write_csv(&b, &split.b)?;
    std::fs::write(&script, SCRIPT)?;
    let started = Instant::now();
    run(Command::new(interpreter)
        .arg(&script)
        .arg(&a)
        .arg(&b)
        .arg(&out)
        .arg("--seed")
        .arg(seed.to_string()))
    .context("running Splink")?;
    let seconds = started.elapsed().as_secs_f64();
    let mut report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?,
    )?;
    let a_index: HashMap<&str, usize> = split
        .a
        .iter()
        .enumerate()
        .map(|(i, r)| (r.rec_id.as_str(), i))
        .collect();
    let b_index: HashMap<&str, usize> = split
        .b
        .iter()
        .enumerate()
        .map(|(i, r)| (r.rec_id.as_str(), i))
        .collect();
    let mut best = Vec::new();
    if let Some(rows) = report.get("best").and_then(|b| b.as_array()) {
        for row in rows {
            let id = |key: &str| row.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            let (Some(&a), Some(&b)) = (a_index.get(id("a")), b_index.get(id("b"))) else {
                anyhow::bail!("Splink named a record not in the split: {row}");
            };
            best.push(Best {
                a,
                b,
                match_weight: row
                    .get("match_weight")
                    .and_then(|w| w.as_f64())
                    .context("a best match without a weight")?,
                second_weight: row.get("second_match_weight").and_then(|w| w.as_f64()),
            });
        }
    }
    if let Some(map) = report.as_object_mut() {
        map.remove("best");
    }
    Ok(SplinkRun {
        best,
        report,
        seconds,
        venv_seconds: 0.0,
    })
}
