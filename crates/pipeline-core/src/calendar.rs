//! Dates as the tables store them: Parquet `date32`, days since 1970-01-01.

use chrono::NaiveDate;

use crate::error::{CoreError, Result};

/// Days since the Unix epoch, the physical value of a Parquet `date32`.
pub type EpochDays = i32;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

pub fn to_epoch_days(date: NaiveDate) -> EpochDays {
    (date - epoch()).num_days() as EpochDays
}

pub fn from_epoch_days(days: EpochDays) -> NaiveDate {
    epoch() + chrono::Duration::days(i64::from(days))
}

/// The local date of the run: no recorded event comes after it.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// Parses `YYYY-MM-DD`; `field` names the flag or field in the error.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| CoreError::BadDate {
        field: field.to_owned(),
        value: value.to_owned(),
    })
}

/// `YYYY-MM-DD` of an epoch day.
pub fn format_epoch_days(days: EpochDays) -> String {
    from_epoch_days(days).format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        assert_eq!(to_epoch_days(d), 20634);
        assert_eq!(from_epoch_days(to_epoch_days(d)), d);
        assert_eq!(format_epoch_days(0), "1970-01-01");
    }

    #[test]
    fn bad_date_names_the_field() {
        let err = parse_date("--end-date", "30/06/2026").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid date `30/06/2026` for --end-date: expected YYYY-MM-DD"
        );
    }
}
