//! With today's specs (`pipeline_core::schema`, the default contract) the
//! tables ingest writes read back through the stages' own readers.

use ingest::IngestConfig;
use pipeline_core::schema::{CUSTOMERS_RAW, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS};
use pipeline_core::table_io::read_table;

use crate::Case;

#[test]
fn tables_written_to_todays_specs_read_back_through_the_stage_readers() {
    let case = Case::new();
    case.text(
        "people.csv",
        "id,first,last,joined\nR1,Ann,Lee,2020-01-02\nR2,Bob,Ray,2021-03-04\n",
    );
    case.text(
        "offers.csv",
        "id,name,kind,value,cat\nO1,Free wash,Free Service,10,Maintenance\nO2,Ten off,Credit,10.5,\n",
    );
    case.text(
        "tx.csv",
        "id,who,sku,what,cat,paid,shop,on\nT1,R1,S1,Wash,Maintenance,12.5,L1,2024-05-01\n",
    );
    case.text(
        "sends.csv",
        "id,who,offer,kind,value,sent,opened,clicked,redeemed\n\
         I1,R1,O1,Free Service,10,2024-05-02,1,0,0\n\
         I2,R2,O2,Credit,10.5,2024-05-03,true,true,false\n",
    );
    case.mapping(
        r#"
[sources]
people = "people.csv"
offers = "offers.csv"
tx = "tx.csv"
sends = "sends.csv"

[tables.customers_raw]
source = "people"
columns = { record_id = "id", first_name = "first", last_name = "last", registration_date = "joined" }

[tables.offers]
source = "offers"
columns = { offer_id = "id", offer_name = "name", offer_type = "kind", offer_value = "value", category = "cat" }

[tables.transactions]
source = "tx"
[tables.transactions.columns]
transaction_id = "id"
record_id = "who"
service_id = "sku"
service_name = "what"
service_category = "cat"
amount = "paid"
location = "shop"
transaction_date = "on"

[tables.offer_interactions]
source = "sends"
[tables.offer_interactions.columns]
interaction_id = "id"
record_id = "who"
offer_id = "offer"
offer_type = "kind"
offer_value = "value"
sent_date = "sent"
opened = "opened"
clicked = "clicked"
redeemed = "redeemed"
"#,
    );
    let config = IngestConfig::new(case.src.join("mapping.toml"), &case.data);
    ingest::run(&config).unwrap();
    for (spec, rows) in [
        (&CUSTOMERS_RAW, 2),
        (&OFFERS, 2),
        (&TRANSACTIONS, 1),
        (&OFFER_INTERACTIONS, 2),
    ] {
        let df = read_table(&case.data, spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(df.height(), rows, "{}", spec.name);
    }
}
