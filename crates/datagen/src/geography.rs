//! The four western provinces: cities with their postal-code prefixes
//! (forward sortation areas) and phone area codes, and the service centres
//! where transactions happen.

use rand::RngExt;
use rand::rngs::SmallRng;

pub struct Province {
    pub code: &'static str,
    /// Share of the customer base.
    pub weight: f64,
    pub cities: &'static [City],
}

pub struct City {
    pub name: &'static str,
    /// Forward sortation areas (first three characters of a postal code).
    pub fsas: &'static [&'static str],
    pub area_codes: &'static [&'static str],
    /// Relative population inside the province.
    pub weight: f64,
}

const LOWER_MAINLAND: &[&str] = &["604", "778", "236"];
const BC_INTERIOR: &[&str] = &["250", "778", "236"];
const AB_SOUTH: &[&str] = &["403", "587", "825"];
const AB_NORTH: &[&str] = &["780", "587", "825"];
const SK: &[&str] = &["306", "639"];
const MB: &[&str] = &["204", "431"];

pub const PROVINCES: [Province; 4] = [
    Province {
        code: "BC",
        weight: 0.43,
        cities: &[
            City {
                name: "Vancouver",
                fsas: &["V5K", "V5L", "V5N", "V6B", "V6E", "V6K"],
                area_codes: LOWER_MAINLAND,
                weight: 6.6,
            },
            City {
                name: "Surrey",
                fsas: &["V3S", "V3T", "V3W", "V4N"],
                area_codes: LOWER_MAINLAND,
                weight: 5.7,
            },
            City {
                name: "Burnaby",
                fsas: &["V5A", "V5C", "V5G", "V5H"],
                area_codes: LOWER_MAINLAND,
                weight: 2.5,
            },
            City {
                name: "Richmond",
                fsas: &["V6X", "V6Y", "V7A"],
                area_codes: LOWER_MAINLAND,
                weight: 2.1,
            },
            City {
                name: "Victoria",
                fsas: &["V8V", "V8W", "V8Z", "V9A"],
                area_codes: BC_INTERIOR,
                weight: 2.9,
            },
            City {
                name: "Kelowna",
                fsas: &["V1V", "V1W", "V1Y"],
                area_codes: BC_INTERIOR,
                weight: 1.5,
            },
            City {
                name: "Abbotsford",
                fsas: &["V2S", "V2T", "V4X"],
                area_codes: LOWER_MAINLAND,
                weight: 1.5,
            },
            City {
                name: "Kamloops",
                fsas: &["V2B", "V2C", "V2H"],
                area_codes: BC_INTERIOR,
                weight: 0.9,
            },
            City {
                name: "Nanaimo",
                fsas: &["V9R", "V9S", "V9T"],
                area_codes: BC_INTERIOR,
                weight: 0.9,
            },
            City {
                name: "Prince George",
                fsas: &["V2L", "V2M", "V2N"],
                area_codes: BC_INTERIOR,
                weight: 0.7,
            },
        ],
    },
    Province {
        code: "AB",
        weight: 0.37,
        cities: &[
            City {
                name: "Calgary",
                fsas: &["T2P", "T2E", "T3A", "T3H", "T2Z"],
                area_codes: AB_SOUTH,
                weight: 13.0,
            },
            City {
                name: "Edmonton",
                fsas: &["T5J", "T5K", "T6E", "T6W", "T5Z"],
                area_codes: AB_NORTH,
                weight: 10.0,
            },
            City {
                name: "Red Deer",
                fsas: &["T4N", "T4P", "T4R"],
                area_codes: AB_SOUTH,
                weight: 1.0,
            },
            City {
                name: "Lethbridge",
                fsas: &["T1H", "T1J", "T1K"],
                area_codes: AB_SOUTH,
                weight: 1.0,
            },
            City {
                name: "St. Albert",
                fsas: &["T8N"],
                area_codes: AB_NORTH,
                weight: 0.7,
            },
            City {
                name: "Medicine Hat",
                fsas: &["T1A", "T1B", "T1C"],
                area_codes: AB_SOUTH,
                weight: 0.6,
            },
            City {
                name: "Grande Prairie",
                fsas: &["T8V", "T8W", "T8X"],
                area_codes: AB_NORTH,
                weight: 0.6,
            },
            City {
                name: "Airdrie",
                fsas: &["T4A", "T4B"],
                area_codes: AB_SOUTH,
                weight: 0.8,
            },
        ],
    },
    Province {
        code: "SK",
        weight: 0.09,
        cities: &[
            City {
                name: "Saskatoon",
                fsas: &["S7H", "S7K", "S7N", "S7V"],
                area_codes: SK,
                weight: 3.2,
            },
            City {
                name: "Regina",
                fsas: &["S4N", "S4P", "S4S", "S4X"],
                area_codes: SK,
                weight: 2.5,
            },
            City {
                name: "Prince Albert",
                fsas: &["S6V", "S6W", "S6X"],
                area_codes: SK,
                weight: 0.4,
            },
            City {
                name: "Moose Jaw",
                fsas: &["S6H", "S6J", "S6K"],
                area_codes: SK,
                weight: 0.3,
            },
            City {
                name: "Swift Current",
                fsas: &["S9H"],
                area_codes: SK,
                weight: 0.2,
            },
        ],
    },
    Province {
        code: "MB",
        weight: 0.11,
        cities: &[
            City {
                name: "Winnipeg",
                fsas: &["R2C", "R2M", "R3C", "R3T", "R3P", "R2V"],
                area_codes: MB,
                weight: 7.5,
            },
            City {
                name: "Brandon",
                fsas: &["R7A", "R7B", "R7C"],
                area_codes: MB,
                weight: 0.5,
            },
            City {
                name: "Steinbach",
                fsas: &["R5G"],
                area_codes: MB,
                weight: 0.2,
            },
            City {
                name: "Thompson",
                fsas: &["R8N"],
                area_codes: MB,
                weight: 0.1,
            },
            City {
                name: "Portage la Prairie",
                fsas: &["R1N"],
                area_codes: MB,
                weight: 0.1,
            },
        ],
    },
];

/// A (province, city) pair, compact enough to store per person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub province: u8,
    pub city: u8,
}

impl Place {
    pub fn province(self) -> &'static Province {
        &PROVINCES[usize::from(self.province)]
    }

    pub fn city(self) -> &'static City {
        &self.province().cities[usize::from(self.city)]
    }
}

fn pick_weighted<T>(rng: &mut SmallRng, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.random::<f64>() * total;
    for (i, item) in items.iter().enumerate() {
        x -= weight(item);
        if x < 0.0 {
            return i;
        }
    }
    items.len() - 1
}

/// A home place drawn by population.
pub fn random_place(rng: &mut SmallRng) -> Place {
    let province = pick_weighted(rng, &PROVINCES, |p| p.weight);
    random_place_in(rng, province as u8)
}

pub fn random_place_in(rng: &mut SmallRng, province: u8) -> Place {
    let city = pick_weighted(rng, PROVINCES[usize::from(province)].cities, |c| c.weight);
    Place {
        province,
        city: city as u8,
    }
}

const POSTAL_LETTERS: &[u8] = b"ABCEGHJKLMNPRSTVWXYZ";

/// A postal code `A1A 1A1` whose first three characters belong to the city.
pub fn postal_code(rng: &mut SmallRng, place: Place) -> String {
    let fsas = place.city().fsas;
    let fsa = fsas[rng.random_range(0..fsas.len())];
    let letter = POSTAL_LETTERS[rng.random_range(0..POSTAL_LETTERS.len())] as char;
    format!(
        "{fsa} {}{letter}{}",
        rng.random_range(0..10u8),
        rng.random_range(0..10u8)
    )
}

/// A phone number `AAA-EEE-LLLL` with an area code of the city.
pub fn phone_number(rng: &mut SmallRng, place: Place) -> String {
    let codes = place.city().area_codes;
    let area = codes[rng.random_range(0..codes.len())];
    format!(
        "{area}-{}-{:04}",
        rng.random_range(200..1000u16),
        rng.random_range(0..10_000u16)
    )
}

/// Service centres: two per city (`Calgary North`, `Calgary South`, ...).
pub const CENTRE_SUFFIXES: [&str; 2] = ["North", "South"];

/// All service centre names in a fixed order; a centre is an index into it.
pub fn centre_names() -> Vec<String> {
    PROVINCES
        .iter()
        .flat_map(|p| p.cities.iter())
        .flat_map(|c| {
            CENTRE_SUFFIXES
                .iter()
                .map(move |s| format!("{} {s}", c.name))
        })
        .collect()
}

/// How many service centres there are (the length of [`centre_names`]),
/// without building the names: the generator asks for it per person.
pub const fn centre_count() -> usize {
    let mut cities = 0;
    let mut p = 0;
    while p < PROVINCES.len() {
        cities += PROVINCES[p].cities.len();
        p += 1;
    }
    cities * CENTRE_SUFFIXES.len()
}

/// Index of a centre of `place`'s city in [`centre_names`].
pub fn centre_of(place: Place, which: usize) -> u16 {
    let before: usize = PROVINCES[..usize::from(place.province)]
        .iter()
        .map(|p| p.cities.len())
        .sum::<usize>()
        + usize::from(place.city);
    (before * CENTRE_SUFFIXES.len() + which % CENTRE_SUFFIXES.len()) as u16
}
