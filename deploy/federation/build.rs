//! Records the commit this binary is built from, for the benches' reports: a bench
//! run from another checkout (binaries of two commits alternated from their own
//! directories) must name the binary's commit, not the working tree's. A binary built
//! from a tree whose code differs from that commit says so: `<commit>-dirty`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let top = git(&["rev-parse", "--show-toplevel"]);
    // What the binary is built from: every crate of the workspace but the tests, and
    // the workspace's manifest and lock file (documentation does not count).
    let sources: Vec<String> = top
        .as_deref()
        .and_then(|top| git(&["-C", top, "ls-files", "*Cargo.toml"]))
        .map(|manifests| {
            manifests
                .lines()
                .filter_map(|m| Path::new(m).parent())
                .map(|dir| dir.to_string_lossy().into_owned())
                .filter(|dir| !dir.is_empty() && dir != "tests")
                .chain(["Cargo.toml".to_owned(), "Cargo.lock".to_owned()])
                .collect()
        })
        .unwrap_or_default();
    let dirty = match &top {
        Some(top) if !sources.is_empty() => {
            let mut args = vec![
                "-C",
                top,
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
            ];
            args.extend(sources.iter().map(String::as_str));
            git(&args).is_some()
        }
        _ => false,
    };
    let label = if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=FEDERATION_BUILD_COMMIT={label}");
    // Built again when HEAD moves: HEAD itself (a checkout), the branch's loose ref
    // (a commit) and the packed refs, where each exists; and when a source changes
    // (a directory is watched with everything in it).
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    if let Some(top) = &top {
        watched.extend(sources.iter().map(|s| Some(format!("{top}/{s}"))));
    }
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
