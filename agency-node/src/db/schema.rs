//! Diesel table definitions, kept in step with `migrations/` by hand (checked by the
//! round-trip tests, which run the migrations then every query).

diesel::table! {
    children (id) {
        id -> Text,
        local_id -> Text,
        given_name -> Text,
        family_name -> Text,
        given_name_norm -> Text,
        family_name_norm -> Text,
        date_of_birth -> Date,
        sex -> Nullable<Text>,
        postcode -> Nullable<Text>,
        postcode_norm -> Nullable<Text>,
        upn -> Nullable<Text>,
        nhs_number -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        family_name_key -> Text,
        family_name_key2 -> Nullable<Text>,
        birth_year -> Integer,
        postcode_sector -> Nullable<Text>,
        match_keys_version -> Integer,
        preferred_given_name -> Nullable<Text>,
        preferred_family_name -> Nullable<Text>,
        former_family_names -> Nullable<Text>,
        former_upns -> Nullable<Text>,
    }
}

diesel::table! {
    child_former_upns (upn, child_id) {
        upn -> Text,
        child_id -> Text,
    }
}

diesel::table! {
    child_former_family_keys (family_name_key, date_of_birth, child_id) {
        family_name_key -> Text,
        date_of_birth -> Date,
        child_id -> Text,
    }
}

diesel::table! {
    records (id) {
        id -> Text,
        child_id -> Text,
        source_system_id -> Text,
        category -> Text,
        effective_from -> Date,
        effective_to -> Nullable<Date>,
        recorded_at -> Timestamp,
        impact -> Text,
        details -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
        change_seq -> BigInt,
        retracted_at -> Nullable<Timestamp>,
        retraction_reason -> Nullable<Text>,
    }
}

diesel::table! {
    consents (id) {
        id -> Text,
        child_id -> Text,
        category -> Nullable<Text>,
        recipient_kind -> Text,
        state -> Text,
        decided_on -> Date,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        decided_by -> Nullable<Text>,
        gillick_competent -> Nullable<Bool>,
        child_wishes -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        action -> Text,
        actor_user -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        actor_agency -> Nullable<Text>,
        via_member -> Text,
        purpose -> Nullable<Text>,
        legal_basis -> Nullable<Text>,
        override_reason -> Nullable<Text>,
        child_id -> Nullable<Text>,
        detail -> Text,
        correlation_id -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_witnessed (node_id, seq) {
        node_id -> Text,
        seq -> BigInt,
        hash -> Text,
        signed_at -> Timestamp,
        signature -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    dpo_alerts (id) {
        id -> Text,
        body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        event_type -> Text,
        child_id -> Text,
        category -> Text,
        occurred_at -> Timestamp,
        impact -> Text,
        details -> Text,
        source_system_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        deadline -> Nullable<Timestamp>,
        created_at -> Timestamp,
        claim_token -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox_recipients (event_id, agency_id) {
        event_id -> Text,
        agency_id -> Text,
        agency_name -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        deadline -> Nullable<Timestamp>,
        acknowledged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inbox (id) {
        id -> Text,
        event_type -> Text,
        child_id -> Text,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        sender -> Text,
        sender_name -> Text,
        category -> Text,
        level -> Text,
        impact -> Text,
        details -> Nullable<Text>,
        deadline -> Nullable<Timestamp>,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        ack_relayed -> Bool,
        pushed_at -> Nullable<Timestamp>,
        push_attempts -> Integer,
        push_next_at -> Nullable<Timestamp>,
        push_error -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (event_type) {
        event_type -> Text,
        active -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::token::Token;

    /// The keyed tokens are [`Token`]s: TEXT on PostgreSQL, 16-byte BLOBs on SQLite.
    child_keyed (child_id) {
        child_id -> Text,
        key_id -> Text,
        upn -> Nullable<Token>,
        nhs_number -> Nullable<Token>,
        date_of_birth -> Token,
        family_block -> Token,
        family_block2 -> Nullable<Token>,
        sector_block -> Nullable<Token>,
        encoding -> Text,
        day_block -> Nullable<Token>,
        day_block2 -> Nullable<Token>,
        family_sector_block -> Nullable<Token>,
        compact -> Nullable<Binary>,
    }
}

diesel::table! {
    name_counts (kind, name) {
        kind -> Text,
        name -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    /// Identifiers held by two children before they were made unique (migration
    /// `2026-12-05-002200_identifiers_unique`): `child_id` lost it, `kept_by` kept it.
    identifier_conflicts (child_id, kind) {
        child_id -> Text,
        kind -> Text,
        value -> Text,
        kept_by -> Text,
        found_at -> Timestamp,
    }
}

diesel::table! {
    concerns (id) {
        id -> Text,
        side -> Text,
        status -> Text,
        child_id -> Nullable<Text>,
        child_query -> Nullable<Text>,
        postcode -> Nullable<Text>,
        referrer -> Text,
        referrer_name -> Text,
        referrer_kind -> Text,
        front_door -> Nullable<Text>,
        content -> Text,
        raised_at -> Timestamp,
        received_at -> Nullable<Timestamp>,
        deadline -> Nullable<Timestamp>,
        decision -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        outcomes -> Text,
        forwarded_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    concern_messages (id) {
        id -> Text,
        concern_id -> Text,
        kind -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        claim_token -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    match_pairs (id) {
        id -> BigInt,
        given_name -> Nullable<SmallInt>,
        family_name -> Nullable<SmallInt>,
        date_of_birth -> Nullable<SmallInt>,
        postcode -> Nullable<SmallInt>,
        sex -> Nullable<SmallInt>,
        names_order -> Nullable<SmallInt>,
    }
}

diesel::joinable!(records -> children (child_id));
diesel::joinable!(concern_messages -> concerns (concern_id));
diesel::joinable!(outbox -> children (child_id));
diesel::joinable!(inbox -> children (child_id));
diesel::joinable!(child_keyed -> children (child_id));
diesel::joinable!(child_former_upns -> children (child_id));
diesel::joinable!(child_former_family_keys -> children (child_id));
diesel::allow_tables_to_appear_in_same_query!(
    children,
    child_former_upns,
    child_former_family_keys,
    records,
    consents,
    audit_log,
    outbox,
    outbox_recipients,
    inbox,
    subscriptions,
    child_keyed,
    name_counts,
    concerns,
    concern_messages
);
