//! What a request no operation answers gets: 405 naming the methods the path does answer,
//! or 404, both in problem+json.
//!
//! Written here because actix-web cannot say it: each operation is its own resource with a
//! method guard, so a path asked with another method falls through to the default service
//! like an unknown path. The methods come from the service's OpenAPI document.

use crate::problem::problem_response;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use schemas::Problem;

/// Answers unknown routes in problem+json: 405 with `Allow` when the path is a route of
/// the service's [`RouteTable`] (in the app data) asked with another method, 404 otherwise.
pub async fn not_found(req: HttpRequest, routes: Option<web::Data<RouteTable>>) -> HttpResponse {
    let allowed = routes.and_then(|r| r.allowed(req.path()));
    match allowed {
        Some(methods) => {
            let allow = methods.join(", ");
            let mut response = problem_response(
                &Problem::new(
                    "method-not-allowed",
                    "The resource does not answer this method",
                    405,
                )
                .with_detail(format!("{} is not one of: {allow}", req.method())),
            );
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => problem_response(&Problem::new("not-found", "No such resource", 404)),
    }
}

/// The service's routes and the methods each answers (from its OpenAPI document), so that a
/// known path asked with another method is a 405 naming the methods it does answer.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    /// `routes`: (path template such as `/v1/children/{local_id}`, upper-case methods).
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        Self {
            routes: routes
                .into_iter()
                .map(|(path, methods)| (path.split('/').map(str::to_owned).collect(), methods))
                .collect(),
        }
    }

    /// The methods the route matching `path` answers, if one does.
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .map(|(_, methods)| methods.clone())
    }
}

#[cfg(test)]
mod route_table_tests {
    use super::RouteTable;

    #[test]
    fn a_known_path_names_its_methods_and_an_unknown_one_none() {
        let table = RouteTable::new([
            ("/v1/children:search".to_owned(), vec!["POST".to_owned()]),
            (
                "/v1/children/{local_id}".to_owned(),
                vec!["GET".to_owned(), "PUT".to_owned()],
            ),
        ]);
        assert_eq!(
            table.allowed("/v1/children:search"),
            Some(vec!["POST".to_owned()])
        );
        assert_eq!(
            table.allowed("/v1/children/NPS-1"),
            Some(vec!["GET".to_owned(), "PUT".to_owned()])
        );
        assert_eq!(table.allowed("/v1/children/"), None);
        assert_eq!(table.allowed("/v1/children/NPS-1/other"), None);
        assert_eq!(table.allowed("/v2/children:search"), None);
    }
}
