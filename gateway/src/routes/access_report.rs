//! A child's access report across the federation: each holding node builds its own part
//! from its audit; the gateway only gathers them.

use super::{fanout, fanout_slot, open_reference};
use crate::auth::Authenticated;
use crate::error::GatewayError;
use crate::reference::NodeEntry;
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::Utc;
use futures::future::join_all;
use schemas::disclosure::{AccessReportSource, ChildAccessReport};
use schemas::{Problem, SectionStatus};

/// Who has seen this child's information.
///
/// Asks every agency that holds the child for its part of the child's access report:
/// who saw which kinds of information, when and why, in words a young person can read,
/// with safeguarding overrides marked. Each agency's policy says which roles may fetch it
/// (by default its data protection officer); an agency that refuses or cannot be reached
/// is listed with its status.
#[utoipa::path(
    tag = "children",
    params(("reference" = String, Path, description = "The federated reference from a search")),
    responses(
        (status = 200, description = "The access report", body = ChildAccessReport),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The reference was issued to another practitioner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The reference is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The reference has expired", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[get("/v1/children/{reference}/access-report")]
pub async fn access_report(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    reference: web::Path<String>,
) -> Result<HttpResponse, GatewayError> {
    let claims = open_reference(&state, &auth, &reference)?;
    let _slot = fanout_slot(&state)?;
    let directory = state.directory.get();
    let fanout = fanout(&state, &auth, &req);
    let held: Vec<_> = directory
        .nodes()
        .filter_map(|member| {
            claims.nodes.iter().find_map(|(id, entry)| match entry {
                NodeEntry::Held { r, .. } if id == &member.id => Some((member, r.as_str())),
                _ => None,
            })
        })
        .collect();
    let answers = join_all(held.iter().map(|(member, r)| {
        let client = fanout.client(*member);
        async move { client.access_report(r).await }
    }))
    .await;
    let mut entries = Vec::new();
    let mut consents = Vec::new();
    let mut agencies = Vec::new();
    for ((member, _), outcome) in held.iter().zip(answers) {
        let (status, reason) = match outcome.result {
            Ok(part) => {
                entries.extend(part.entries);
                consents.extend(part.consents);
                (SectionStatus::Ok, None)
            }
            Err(Failure::NotFound) => (SectionStatus::NotFound, None),
            Err(Failure::Timeout) => (
                SectionStatus::Timeout,
                Some("no answer within the deadline".into()),
            ),
            Err(Failure::Unavailable(why)) => (SectionStatus::Unavailable, Some(why)),
            Err(Failure::Error(why)) => (SectionStatus::Error, Some(why)),
        };
        agencies.push(AccessReportSource {
            agency_id: member.id.clone(),
            agency_name: member.name.clone(),
            status,
            reason,
        });
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    consents.sort_by_key(|c| std::cmp::Reverse(c.decided_on));
    Ok(HttpResponse::Ok().json(ChildAccessReport {
        generated_at: Utc::now(),
        entries,
        consents,
        agencies,
    }))
}
