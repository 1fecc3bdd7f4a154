//! The business vocabulary every stage shares: service categories and offer
//! types, and the slugs that feature names are built from.

/// The four service categories of the business (ten services in all).
pub const SERVICE_CATEGORIES: [&str; 4] = ["Maintenance", "Repair", "Detailing", "Tires"];

/// The six offer types.
pub const OFFER_TYPES: [&str; 6] = [
    "Free Service",
    "Discount",
    "Points",
    "Credit",
    "Bundle",
    "Referral",
];

/// `Free Service` -> `free_service`: the form used inside feature names.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_underscore = true;
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
            last_underscore = false;
        } else if !last_underscore {
            out.push('_');
            last_underscore = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Free Service"), "free_service");
        assert_eq!(slug("  Tires & Wheels "), "tires_wheels");
        assert_eq!(slug("Points"), "points");
    }
}
