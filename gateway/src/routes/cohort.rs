//! A live cohort view: every child the practitioner's own agency works with, one row
//! each, computed from the agencies' nodes at request time and kept nowhere.

use super::fanout_slot;
use crate::auth::Authenticated;
use crate::cohort::{self, Run};
use crate::error::GatewayError;
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use schemas::cohort::{CohortFigures, CohortPage, CohortQuery, CohortRow, MAX_PAGE, MAX_SORTED};
use schemas::{AccessContext, AgencyId, FieldError, Problem};
use std::sync::Arc;
use trust::Directory;

/// Rows waiting to be sent, in chunks: the gateway holds at most this many chunks (and
/// the one it is making) whatever the size of the cohort.
const CHUNKS_IN_FLIGHT: usize = 2;

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"))
}

/// What both operations check before asking any node.
fn checked(
    state: &AppState,
    context: &AccessContext,
    query: &CohortQuery,
) -> Result<Arc<Directory>, GatewayError> {
    let directory = state.directory.get();
    let mut errors = context.validate();
    errors.extend(query.validate(|id| {
        AgencyId::parse(id)
            .ok()
            .is_some_and(|id| directory.member(&id).is_some())
    }));
    if query.sort.is_some() && query.cursor.is_some() {
        errors.push(FieldError::new(
            "cursor",
            "a sorted cohort is one page: leave out cursor, or sort",
        ));
    }
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    Ok(directory)
}

async fn first_page(
    run: &Run,
    directory: &Directory,
    cursor: Option<&str>,
) -> Result<CohortPage, GatewayError> {
    let Some(own) = directory.nodes().find(|n| n.id == run.practitioner.agency) else {
        return Err(GatewayError::Forbidden(
            "your agency runs no node: it lists no children it works with".into(),
        ));
    };
    // A caseload only where the agency records allocation (its node would refuse too).
    if run.query.allocated_to.is_some()
        && !schemas::RecordCategory::AllocatedSocialWorker.held_by(own.kind)
    {
        return Err(GatewayError::Invalid(vec![FieldError::new(
            "allocated_to",
            format!(
                "a {} agency does not record allocated social workers",
                own.kind.as_str()
            ),
        )]));
    }
    run.page(directory, cursor, run.chunk)
        .await
        .map_err(|failure| {
            GatewayError::CohortUnavailable(match failure {
                Failure::NotFound => "your agency's node has no cohort listing".into(),
                Failure::Timeout => "no answer within the deadline".into(),
                Failure::Unavailable(why) | Failure::Error(why) => why,
            })
        })
}

fn too_large(total: u64) -> GatewayError {
    GatewayError::Invalid(vec![FieldError::new(
        "sort",
        format!(
            "sorting and headline figures are computed for cohorts of up to {MAX_SORTED} children; this one has {total}: narrow it with a filter, or page through it unsorted"
        ),
    )])
}

/// Every row of a cohort of at most 2,000 children, for sorting or figures.
async fn all_rows(
    run: &Run,
    directory: &Directory,
    first: CohortPage,
) -> Result<Vec<CohortRow>, GatewayError> {
    let total = first.total.unwrap_or(0);
    if total > MAX_SORTED {
        return Err(too_large(total));
    }
    let mut rows = Vec::new();
    let mut page = first;
    loop {
        let next = page.next_cursor.clone();
        rows.extend(run.rows(directory, page.children).await);
        let Some(cursor) = next else { break };
        page = first_page(run, directory, Some(&cursor)).await?;
    }
    Ok(rows)
}

fn body(rows: &[CohortRow], csv: bool, agencies: &[AgencyId]) -> Result<Vec<u8>, GatewayError> {
    if csv {
        let mut text = cohort::csv_header(agencies);
        for row in rows {
            text.push_str(&cohort::csv_line(row, agencies));
        }
        Ok(text.into_bytes())
    } else {
        serde_json::to_vec(rows).map_err(|_| GatewayError::Internal)
    }
}

/// The children your agency works with, one row each, across the federation.
///
/// Your agency's own node lists the children it has an active relationship with (on
/// roll, an open case, in the virtual school's cohort…), in its own order; the gateway
/// asks every other agency about them in batches (250 children a call), and each
/// agency applies relationship, policy and consent to every child and audits it, as for
/// a single view. Each row says, at the level each agency shares: the child as your
/// agency holds them, attendance (latest period and this term, persistent absence),
/// attainment, suspensions and exclusions this term, a looked-after child's PEP, open
/// plans, SEN, the four barriers' signals, your agency's unacknowledged notifications,
/// each agency's status (`ok`, `withheld`, `not_found`, `timeout`, …) and a
/// `reference` to open the child's view with. Nothing is kept after the answer.
///
/// Rows stream as a JSON array, or as CSV with `Accept: text/csv` (the same rows). A
/// page is at most `limit` rows (up to 10,000); continue with the last row's `cursor`.
/// Filters (`known_to`, `persistent_absence`, `plan`) apply as rows stream. `sort` is
/// for cohorts of up to 2,000 children; above that it is refused, naming `sort`. An
/// agency that does not answer within the deadline has its column `timeout` in every
/// row, and is not asked again during the request.
#[utoipa::path(
    tag = "cohort",
    params(AccessContext, CohortQuery),
    responses(
        (status = 200, description = "One row per child, streamed", content(
            (Vec<CohortRow> = "application/json"),
            (String = "text/csv", example = json!("cursor,local_id,given_name,family_name,preferred_given_name,preferred_family_name,date_of_birth,upn,nhs_number,attendance_latest_rate,attendance_latest_from,attendance_term_rate,persistent_absence,attendance_level,attainment,suspensions,suspension_days,permanent_exclusions,pep_status,pep_review_due,plans,sen_provision,sen_primary_need,barrier_attendance,barrier_learning,barrier_behaviour,barrier_wellbeing,unacknowledged_notifications,reference,agency:school-a,agency:social-care
c1.TlBTLTAwMDA3Mg,NPS-000072,Jade,Penlow,,,2018-02-27,H999000000072,,88.7,2026-09-03,88.7,true,full,,0,0,0,,,child_in_need,ehc_plan,SPLD,concern,concern,concern,watch,0,fr1._4tZcarPiuSKs__W3CVcE7tAyi5Zz91ipsea,ok,ok
c1.TlBTLTAwMDA4MA,NPS-000080,Advik,Fairthwaite,,,2019-09-14,T999000000080,,84.5,2026-09-03,84.5,true,full,,0,0,0,,,child_in_need,,,concern,none_known,concern,watch,0,fr1.nt0JeFNgRGD5bxGfjc4KElfZs1m9RoJutw_q,ok,ok

")),
        )),
        (status = 400, description = "Invalid purpose, legal basis or filter; or `sort` on a cohort of more than 2,000 children", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Your agency runs no node", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Your agency's node could not list the cohort", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The gateway is busy", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[get("/v1/cohort")]
pub async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    query: web::Query<CohortQuery>,
) -> Result<HttpResponse, GatewayError> {
    let (context, query) = (context.into_inner(), query.into_inner());
    let directory = checked(&state, &context, &query)?;
    let csv = wants_csv(&req);
    let agencies: Vec<AgencyId> = directory.nodes().map(|n| n.id.clone()).collect();
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = query.limit.unwrap_or(MAX_PAGE);
    let sort = query.sort.clone();
    let cursor = query.cursor.clone();
    let run = Run::new(state.clone(), &auth, traceparent, context, query);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    if let Some(key) = sort {
        let _slot = fanout_slot(&state)?;
        let first = first_page(&run, &directory, None).await?;
        let mut rows = all_rows(&run, &directory, first).await?;
        cohort::sort(&mut rows, &key);
        rows.truncate(limit);
        return Ok(HttpResponse::Ok()
            .content_type(content_type)
            .body(body(&rows, csv, &agencies)?));
    }
    let first = {
        let _slot = fanout_slot(&state)?;
        first_page(&run, &directory, cursor.as_deref()).await?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    actix_web::rt::spawn(async move {
        let _slot = run.state.fanouts.acquire().await;
        let open = if csv {
            cohort::csv_header(&agencies)
        } else {
            "[".to_owned()
        };
        if tx.send(Ok(Bytes::from(open))).await.is_err() {
            return;
        }
        let mut emitted = 0usize;
        let mut page = first;
        loop {
            let next = page.next_cursor.clone();
            // The next page is listed while this one is read.
            let (rows, following) = futures::join!(run.rows(&directory, page.children), async {
                match &next {
                    Some(c) if emitted < limit => Some(first_page(&run, &directory, Some(c)).await),
                    _ => None,
                }
            });
            let mut chunk = String::new();
            for row in rows.iter().take(limit - emitted) {
                if csv {
                    chunk.push_str(&cohort::csv_line(row, &agencies));
                } else {
                    if emitted > 0 {
                        chunk.push(',');
                    }
                    chunk.push_str(&serde_json::to_string(row).unwrap_or_default());
                }
                emitted += 1;
            }
            drop(rows);
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if emitted >= limit {
                break;
            }
            match following {
                None => break,
                Some(Ok(p)) => page = p,
                Some(Err(e)) => {
                    // Mid-stream the status is sent: end the response broken, so no client
                    // takes a part for the whole.
                    tracing::warn!(error = %e, "cohort listing failed mid-stream");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        if !csv {
            let _ = tx.send(Ok(Bytes::from_static(b"]"))).await;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .streaming(stream))
}

/// Headline figures of the children your agency works with.
///
/// The same cohort, filters and rules as `GET /v1/cohort`, summed up: how many
/// children, how many persistently absent (and the percentage), suspensions and
/// exclusions this term per 100 children, plans, SEN, unacknowledged notifications,
/// how many each agency knows, and how many rows an agency did not answer for. Only for
/// cohorts of up to 2,000 children; above that refused, naming `sort` (as sorting is).
#[utoipa::path(
    tag = "cohort",
    params(AccessContext, CohortQuery),
    responses(
        (status = 200, description = "The cohort's headline figures", body = CohortFigures),
        (status = 400, description = "Invalid purpose, legal basis or filter; or a cohort of more than 2,000 children (naming `sort`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Your agency runs no node", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Your agency's node could not list the cohort", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The gateway is busy", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[get("/v1/cohort/figures")]
pub async fn figures(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    query: web::Query<CohortQuery>,
) -> Result<HttpResponse, GatewayError> {
    let (context, query) = (context.into_inner(), query.into_inner());
    let directory = checked(&state, &context, &query)?;
    if query.cursor.is_some() || query.limit.is_some() {
        return Err(GatewayError::Invalid(vec![FieldError::new(
            if query.cursor.is_some() {
                "cursor"
            } else {
                "limit"
            },
            "figures are of the whole cohort: leave out cursor and limit",
        )]));
    }
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let run = Run::new(state.clone(), &auth, traceparent, context, query);
    let _slot = fanout_slot(&state)?;
    let first = first_page(&run, &directory, None).await?;
    let rows = all_rows(&run, &directory, first).await?;
    Ok(HttpResponse::Ok().json(cohort::figures(&rows)))
}
