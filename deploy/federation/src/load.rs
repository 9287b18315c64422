//! Writes synthetic children into each node's database through the node's own data
//! layer (the same upserts the integration API uses), one transaction per node.

use crate::plan::Federation;
use crate::seed::SyntheticChild;
use anyhow::Context;
use std::collections::BTreeMap;

/// How a long load reports progress: a bar on a terminal, a plain line per node otherwise
/// (logs and CI keep readable output).
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Lines,
    /// Nothing (tests).
    Quiet,
}

impl Progress {
    /// A bar when standard output is a terminal, plain lines otherwise.
    pub fn for_stdout(total: u64, what: &str) -> Self {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return Progress::Lines;
        }
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{msg:>24} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_owned());
        Progress::Bar(bar)
    }

    fn start(&self, node: &str) {
        if let Progress::Bar(bar) = self {
            bar.set_message(format!("seeding {node}"));
        }
    }

    fn inc(&self) {
        if let Progress::Bar(bar) = self {
            bar.inc(1);
        }
    }

    fn done(&self, node: &str, count: usize) {
        match self {
            Progress::Bar(bar) => bar.println(format!("  {node}: {count} children")),
            Progress::Lines => println!("  {node}: {count} children"),
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// How many children `load` writes in all, counting a child once per node holding it.
pub fn holdings(children: &[SyntheticChild]) -> usize {
    children.iter().map(|c| c.holdings.len()).sum()
}

/// Returns the number of children written per node.
pub fn load(
    federation: &Federation,
    children: &[SyntheticChild],
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut written = BTreeMap::new();
    for (node, url) in &federation.database_urls {
        progress.start(node);
        let kind = federation
            .plan
            .nodes
            .iter()
            .find(|n| &n.id == node)
            .map(|n| n.kind)
            .with_context(|| format!("{node} is not in the plan"))?;
        let pool = agency_node::db::connect(url).with_context(|| format!("opening {url}"))?;
        let mut conn = pool.get()?;
        let count = agency_node::db::write_with(&mut conn, |conn| -> anyhow::Result<usize> {
            let mut count = 0;
            for holding in children
                .iter()
                .flat_map(|c| &c.holdings)
                .filter(|h| h.node == node)
            {
                let (row, _) =
                    agency_node::db::children::upsert(conn, &holding.local_id, &holding.child)?;
                for record in &holding.records {
                    // Checked as the integration API checks it: storage takes only
                    // checked records.
                    let record = record.clone().check(kind).map_err(|errors| {
                        anyhow::anyhow!("{}: {errors:?}", record.source_system_id)
                    })?;
                    agency_node::db::records::upsert(
                        conn,
                        &row.id,
                        &record,
                        agency_node::db::records::Expect::Anything,
                    )?;
                }
                count += 1;
                progress.inc();
            }
            // One audit entry for the whole import, in its transaction.
            let seeder = schemas::AgencyId::parse("federation-seed")
                .map_err(|e| agency_node::db::DbError::Corrupt(e.0))?;
            let detail = serde_json::json!({"wrote": "synthetic import", "children": count});
            let entry = agency_node::audit::NewEntry::by_system(&seeder, "seed", None, detail);
            agency_node::db::audit::append(conn, &entry)?;
            Ok(count)
        })?;
        progress.done(node, count);
        written.insert(node.clone(), count);
    }
    progress.finish();
    Ok(written)
}
