//! The input tables of the round's target contract
//! (`plan/contract-target.md`: only the keys and a few columns required).
//! `pipeline_core::schema` still requires identity columns, offer names and
//! values, and the generator's opened/clicked flags, which real data such
//! as Complete Journey does not have; these tests write to the target
//! specs until schema.rs adopts them, and `default_contract.rs` checks the
//! same code against today's specs.

use ingest::{Contract, InputTable};
use pipeline_core::schema::{ColumnSpec, ColumnType, TableSpec};

use ColumnType::{Date, F64, Flag, Str};

const fn req(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        nullable: false,
    }
}

const fn opt(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        nullable: true,
    }
}

pub static CUSTOMERS_RAW: TableSpec = TableSpec {
    name: "customers_raw",
    file: "customers_raw.parquet",
    columns: &[
        req("record_id", Str),
        opt("first_name", Str),
        opt("last_name", Str),
        opt("email", Str),
        opt("phone", Str),
        opt("date_of_birth", Date),
        opt("city", Str),
        opt("province", Str),
        opt("postal_code", Str),
        opt("registration_date", Date),
    ],
};

pub static OFFERS: TableSpec = TableSpec {
    name: "offers",
    file: "offers.parquet",
    columns: &[
        req("offer_id", Str),
        req("offer_type", Str),
        opt("offer_name", Str),
        opt("offer_value", F64),
        opt("category", Str),
        opt("valid_from", Date),
        opt("valid_to", Date),
    ],
};

pub static TRANSACTIONS: TableSpec = TableSpec {
    name: "transactions",
    file: "transactions.parquet",
    columns: &[
        req("transaction_id", Str),
        req("record_id", Str),
        req("service_category", Str),
        req("amount", F64),
        req("transaction_date", Date),
        opt("service_id", Str),
        opt("service_name", Str),
        opt("location", Str),
    ],
};

pub static OFFER_INTERACTIONS: TableSpec = TableSpec {
    name: "offer_interactions",
    file: "offer_interactions.parquet",
    columns: &[
        req("interaction_id", Str),
        req("record_id", Str),
        req("offer_id", Str),
        req("sent_date", Date),
        req("redeemed", Flag),
        opt("offer_type", Str),
        opt("offer_value", F64),
        opt("opened", Flag),
        opt("clicked", Flag),
    ],
};

pub fn contract() -> Contract {
    Contract {
        tables: vec![
            InputTable {
                spec: &CUSTOMERS_RAW,
                key: "record_id",
            },
            InputTable {
                spec: &OFFERS,
                key: "offer_id",
            },
            InputTable {
                spec: &TRANSACTIONS,
                key: "transaction_id",
            },
            InputTable {
                spec: &OFFER_INTERACTIONS,
                key: "interaction_id",
            },
        ],
    }
}
