//! Writes synthetic children into each node's database through the node's own data
//! layer (the same upserts the integration API uses), one transaction per node.

use crate::plan::Federation;
use crate::seed::SyntheticChild;
use anyhow::Context;
use std::collections::BTreeMap;

/// Returns the number of children written per node.
pub fn load(
    federation: &Federation,
    children: &[SyntheticChild],
) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut written = BTreeMap::new();
    for (node, url) in &federation.database_urls {
        let pool = agency_node::db::connect(url).with_context(|| format!("opening {url}"))?;
        let mut conn = pool.get()?;
        let count = agency_node::db::write(&mut conn, |conn| {
            let mut count = 0;
            for holding in children
                .iter()
                .flat_map(|c| &c.holdings)
                .filter(|h| h.node == node)
            {
                let (row, _) =
                    agency_node::db::children::upsert(conn, &holding.local_id, &holding.child)?;
                for record in &holding.records {
                    agency_node::db::records::upsert(
                        conn,
                        &row.id,
                        record,
                        agency_node::db::records::Expect::Anything,
                    )?;
                }
                count += 1;
            }
            // One audit entry for the whole import, in its transaction.
            let seeder = schemas::AgencyId::parse("federation-seed")
                .map_err(|e| agency_node::db::DbError::Corrupt(e.0))?;
            let detail = serde_json::json!({"wrote": "synthetic import", "children": count});
            let entry = agency_node::audit::NewEntry::by_system(&seeder, "seed", None, detail);
            agency_node::db::audit::append(conn, &entry)?;
            Ok(count)
        })?;
        written.insert(node.clone(), count);
    }
    Ok(written)
}
