//! `federation bench linkage`: one FEBRL file through our matcher and through Splink, on
//! the same mapped records, in one run, side by side (issue 28).
//!
//! * The file is mapped to English children and split into two agencies exactly as the
//!   data README says ([`febrl`]): A holds the originals, B the first copies.
//! * Our side ([`ours`]) runs a real federation of two nodes and a gateway over mutual
//!   TLS, loads both agencies with `POST /v1/batch` and searches every A record at the
//!   gateway by demographics only, once per matching mode (plain, keyed).
//! * Splink's side ([`splink`]) trains a pinned Splink 4 in a virtual environment this
//!   command makes, as Splink's own FEBRL example does, and scores A x B.
//! * Both are scored the same way ([`score`]); Splink's threshold is the one that gives
//!   it the best linked recall at precision ≥ 0.999 with no link for a person B does not
//!   hold, and its default 0.5 is shown for context.

pub mod febrl;
pub mod ours;
pub mod score;
pub mod splink;

use matching::MatchingMode;
use score::{Answer, Tally};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `federation bench linkage` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// A FEBRL CSV (`dataset1.csv`, `dataset2.csv`, `dataset3.csv`).
    pub data: PathBuf,
    /// Our matcher's modes to run, in order.
    pub modes: Vec<MatchingMode>,
    /// Run Splink's side.
    pub splink: bool,
    /// The Python that makes the virtual environment.
    pub python: String,
    /// Where the virtual environment lives (made when missing or stale).
    pub venv: PathBuf,
    /// Folder for the federations' layouts, databases, logs and Splink's files, kept;
    /// a temporary one, removed at the end, when `None`.
    pub dir: Option<PathBuf>,
    /// Searches in flight at the gateway.
    pub concurrency: usize,
    /// How many times every A record is searched (the nodes estimate m from their
    /// searches, so a second pass is scored with what the first taught them).
    pub passes: usize,
    /// Seed of Splink's u sampling.
    pub seed: u64,
    /// A TOML file whose `[matching]` tables are merged into both nodes' `[matching]`
    /// sections (thresholds, weights, estimation), as `bench matching --settings`.
    pub settings: Option<PathBuf>,
    /// The `federation` binary (it runs the nodes and the gateway).
    pub exe: PathBuf,
}

/// One column of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub label: String,
    pub tally: Tally,
    /// Whether precision ≥ 0.999 with no wrong link on a child B does not hold.
    pub meets_conditions: bool,
    /// Splink only: the match weight (and probability) at which it links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_probability: Option<f64>,
    /// Wall times in seconds, by phase.
    pub seconds: BTreeMap<String, f64>,
    /// True pairs not linked right, by reason: (count, of which offered as candidates).
    pub misses: BTreeMap<String, (usize, usize)>,
    /// Our side only: the node's refusals of children, by the fields it named.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refusals: BTreeMap<String, usize>,
    /// Our side only: B children sent again without the fields a refusal named, by
    /// those fields: (sent again, stored then).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub b_second_attempts: BTreeMap<String, (usize, usize)>,
    /// The answer per A record (in the order of `Split::a`), with its FEBRL id.
    #[serde(skip)]
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file's name (not its path).
    pub dataset: String,
    pub a_records: usize,
    pub b_records: usize,
    pub machine: String,
    pub commit: String,
    pub date: String,
    /// `debug` or `release`: our side runs the services from this build.
    pub build: &'static str,
    pub sides: Vec<Side>,
    /// Splink's own report (versions, blocked pairs, trained model), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub splink: Option<serde_json::Value>,
    /// Per A record, each side's answer (for looking into single cases).
    pub answers: Vec<BTreeMap<String, serde_json::Value>>,
}

pub fn linkage(options: &Options) -> anyhow::Result<Report> {
    trust::install_crypto_provider();
    let split = febrl::read(&options.data)?;
    let held = split.b.len();
    println!(
        "{}: {} A records (originals), {} B records (first copies); {} searches for a person B does not hold",
        file_name(&options.data),
        split.a.len(),
        held,
        split.a.len() - held
    );
    let (root, temporary) = match &options.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("federation-linkage-bench-{}", std::process::id())),
            true,
        ),
    };
    prepare_root(&root)?;
    let result = run_sides(options, &split, &root);
    if temporary {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("kept {}", root.display());
    }
    let (sides, splink_report) = result?;
    let answers = split
        .a
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut row = BTreeMap::new();
            row.insert("a".to_owned(), serde_json::json!(a.rec_id));
            for side in &sides {
                let answer = match side.answers.get(i) {
                    Some(Answer::Linked { b }) => {
                        serde_json::json!({"answer": "linked", "b": split.b[*b].rec_id})
                    }
                    Some(other) => serde_json::to_value(other).unwrap_or_default(),
                    None => serde_json::Value::Null,
                };
                row.insert(side.label.clone(), answer);
            }
            row
        })
        .collect();
    Ok(Report {
        dataset: file_name(&options.data),
        a_records: split.a.len(),
        b_records: split.b.len(),
        machine: crate::bench::machine(),
        commit: crate::bench::commit(),
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        sides,
        splink: splink_report,
        answers,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Marks a folder as this command's, so a later run may replace it and nothing else.
const MARK: &str = ".federation-linkage-bench";

fn prepare_root(root: &Path) -> anyhow::Result<()> {
    if root.exists() {
        let empty = std::fs::read_dir(root)?.next().is_none();
        anyhow::ensure!(
            empty || root.join(MARK).exists(),
            "{} exists and is not a folder this command made; choose another --dir",
            root.display()
        );
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    std::fs::write(root.join(MARK), "")?;
    Ok(())
}

fn mode_name(mode: MatchingMode) -> &'static str {
    match mode {
        MatchingMode::Plain => "plain",
        MatchingMode::Keyed => "keyed",
    }
}

type Sides = (Vec<Side>, Option<serde_json::Value>);

fn run_sides(options: &Options, split: &febrl::Split, root: &Path) -> anyhow::Result<Sides> {
    let mut sides = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for &mode in &options.modes {
        let name = mode_name(mode);
        println!("our matcher, {name} mode: a federation of two nodes and a gateway…");
        let run = runtime.block_on(ours::run(split, mode, &root.join(name), options))?;
        let several = run.passes.len() > 1;
        for (pass, (answers, search_seconds)) in run.passes.into_iter().enumerate() {
            let tally = score::tally(split, &answers, &run.b_stored);
            let seconds = BTreeMap::from([
                ("start".to_owned(), run.start_seconds),
                ("load".to_owned(), run.load_seconds),
                ("search".to_owned(), search_seconds),
            ]);
            println!(
                "  A stored {}/{}, B stored {}/{}; pass {} searched in {:.1} s",
                run.a_stored,
                split.a.len(),
                run.b_stored.iter().filter(|s| **s).count(),
                split.b.len(),
                pass + 1,
                search_seconds
            );
            sides.push(Side {
                label: if several {
                    format!("ours {name} pass {}", pass + 1)
                } else {
                    format!("ours {name}")
                },
                meets_conditions: score::meets_conditions(&tally),
                tally,
                threshold_weight: None,
                threshold_probability: None,
                seconds,
                misses: score::misses(split, &answers, &run.b_stored),
                refusals: run.refusals.clone(),
                b_second_attempts: run.b_second_attempts.clone(),
                answers,
            });
        }
    }
    if !options.splink {
        return Ok((sides, None));
    }
    let (interpreter, venv_seconds) = splink::ensure_venv(&options.python, &options.venv)?;
    println!("Splink: training and scoring…");
    let run = splink::run_splink(&interpreter, split, &root.join("splink"), options.seed)?;
    let everyone = vec![true; split.b.len()];
    let mut seconds = BTreeMap::from([("python".to_owned(), run.seconds)]);
    for key in ["training_seconds", "predicting_seconds"] {
        if let Some(s) = run.report.get(key).and_then(|v| v.as_f64()) {
            seconds.insert(key.trim_end_matches("_seconds").to_owned(), s);
        }
    }
    if venv_seconds > 0.0 {
        // Kept apart: not part of Splink's run.
        seconds.insert("making the environment".to_owned(), venv_seconds);
        println!("  (made the environment in {venv_seconds:.0} s)");
    }
    let chosen = score::best_threshold(split, &run.best);
    let mut thresholds = vec![("Splink best", chosen.unwrap_or(f64::INFINITY))];
    // Splink's default: match probability 0.5, i.e. match weight 0.
    thresholds.push(("Splink p>=0.5", 0.0));
    for (label, weight) in thresholds {
        let answers = score::splink_answers(split, &run.best, weight);
        let tally = score::tally(split, &answers, &everyone);
        sides.push(Side {
            label: label.to_owned(),
            meets_conditions: score::meets_conditions(&tally),
            tally,
            threshold_weight: weight.is_finite().then_some(weight),
            threshold_probability: weight.is_finite().then(|| score::probability(weight)),
            seconds: seconds.clone(),
            misses: score::misses(split, &answers, &everyone),
            refusals: BTreeMap::new(),
            b_second_attempts: BTreeMap::new(),
            answers,
        });
    }
    Ok((sides, Some(run.report)))
}

fn count(n: usize) -> String {
    n.to_string()
}

fn rate(r: f64) -> String {
    format!("{r:.4}")
}

/// The side-by-side table, the misses by reason and the targets, as text.
pub fn render(report: &Report) -> String {
    let sides = &report.sides;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&Side) -> String| {
        rows.push((label.to_owned(), sides.iter().map(f).collect()));
    };
    row("searches (A records)", &|s| count(s.tally.searches));
    row("  for a person B holds (true pairs)", &|s| {
        count(s.tally.true_pairs)
    });
    row("B copies sent again without the named fields", &|s| {
        if s.b_second_attempts.is_empty() {
            return "-".into();
        }
        let (sent, stored) = s
            .b_second_attempts
            .values()
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        let by: Vec<String> = s
            .b_second_attempts
            .iter()
            .map(|(f, (n, _))| format!("{n} {}", f.replace("demographics.", "")))
            .collect();
        format!("{sent}, {stored} stored ({})", by.join(", "))
    });
    row("B copies not stored (node refused)", &|s| {
        let t = &s.tally;
        if t.b_not_stored == 0 {
            return "0".into();
        }
        let by: Vec<String> = t
            .b_not_stored_by_field
            .iter()
            .map(|(f, n)| {
                format!(
                    "{n} {}",
                    f.replace("_name", "").replace("date_of_birth", "dob")
                )
            })
            .collect();
        format!("{} ({})", t.b_not_stored, by.join(", "))
    });
    row("A records not searchable", &|s| {
        count(s.tally.a_not_searchable)
    });
    row("linked", &|s| count(s.tally.links));
    row("  right", &|s| count(s.tally.right_links));
    row("  wrong", &|s| count(s.tally.wrong_links));
    row("  wrong, person not held by B", &|s| {
        count(s.tally.wrong_links_not_held)
    });
    row("  twins linked", &|s| count(s.tally.twins_linked));
    row("precision", &|s| s.tally.precision.map_or("-".into(), rate));
    row("linked recall", &|s| rate(s.tally.linked_recall));
    row("F1", &|s| rate(s.tally.f1));
    row("candidates answers", &|s| count(s.tally.candidates_answers));
    row("  with the true child", &|s| {
        count(s.tally.candidates_with_true)
    });
    row("  person not held by B (rate)", &|s| {
        format!(
            "{} ({:.2} %)",
            s.tally.candidates_not_held,
            100.0 * s.tally.candidates_rate_not_held
        )
    });
    row("  most candidates in one answer", &|s| {
        count(s.tally.most_candidates)
    });
    row("linked + offered recall", &|s| {
        rate(s.tally.linked_or_offered_recall)
    });
    row("ambiguous", &|s| count(s.tally.ambiguous));
    row("not found", &|s| count(s.tally.not_found));
    row("failed (errors)", &|s| count(s.tally.failed));
    row("precision >= 0.999, no wrong link on B's not held", &|s| {
        if s.meets_conditions { "yes" } else { "no" }.into()
    });
    row("threshold (match weight / probability)", &|s| match (
        s.threshold_weight,
        s.threshold_probability,
    ) {
        (Some(w), Some(p)) => format!("{w:.2} / {p:.6}"),
        _ if s.label.starts_with("Splink") => "none qualifies".into(),
        _ => "-".into(),
    });
    let secs = |s: &Side, keys: &[&str]| -> String {
        let found: Vec<f64> = keys
            .iter()
            .filter_map(|k| s.seconds.get(*k))
            .copied()
            .collect();
        if found.is_empty() {
            "-".into()
        } else {
            format!("{:.1}", found.iter().sum::<f64>())
        }
    };
    row("time: load with /v1/batch (s)", &|s| secs(s, &["load"]));
    row(
        "time: searches (ours), train + predict (Splink) (s)",
        &|s| secs(s, &["search", "training", "predicting"]),
    );
    row("time: whole side (s)", &|s| {
        secs(s, &["start", "load", "search", "python"])
    });

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{}: {} A records, {} B records; {}; commit {}; {} build; {}",
        report.dataset,
        report.a_records,
        report.b_records,
        report.machine,
        report.commit,
        report.build,
        report.date
    );
    out.push_str(&table(
        "",
        &sides.iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
        &rows,
    ));

    // Misses by reason, commonest first.
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for side in sides {
        for (reason, (n, _)) in &side.misses {
            *reasons.entry(reason).or_default() += n;
        }
    }
    let mut reasons: Vec<(&str, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let miss_rows: Vec<(String, Vec<String>)> = reasons
        .iter()
        .map(|(reason, _)| {
            let cells = sides
                .iter()
                .map(|s| match s.misses.get(*reason) {
                    None => "0".into(),
                    Some((n, 0)) => count(*n),
                    Some((n, offered)) => format!("{n} ({offered} offered)"),
                })
                .collect();
            ((*reason).to_owned(), cells)
        })
        .collect();
    let _ = writeln!(
        out,
        "\nTrue pairs not linked right, by how B's copy differs from A's record:"
    );
    out.push_str(&table(
        "",
        &sides.iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
        &miss_rows,
    ));
    out.push_str(&targets(sides));
    out
}

fn table(corner: &str, headers: &[String], rows: &[(String, Vec<String>)]) -> String {
    let first = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .chain([corner.chars().count()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|(_, cells)| cells.get(i).map(|c| c.chars().count()))
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |label: &str, cells: &[String]| {
        let mut s = format!("{label:<first$}");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(s, "  {cell:>width$}");
        }
        s.push('\n');
        s
    };
    out.push_str(&line(corner, headers));
    for (label, cells) in rows {
        out.push_str(&line(label, cells));
    }
    out
}

/// The targets, checked on this run.
fn targets(sides: &[Side]) -> String {
    let find = |label: &str| sides.iter().find(|s| s.label == label);
    let mut out = String::from("\nTargets (issue 28):\n");
    let yes = |b: bool| if b { "met" } else { "NOT met" };
    let splink = find("Splink best");
    for ours in sides.iter().filter(|s| s.label.starts_with("ours")) {
        let t = &ours.tally;
        if let Some(splink) = splink {
            let ok = ours.meets_conditions && t.linked_recall >= splink.tally.linked_recall;
            let _ = writeln!(
                out,
                "  {}: linked recall {:.4} (precision {}, {} wrong on persons not held) against Splink's best {:.4}: {}",
                ours.label,
                t.linked_recall,
                t.precision.map_or("-".into(), rate),
                t.wrong_links_not_held,
                splink.tally.linked_recall,
                yes(ok)
            );
        }
        let _ = writeln!(
            out,
            "  {}: candidates at most 3 per answer ({}): {}; offered for {:.2} % of persons not held (at most 2 %): {}; linked + offered recall {:.4} (at least 0.99): {}",
            ours.label,
            t.most_candidates,
            yes(t.most_candidates <= 3),
            100.0 * t.candidates_rate_not_held,
            yes(t.candidates_rate_not_held <= 0.02),
            t.linked_or_offered_recall,
            yes(t.linked_or_offered_recall >= 0.99)
        );
    }
    // With several passes, the last of each mode.
    let last = |prefix: &str| sides.iter().rev().find(|s| s.label.starts_with(prefix));
    if let (Some(plain), Some(keyed)) = (last("ours plain"), last("ours keyed")) {
        let gap = (plain.tally.f1 - keyed.tally.f1).abs();
        let _ = writeln!(
            out,
            "  keyed F1 {:.4} within 1 point of plain {:.4}: {}",
            keyed.tally.f1,
            plain.tally.f1,
            yes(gap <= 0.01)
        );
    }
    out
}
