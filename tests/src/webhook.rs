//! A real HTTP receiver standing for a system outside the federation (the data
//! protection officer's, an agency's own MIS or case system) that takes signed webhook
//! deliveries.

use std::sync::{Arc, Mutex};

/// One request the receiver got: its `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers and its body.
pub type Received = (Option<String>, Option<String>, Option<String>, Vec<u8>);

/// Starts a receiver on an ephemeral loopback port. It refuses the first `refuse_first`
/// deliveries (503), as a system restarting would, then accepts (204). Returns its URL
/// (path `/hook`), what it received, and its handle.
pub async fn receiver(
    refuse_first: usize,
) -> (
    String,
    Arc<Mutex<Vec<Received>>>,
    actix_web::dev::ServerHandle,
) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = received.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let kept = kept.clone();
            async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.push((
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    body.to_vec(),
                ));
                if kept.len() <= refuse_first {
                    HttpResponse::ServiceUnavailable().finish()
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap_or_else(|e| panic!("binding the receiver: {e}"));
    let url = format!("http://{}/hook", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, received, handle)
}

/// Waits (up to `limit`) until the receiver holds at least `count` deliveries, and
/// returns them.
pub async fn wait_for_deliveries(
    received: &Arc<Mutex<Vec<Received>>>,
    count: usize,
    limit: std::time::Duration,
) -> Vec<Received> {
    let started = std::time::Instant::now();
    loop {
        let now = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if now.len() >= count {
            return now;
        }
        assert!(
            started.elapsed() < limit,
            "the receiver got {} deliveries, not {count}",
            now.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
