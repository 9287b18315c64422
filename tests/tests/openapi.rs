//! The committed OpenAPI documents match the code, and both services serve them with
//! Swagger UI from local assets.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Call, Options, spawn_federation};

fn committed(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_default()
}

#[test]
fn committed_openapi_documents_match_the_code() {
    for (name, generated) in [
        ("gateway.json", gateway::openapi::SPEC.json()),
        ("agency-node.json", agency_node::openapi::SPEC.json()),
    ] {
        assert!(
            committed(name) == generated,
            "openapi/{name} is stale: run `cargo run --bin federation -- openapi` and commit it"
        );
    }
}

#[tokio::test]
async fn services_serve_their_spec_and_swagger_ui_locally() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    for (base, title) in [
        (fed.gateway_url.clone(), "Multi-agency child view gateway"),
        (fed.node_url("school-a").to_owned(), "Agency node"),
    ] {
        let spec = fed.fetch(&format!("{base}/openapi.json")).await.json();
        assert_eq!(spec["info"]["title"], title);
        let page = fed.fetch(&format!("{base}/docs/")).await;
        page.expect(200);
        let html = page.text;
        assert!(html.contains("swagger-ui"), "{html}");
        assert!(
            !html.contains("cdn") && !html.contains("unpkg"),
            "assets must be local"
        );
        fed.fetch(&format!("{base}/docs/swagger-ui-bundle.js"))
            .await
            .expect(200);
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_naming_the_allowed_ones() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    for (url, allow) in [
        (format!("{}/v1/children:search", fed.gateway_url), "POST"),
        (
            format!("{}/v1/children/NPS-1", fed.node_url("school-a")),
            "GET, PUT",
        ),
    ] {
        let answer = fed.anonymous_client().delete(&url).answer().await;
        assert_eq!(answer.header("allow"), allow, "{url}");
        let problem = answer.case(&url).expect_any_problem(405);
        assert_eq!(problem["status"], 405);
    }
    // A path that is no route stays a 404.
    fed.anonymous_client()
        .delete(format!("{}/v1/nothing-here", fed.gateway_url))
        .answer()
        .await
        .expect(404);
    fed.shutdown().await;
}
