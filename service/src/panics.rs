//! A handler that panics answers `500` problem+json (`internal`) and the panic is logged:
//! the connection is never dropped without an answer, and other requests carry on.
//!
//! Without this, a panic unwinds out of actix's connection task: the client sees the
//! connection close with no answer (and may retry into the same panic), and the log
//! holds only the default hook's line with no route.
//!
//! The panic becomes the chain's error, which actix answers with the error's response:
//! a `ServiceResponse` cannot be built here without the request, and keeping a second
//! handle on the request would stop the router from writing its match into it.

use crate::problem::ProblemError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;

/// Middleware: runs the rest of the chain and turns a panic into `500 internal`.
pub async fn catch_panic<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let (method, path) = (req.method().clone(), req.path().to_owned());
    // Nothing of the request is used after a panic, and shared state is behind locks
    // that recover from poisoning.
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(answered) => answered,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            // The path's first segments only: later ones may be references.
            let at: String = path.split('/').take(3).collect::<Vec<_>>().join("/");
            tracing::error!(%method, at, panic = %message, "a handler panicked; answered 500");
            Err(ProblemError(schemas::Problem::new(
                "internal",
                "The service failed to answer this request",
                500,
            ))
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, HttpServer, web};
    use std::io::{Read, Write};

    /// One HTTP/1.1 request on a fresh connection; the whole answer as text.
    fn get(port: u16, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_problem_json_and_the_next_request_is_served() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(|| {
            App::new()
                .wrap(actix_web::middleware::from_fn(catch_panic))
                .route(
                    "/boom/{id}",
                    web::get().to(|id: web::Path<usize>| async move {
                        let dates: Vec<i32> = Vec::new();
                        // An out-of-bounds index, as a handler bug would panic.
                        HttpResponse::Ok().body(dates[id.into_inner()].to_string())
                    }),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let (boom, fine) = web::block(move || (get(port, "/boom/3"), get(port, "/fine")))
            .await
            .unwrap();
        assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
        assert!(
            boom.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{boom}"
        );
        assert!(boom.contains("/internal\""), "{boom}");
        assert!(!boom.contains("out of bounds"), "no internals: {boom}");
        assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
        handle.stop(false).await;
    }
}
