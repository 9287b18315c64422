"""Splink's side of `federation bench linkage`: link agency A's records to agency B's.

The `federation` command maps one FEBRL file (docs/benchmarks.md, "Linkage: FEBRL side
by side with Splink") and writes two CSV files with the same columns, the mapped records
of agency A and of agency B:

    rec_id,given_name,surname,date_of_birth,postcode

An empty value is a missing one. This script trains a Splink 4 model on them as Splink's
own FEBRL examples do (febrl4: link only; the DuckDB backend; blocking rules, comparisons,
the probability that two random records match from deterministic rules, u by random
sampling, m by expectation maximisation on blocked pairs), scores every blocked A x B
pair and writes, per A record, its best and second-best B record by match weight. The
threshold is chosen by the `federation` command, which knows the truth; nothing here
reads it (the rec ids are only carried through).

Usage: python splink_febrl.py A.csv B.csv OUT.json [--seed N]
"""

import argparse
import json
import math
import time

import duckdb
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on


def load(con: duckdb.DuckDBPyConnection, path: str, table: str) -> int:
    # Every column as text, and '' as NULL: a missing value is missing, not a value.
    con.execute(
        f"""
        create table {table} as
        select rec_id,
               nullif(trim(given_name), '') as given_name,
               nullif(trim(surname), '') as surname,
               nullif(trim(date_of_birth), '') as date_of_birth,
               nullif(trim(postcode), '') as postcode
        from read_csv(?, header = true, all_varchar = true)
        """,
        [path],
    )
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("a_csv")
    parser.add_argument("b_csv")
    parser.add_argument("out_json")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-pairs", type=float, default=1e7)
    args = parser.parse_args()

    started = time.monotonic()
    con = duckdb.connect()
    a_rows = load(con, args.a_csv, "agency_a")
    b_rows = load(con, args.b_csv, "agency_b")

    # febrl4's blocking rules, less the columns the mapping leaves out (identifier,
    # address, state, street number).
    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    # febrl4's detailed model, on the mapped columns: dates are now YYYY-MM-DD, and a
    # date that did not map (malformed or impossible) is null.
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y-%m-%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(
        ["agency_a", "agency_b"],
        settings,
        db_api=DuckDBAPI(connection=con),
        input_table_aliases=["a", "b"],
        set_up_basic_logging=False,
    )

    training_started = time.monotonic()
    # febrl4 adds the identifier to these deterministic rules; there is none here.
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=args.max_pairs, seed=args.seed
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    training_seconds = time.monotonic() - training_started

    predicting_started = time.monotonic()
    predictions = linker.inference.predict()
    table = predictions.physical_name
    # Every blocked pair, oriented A -> B whichever side Splink put each record on.
    pairs = con.execute(
        f"""
        with oriented as (
            select case when source_dataset_l = 'a' then rec_id_l else rec_id_r end as a_id,
                   case when source_dataset_l = 'a' then rec_id_r else rec_id_l end as b_id,
                   match_weight, match_probability
            from {table}
        ),
        ranked as (
            select *, row_number() over (
                partition by a_id order by match_weight desc, b_id
            ) as rank
            from oriented
        )
        select a_id, b_id, match_weight, match_probability, rank
        from ranked where rank <= 2
        order by a_id, rank
        """
    ).fetchall()
    blocked_pairs = con.execute(f"select count(*) from {table}").fetchone()[0]
    predicting_seconds = time.monotonic() - predicting_started

    best: dict = {}
    for a_id, b_id, weight, probability, rank in pairs:
        if rank == 1:
            best[a_id] = {
                "a": a_id,
                "b": b_id,
                "match_weight": weight,
                "match_probability": probability,
                "second_match_weight": None,
            }
        else:
            best[a_id]["second_match_weight"] = weight

    model = linker.misc.save_model_to_json()
    out = {
        "splink_version": splink.__version__,
        "duckdb_version": duckdb.__version__,
        "a_records": a_rows,
        "b_records": b_rows,
        "blocked_pairs": blocked_pairs,
        "probability_two_random_records_match": model.get(
            "probability_two_random_records_match"
        ),
        "training_seconds": training_seconds,
        "predicting_seconds": predicting_seconds,
        "seconds": time.monotonic() - started,
        "best": list(best.values()),
        "model": model,
    }
    with open(args.out_json, "w", encoding="utf-8") as f:
        # A weight can be infinite (a level never seen in training); JSON has none.
        f.write(json.dumps(_finite(out), default=str))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
