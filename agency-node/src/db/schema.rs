// Diesel table definitions; kept in step with migrations/ by hand (checked by the
// round-trip tests, which run the migrations then every query).

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
    }
}

diesel::joinable!(records -> children (child_id));
diesel::allow_tables_to_appear_in_same_query!(children, records);
