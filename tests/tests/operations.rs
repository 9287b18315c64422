//! Operability: a W3C traceparent follows a read from the gateway to every node and into
//! their audit, and both services expose Prometheus metrics.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::RunQueryDsl;
use federation_tests::{Call, Options, SAFEGUARDING, query_for, spawn_federation};
use schemas::PractitionerRole;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn traceparent_reaches_every_node_and_its_audit_and_metrics_count_the_calls() {
    let fed = spawn_federation(Options::nodes(&["school-a", "school-b", "police"], 50))
        .await
        .unwrap();
    let child = fed.child_known_to(1, &[]).unwrap();
    let token = fed.token(PractitionerRole::PoliceOfficer, "police");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    let answer = fed
        .anonymous_client()
        .post(format!(
            "{}/v1/children:search?{SAFEGUARDING}",
            fed.gateway_url
        ))
        .bearer_auth(&token)
        .header("traceparent", &traceparent)
        .json(&query_for(child))
        .answer()
        .await;
    answer.expect(200);
    assert_eq!(answer.header("traceparent"), traceparent.as_str());

    for node in ["school-a", "school-b", "police"] {
        let mut conn = fed.database(node);
        let found: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'match' AND correlation_id = '{trace}'"
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(
            found.n, 1,
            "{node} audited the search under the caller's trace id"
        );
    }

    // Without one, the gateway makes one and says which.
    let health = fed.fetch(&format!("{}/healthz", fed.gateway_url)).await;
    let made = health.header("traceparent");
    assert!(service::trace::valid_traceparent(made).is_some(), "{made}");

    let text = fed.gateway_metrics().await;
    assert!(text.contains("http_requests_total{service=\"gateway\",route=\"/v1/children:search\",method=\"POST\",status=\"200\"} 1"), "{text}");
    for node in ["school-a", "school-b", "police"] {
        assert!(
            text.contains(&format!(
                "upstream_request_duration_seconds_count{{node=\"{node}\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("upstream_breaker_state{{node=\"{node}\"}} 0")),
            "{text}"
        );
    }
    let node_text = fed.metrics("school-a").await;
    assert!(
        node_text.contains("route=\"/v1/federation/match\",method=\"POST\",status=\"200\"} 1"),
        "{node_text}"
    );
    fed.shutdown().await;
}

/// The value of one series in Prometheus text.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The node's metrics once the series `name` is above 0 (at most 30 s).
async fn metrics_once_above_zero(
    fed: &federation_tests::TestFederation,
    node: &str,
    name: &str,
) -> String {
    let waited = std::time::Instant::now();
    loop {
        let text = fed.metrics(node).await;
        if series(&text, name) > 0.0 || waited.elapsed().as_secs() > 30 {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
/// A node estimates m from its own searches (every 200 by default) and shows the m in
/// use on its metrics: configured at start, estimated once enough searches were made,
/// and estimated again from the stored pairs when it restarts.
#[tokio::test]
async fn a_node_shows_the_m_it_estimated_from_its_searches() {
    let mut fed = spawn_federation(Options {
        rate_limit: Some((1e6, 1_000_000)),
        ..Options::nodes(&["school-a"], 120)
    })
    .await
    .unwrap();
    let given_exact = "matching_m{field=\"given_name\",level=\"exact\"}";
    let text = fed.metrics("school-a").await;
    assert_eq!(series(&text, given_exact), 0.88, "{text}");
    assert_eq!(series(&text, "matching_m_pairs"), 0.0);
    assert_eq!(series(&text, "matching_m_fields_estimated"), 0.0);

    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let held: Vec<_> = fed
        .children
        .iter()
        .filter(|c| c.agencies().contains(&"school-a"))
        .collect();
    assert!(held.len() >= 20, "{}", held.len());
    // By demographics only (an identifier would settle a search without comparing).
    for child in held.iter().cycle().take(200) {
        fed.search(
            &token,
            &serde_json::json!({"demographics": child.demographics}),
        )
        .await;
    }
    let text = metrics_once_above_zero(&fed, "school-a", "matching_m_pairs").await;
    assert!(series(&text, "matching_m_pairs") >= 200.0, "{text}");
    assert!(
        series(&text, "matching_m_fields_estimated") >= 4.0,
        "{text}"
    );
    // Every search was for a held child as recorded: given names agree in more true
    // matches than the configured 0.88 allow for.
    let estimated = series(&text, given_exact);
    assert!(estimated > 0.88, "{text}");

    // The pairs are in the node's database: restarted (or another replica on it), the
    // node estimates the same m from them before any new search.
    fed.stop_node("school-a").await;
    fed.restart_node("school-a").await.unwrap();
    let text = metrics_once_above_zero(&fed, "school-a", "matching_m_pairs").await;
    assert!(series(&text, "matching_m_pairs") >= 200.0, "{text}");
    assert_eq!(series(&text, given_exact), estimated, "{text}");
    fed.shutdown().await;
}

/// A node loaded through `/v1/batch` after it started estimates its *u* from the loaded
/// children once the writes pause, before any search: its first searches are scored
/// with its own *u*, not the configured ones while an estimate runs beside them.
#[tokio::test]
async fn a_node_loaded_by_batch_estimates_its_u_before_its_first_search() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let text = fed.metrics("school-a").await;
    assert_eq!(series(&text, "matching_u_children"), 0.0, "{text}");

    // 300 complete children (the estimate needs 200), in three batches back to back.
    let given = [
        "Amara", "Ellis", "Freya", "Idris", "Maya", "Noah", "Ruby", "Tariq",
    ];
    let family = [
        "Adeyemi", "Brook", "Castell", "Dunmore", "Evanson", "Farrant",
    ];
    let school = fed.system("school-a");
    for batch in 0..3 {
        let items: Vec<serde_json::Value> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                serde_json::json!({"op": "upsert_child", "local_id": format!("LD-{n}"),
                    "child": {"demographics": {
                        "given_name": given[n % given.len()],
                        "family_name": format!("{}{}", family[n % family.len()], n / 7),
                        "date_of_birth": format!("20{:02}-{:02}-{:02}", 10 + n % 8, 1 + n % 12, 1 + n % 28),
                        "postcode": format!("ZZ{} {}AB", 1 + n % 9, n % 10)}}})
            })
            .collect();
        let loaded = school
            .post("/v1/batch", &serde_json::json!({ "items": items }))
            .await
            .expect(200);
        assert_eq!(loaded["succeeded"], 100, "{loaded}");
    }

    let text = metrics_once_above_zero(&fed, "school-a", "matching_u_children").await;
    assert_eq!(series(&text, "matching_u_children"), 300.0, "{text}");
    // No search was made: the load alone started it.
    assert!(!text.contains("route=\"/v1/federation/match\""), "{text}");
    fed.shutdown().await;
}
