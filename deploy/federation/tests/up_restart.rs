//! `federation up --restart`: a node killed with SIGKILL is started again, with a line
//! saying so, and answers again on its address. `--rate-limit`: one practitioner's
//! searches in a row are answered beyond the gateway's default limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

fn wait_for_line(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no line with '{needle}'; saw:\n{}", seen.join("\n"));
}

/// A client of the dev federation's CA, with no certificate of its own.
fn client(ca: &str, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(
            trust::tls::client_config_without_identity(std::path::Path::new(ca)).unwrap(),
        )
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// `federation up`, sent SIGTERM (it then stops every service it started) if the test
/// ends before it does, so that a failing assertion leaves no service running.
struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[tokio::test]
async fn up_with_restart_starts_a_killed_node_again_and_says_so_and_takes_a_rate_limit() {
    trust::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("federation");
    let base = common::free_port();
    let mut up = Up(Command::new(env!("CARGO_BIN_EXE_federation"))
        .args([
            "up",
            "--restart",
            "--children",
            "60",
            "--rate-limit",
            "1000",
        ])
        .arg("--dir")
        .arg(&root)
        .args(["--gateway-port", &common::free_port().to_string()])
        .args(["--first-node-port", &base.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let (send, lines) = mpsc::channel();
    let stdout = up.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for_line(&lines, &mut seen, "Press Ctrl-C");

    let session: BTreeMap<String, String> = std::fs::read_to_string(root.join("session.env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect();
    let pid = &session["PID_POLICE"];
    let url = &session["NODE_URL_POLICE"];
    assert!(
        Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for_line(&lines, &mut seen, "police stopped");
    assert!(
        seen.last().unwrap().contains("starting it again in 1 s"),
        "{seen:?}"
    );
    wait_for_line(&lines, &mut seen, "police started again");

    // It answers again, on the same address.
    let probe = client(&session["CA_CERT"], Duration::from_secs(2));
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = probe
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the police node did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // `--rate-limit 1000`: 60 searches by one practitioner at once are all answered
    // (the gateway's default, 10 a second with bursts of 20, refuses most with 429).
    let searcher = client(&session["CA_CERT"], Duration::from_secs(60));
    let samples: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("sample-children.json")).unwrap())
            .unwrap();
    let query = serde_json::json!({ "demographics": samples[0]["demographics"] });
    let search = format!(
        "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
        session["GATEWAY_URL"]
    );
    let answers = futures::future::join_all((0..60).map(|_| {
        searcher
            .post(&search)
            .bearer_auth(&session["TOKEN_DSL"])
            .json(&query)
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|a| a.unwrap().status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    Command::new("kill")
        .args(["-TERM", &up.0.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}
