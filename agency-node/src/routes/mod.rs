//! The node's operations. [`operations`] registers each of them once: the router and the
//! OpenAPI document (`crate::openapi`) both come from it.

pub mod audit;
pub mod children;
pub mod cohort;
pub mod concerns;
pub mod federation;
pub mod health;
pub mod imports;
pub mod notifications;
pub mod records;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Largest batch body: 50,000 records of about a kilobyte.
const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Every operation of the node, in the order of its OpenAPI document.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(children::upsert_child)
        .service(children::get_child)
        .service(children::upsert_record)
        .service(children::list_records)
        .service(records::get_record)
        .service(records::put_record)
        .service(records::retract_record)
        .service(
            scope::scope("/v1/batch")
                .app_data(service::problem::json_config(BATCH_BODY_LIMIT))
                .service(records::batch),
        )
        .service(records::changes)
        .service(imports::import_ctf)
        .service(imports::import_cin_census)
        .service(children::record_consent)
        .service(children::list_consents)
        .service(audit::verify)
        .service(audit::checkpoint_now)
        .service(audit::release)
        .service(federation::access_report)
        .service(federation::match_child)
        .service(federation::match_child_keyed)
        .service(federation::confirm_candidate)
        .service(federation::child_records)
        .service(federation::grant_break_glass)
        .service(cohort::cohort)
        .service(
            scope::scope("/v1/federation/batch")
                .app_data(service::problem::json_config(BATCH_BODY_LIMIT))
                .service(cohort::match_batch)
                .service(cohort::records_batch),
        )
        .service(notifications::publish)
        .service(notifications::outbox)
        .service(notifications::outbox_event)
        .service(notifications::replay)
        .service(notifications::inbox)
        .service(notifications::acknowledge)
        .service(notifications::subscriptions)
        .service(notifications::set_subscription)
        .service(notifications::offer)
        .service(notifications::origin)
        .service(notifications::receive)
        .service(notifications::acknowledged)
        .service(concerns::raise_concern)
        .service(concerns::list_concerns)
        .service(concerns::get_concern)
        .service(concerns::decide_concern)
        .service(concerns::concern_step)
        .service(concerns::receive_concern)
        .service(concerns::outcome_received)
        .service(federation::locator_filter)
        .service(audit::keep_checkpoint)
        .service(audit::witnessed_checkpoint);
}
