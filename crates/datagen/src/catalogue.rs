//! Services sold (ten in four categories) and the offer catalogue.

/// The four service categories of the generated car-service business (ten
/// services in all). The pipeline reads its vocabulary from the data; only
/// the generator names categories.
pub const SERVICE_CATEGORIES: [&str; 4] = ["Maintenance", "Repair", "Detailing", "Tires"];

/// The six offer types of the generated business.
pub const OFFER_TYPES: [&str; 6] = [
    "Free Service",
    "Discount",
    "Points",
    "Credit",
    "Bundle",
    "Referral",
];
use pipeline_core::ranker_input::OfferAttributes;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

pub struct Service {
    pub id: &'static str,
    pub name: &'static str,
    /// Index into `SERVICE_CATEGORIES`.
    pub category: u8,
    /// Typical price in dollars.
    pub price: f64,
}

pub const SERVICES: [Service; 10] = [
    Service {
        id: "SVC01",
        name: "Oil Change",
        category: 0,
        price: 70.0,
    },
    Service {
        id: "SVC02",
        name: "Tire Rotation",
        category: 0,
        price: 45.0,
    },
    Service {
        id: "SVC03",
        name: "Fluid Flush",
        category: 0,
        price: 120.0,
    },
    Service {
        id: "SVC04",
        name: "Brake Service",
        category: 1,
        price: 280.0,
    },
    Service {
        id: "SVC05",
        name: "Engine Diagnostics",
        category: 1,
        price: 130.0,
    },
    Service {
        id: "SVC06",
        name: "Transmission Service",
        category: 1,
        price: 420.0,
    },
    Service {
        id: "SVC07",
        name: "Car Wash",
        category: 2,
        price: 25.0,
    },
    Service {
        id: "SVC08",
        name: "Interior Detailing",
        category: 2,
        price: 170.0,
    },
    Service {
        id: "SVC09",
        name: "Tire Replacement",
        category: 3,
        price: 620.0,
    },
    Service {
        id: "SVC10",
        name: "Wheel Alignment",
        category: 3,
        price: 110.0,
    },
];

/// Services of each category, by index into `SERVICES`.
pub fn services_in(category: u8) -> impl Iterator<Item = usize> {
    SERVICES
        .iter()
        .enumerate()
        .filter(move |(_, s)| s.category == category)
        .map(|(i, _)| i)
}

/// An offer with its attributes as indices, for the response model.
#[derive(Debug, Clone)]
pub struct Offer {
    pub id: String,
    pub name: String,
    /// Index into `OFFER_TYPES`.
    pub offer_type: u8,
    pub value: f64,
    /// Index into `SERVICE_CATEGORIES`.
    pub category: Option<u8>,
}

impl Offer {
    pub fn type_name(&self) -> &'static str {
        OFFER_TYPES[usize::from(self.offer_type)]
    }

    pub fn category_name(&self) -> Option<&'static str> {
        self.category.map(|c| SERVICE_CATEGORIES[usize::from(c)])
    }

    pub fn attributes(&self) -> OfferAttributes {
        OfferAttributes {
            offer_id: self.id.clone(),
            offer_type: self.type_name().to_owned(),
            offer_value: self.value,
            category: self.category_name().map(str::to_owned),
        }
    }
}

/// The eight offers of the system we replace.
const BASE_OFFERS: [(&str, u8, f64, Option<u8>); 8] = [
    ("Free Oil Change", 0, 70.0, Some(0)),
    ("20% Off Brake Service", 1, 56.0, Some(1)),
    ("Double Points Month", 2, 25.0, None),
    ("$40 Tire Credit", 3, 40.0, Some(3)),
    ("Detailing Bundle", 4, 60.0, Some(2)),
    ("Refer a Friend $30", 5, 30.0, None),
    ("15% Off Tire Replacement", 1, 93.0, Some(3)),
    ("Free Car Wash", 0, 25.0, Some(2)),
];

/// Typical dollar value range of each offer type.
const VALUE_RANGE: [(f64, f64); 6] = [
    (20.0, 130.0), // Free Service
    (10.0, 120.0), // Discount
    (10.0, 60.0),  // Points
    (15.0, 80.0),  // Credit
    (30.0, 150.0), // Bundle
    (15.0, 50.0),  // Referral
];

/// The catalogue of `count` offers: the eight base offers first, then
/// generated ones of every type, value and category. Deterministic in
/// `seed`.
pub fn offers(count: usize, seed: u64) -> Vec<Offer> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x0FFE_5EED);
    (0..count)
        .map(|i| {
            let id = format!("OFF{:03}", i + 1);
            if let Some(&(name, t, value, category)) = BASE_OFFERS.get(i) {
                return Offer {
                    id,
                    name: name.to_owned(),
                    offer_type: t,
                    value,
                    category,
                };
            }
            let t = rng.random_range(0..OFFER_TYPES.len()) as u8;
            let (lo, hi) = VALUE_RANGE[usize::from(t)];
            let value = (rng.random_range(lo..hi) / 5.0).round() * 5.0;
            // Points and referrals are about the relationship, not a service.
            let category = if t == 2 || t == 5 || rng.random_bool(0.15) {
                None
            } else {
                Some(rng.random_range(0..SERVICE_CATEGORIES.len()) as u8)
            };
            let what = category.map_or("Any Service", |c| SERVICE_CATEGORIES[usize::from(c)]);
            let name = format!(
                "{} ${value:.0} {what} #{}",
                OFFER_TYPES[usize::from(t)],
                i + 1
            );
            Offer {
                id,
                name,
                offer_type: t,
                value,
                category,
            }
        })
        .collect()
}
