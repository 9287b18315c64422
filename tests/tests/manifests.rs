//! The Kubernetes manifests carry the services' configuration as TOML inside ConfigMaps.
//! The offline schema validation in CI checks the Kubernetes side; these tests check that
//! what the pods would read is a configuration the services accept, and that every file it
//! names is on a volume the pod mounts.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s")
}

fn manifest(name: &str) -> String {
    std::fs::read_to_string(k8s_dir().join(name)).unwrap()
}

/// The text of a `key: |` block scalar of a ConfigMap's `data`, without its indentation.
fn block(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("{key}: |"));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no `{key}: |` block"));
    let indent = header.len() - header.trim_start().len() + 2;
    let mut text = String::new();
    for line in lines {
        if !line.trim().is_empty() && line.len() - line.trim_start().len() < indent {
            break;
        }
        text.push_str(line.get(indent..).unwrap_or_default());
        text.push('\n');
    }
    text
}

/// The `mountPath`s of a manifest's containers.
fn mount_paths(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("mountPath: "))
        .map(str::to_owned)
        .collect()
}

/// Every absolute path among the TOML's string values, at any depth.
fn paths_in(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::String(s) if s.starts_with('/') => out.push(s.clone()),
        toml::Value::Table(t) => t.values().for_each(|v| paths_in(v, out)),
        toml::Value::Array(a) => a.iter().for_each(|v| paths_in(v, out)),
        _ => {}
    }
}

fn assert_paths_mounted(config: &toml::Value, yaml: &str) {
    let mounts = mount_paths(yaml);
    let mut paths = Vec::new();
    paths_in(config, &mut paths);
    assert!(!paths.is_empty());
    for path in paths {
        assert!(
            mounts.iter().any(|m| Path::new(&path).starts_with(m)),
            "{path} is on no mounted volume (mounts: {mounts:?})"
        );
    }
}

#[test]
fn the_node_manifest_is_a_configuration_the_node_accepts() {
    let yaml = manifest("node-school-a.yaml");
    let mut config: toml::Value = toml::from_str(&block(&yaml, "node.toml")).unwrap();
    assert_paths_mounted(&config, &yaml);

    // The connection string is never in the ConfigMap: the Deployment takes it from the
    // Secret into the environment variable the node's configuration loader reads.
    assert!(config.get("database").is_none(), "{config}");
    let env = "AGENCY_NODE__DATABASE__URL";
    let after_env = yaml.split(&format!("name: {env}")).nth(1).unwrap();
    assert!(
        after_env.trim_start().starts_with("valueFrom:\n")
            && after_env.contains("secretKeyRef:\n                  name: node-school-a-database"),
        "{env} must come from the database Secret"
    );
    let url = block_value(&yaml, "url");
    assert!(url.starts_with("postgres://"), "{url}");
    config.as_table_mut().unwrap().insert(
        "database".into(),
        toml::Value::Table(toml::toml! { url = url }),
    );

    let settings: agency_node::Settings = config.try_into().unwrap();
    assert_eq!(settings.agency.id.as_str(), "school-a");
    assert_metrics_scraped(&settings.server, &yaml);
    assert!(settings.confirmation.key_file.is_some());
    let policy = block(&yaml, "policy.toml");
    agency_node::disclosure::policy::Policy::from_toml(&policy, settings.agency.kind).unwrap();
}

#[test]
fn the_node_runs_as_two_replicas_that_drain_behind_a_disruption_budget() {
    let yaml = manifest("node-school-a.yaml");
    assert!(yaml.contains("  replicas: 2\n"), "two replicas");
    assert!(
        yaml.contains("maxUnavailable: 0"),
        "a rolling update keeps both"
    );
    assert!(yaml.contains("kind: PodDisruptionBudget"));
    assert!(yaml.contains("minAvailable: 1"));
    assert!(yaml.contains("kind: Service\n"));
    let config: toml::Value = toml::from_str(&block(&yaml, "node.toml")).unwrap();
    let drain = config["server"]["drain_seconds"].as_integer().unwrap();
    let grace: i64 = block_value(&yaml, "terminationGracePeriodSeconds")
        .parse()
        .unwrap();
    // The pod drains, then finishes requests in flight (up to 10 s), before it is killed.
    assert!(grace > drain + 10, "grace {grace} s, drain {drain} s");
    // Replicas must open each other's candidate tokens: the key is a shared file.
    assert!(config["confirmation"]["key_file"].is_str());
}

/// The value of a `key: "..."` line (a Secret's `stringData`).
fn block_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap()
}

#[test]
fn the_gateway_manifest_is_a_configuration_the_gateway_accepts() {
    let yaml = manifest("gateway.yaml");
    let config: toml::Value = toml::from_str(&block(&yaml, "gateway.toml")).unwrap();
    assert_paths_mounted(&config, &yaml);
    let settings: gateway::Settings = config.try_into().unwrap();
    assert_metrics_scraped(&settings.server, &yaml);
    assert!(settings.locator.is_some());
    assert!(settings.notifications.secrets_dir.is_some());
    assert!(yaml.contains("replicas: 2"));
}

/// `/metrics` has a listener of its own, on the container port named `metrics` that the
/// pod's scrape annotations name, and the network policy lets only Prometheus reach it.
fn assert_metrics_scraped(server: &service::settings::ServerSettings, yaml: &str) {
    let service::metrics_access::MetricsAccess::Listen(address) = &server.metrics else {
        panic!("metrics on a listener of their own: {:?}", server.metrics);
    };
    let port = address.rsplit(':').next().unwrap();
    assert!(
        yaml.contains(&format!(
            "- name: metrics\n              containerPort: {port}\n"
        )),
        "a container port named metrics for {address}"
    );
    assert!(
        yaml.contains(&format!("prometheus.io/port: \"{port}\"")),
        "{yaml}"
    );
    assert!(yaml.contains("prometheus.io/scrape: \"true\""));
    let policy = manifest("network-policy.yaml");
    let metrics_rule = policy.split("- from:").nth(1).unwrap();
    assert!(
        metrics_rule.contains("port: metrics")
            && metrics_rule.contains("kubernetes.io/metadata.name: monitoring"),
        "{policy}"
    );
    let rules = policy.split("ingress:\n").nth(1).unwrap();
    let open_rule = rules.split("- from:").next().unwrap();
    assert!(open_rule.contains("port: https"), "{policy}");
    assert!(
        !open_rule.contains("metrics"),
        "only Prometheus reaches the metrics port"
    );
}

#[test]
fn the_directory_manifest_is_a_directory_the_services_accept() {
    let yaml = manifest("federation-directory.yaml");
    let directory = trust::directory::Directory::from_toml(&block(&yaml, "directory.toml"));
    assert!(directory.is_ok(), "{:?}", directory.err());
}

#[test]
fn the_block_reader_stops_at_the_next_key() {
    let yaml = "data:\n  a.toml: |\n    x = 1\n\n    [s]\n    y = \"z\"\n  b.toml: |\n    w = 2\n";
    assert_eq!(block(yaml, "a.toml"), "x = 1\n\n[s]\ny = \"z\"\n");
    assert_eq!(block(yaml, "b.toml"), "w = 2\n");
}
