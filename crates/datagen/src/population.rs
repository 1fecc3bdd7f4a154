//! People, their customer records (with duplicates of five kinds) and their
//! history, generated chunk by chunk.
//!
//! A chunk is a fixed number of base people with its own RNG, seeded from
//! the run's seed and the chunk's index: chunks can be generated on any
//! number of threads in any order and still give the same tables.

use std::borrow::Cow;
use std::ops::Range;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Beta, Distribution, Normal, Poisson};

use crate::catalogue::{Offer, SERVICES, services_in};
use crate::geography::{self, Place, random_place, random_place_in};
use crate::names::{self, Culture};
use crate::response::{Segment, Traits, open_probability, redemption_probability};

/// Kinds of record, as `customers_truth.dup_type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupType {
    Original,
    TrueDup,
    NameCollision,
    SharedPhone,
    SharedEmail,
    IdError,
}

impl DupType {
    pub fn as_str(self) -> &'static str {
        match self {
            DupType::Original => "original",
            DupType::TrueDup => "true_dup",
            DupType::NameCollision => "name_collision",
            DupType::SharedPhone => "shared_phone",
            DupType::SharedEmail => "shared_email",
            DupType::IdError => "id_error",
        }
    }
}

/// The mix of extra records, from the system we replace.
const EXTRA_KINDS: [(DupType, f64); 5] = [
    (DupType::TrueDup, 0.40),
    (DupType::NameCollision, 0.20),
    (DupType::SharedPhone, 0.15),
    (DupType::SharedEmail, 0.15),
    (DupType::IdError, 0.10),
];
/// P(a person has at least one extra record) and P(one more | one):
/// 0.16 / (1 - 0.11) = 0.18 extra records per base person.
const P_FIRST_EXTRA: f64 = 0.16;
const P_NEXT_EXTRA: f64 = 0.11;
/// Share of a person's history booked on their first record; the rest is
/// spread over their other records.
const PRIMARY_SHARE: f64 = 0.75;
pub(crate) const PREFERRED_CATEGORY_WEIGHTS: [f64; 4] = [0.35, 0.25, 0.20, 0.20];
/// Share of purchases in the preferred category; the rest are uniform over
/// every service.
pub(crate) const P_PREFERRED_PURCHASE: f64 = 0.5;
/// Price sensitivity ~ Beta(a, b).
pub(crate) const PRICE_SENSITIVITY_BETA: (f64, f64) = (2.0, 2.0);
/// Responsiveness ~ N(0, sd).
pub(crate) const RESPONSIVENESS_SD: f64 = 0.7;
/// A purchase's price is the list price x exp(N(0, sd)) x (1 - discount x
/// price sensitivity): the price-sensitive buy cheaper variants.
pub(crate) const AMOUNT_NOISE_SD: f64 = 0.25;
pub(crate) const PRICE_SENSITIVE_DISCOUNT: f64 = 0.35;

/// The calendar of one run, in epoch days.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    /// Last day of history (inclusive).
    pub end: i32,
    /// First day of transactions: two years before the end.
    pub history_start: i32,
    /// First day offers are sent: one year before the end.
    pub offers_start: i32,
}

impl Calendar {
    pub fn ending(end: i32) -> Self {
        Self {
            end,
            history_start: end - 729,
            offers_start: end - 364,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Person {
    pub first: String,
    pub last: String,
    pub email: String,
    pub phone: Option<String>,
    pub dob: i32,
    pub place: Place,
    pub postal: String,
    pub registration: i32,
    pub traits: Traits,
    culture: Culture,
}

#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Index of the person in the chunk.
    pub person: u32,
    pub dup_type: DupType,
    pub first: String,
    pub last: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub dob: Option<i32>,
    /// The city's name, or a mistyped copy of it.
    pub city: Cow<'static, str>,
    pub province: &'static str,
    pub postal: String,
    pub registration: i32,
}

#[derive(Debug, Clone, Copy)]
pub struct RawTransaction {
    /// Index of the record in the chunk.
    pub record: u32,
    pub service: u8,
    pub amount: f64,
    pub centre: u16,
    pub date: i32,
}

#[derive(Debug, Clone, Copy)]
pub struct RawInteraction {
    pub record: u32,
    pub offer: u16,
    pub sent: i32,
    pub opened: u8,
    pub clicked: u8,
    pub redeemed: u8,
}

/// Everything one chunk of people produced, with chunk-local indices.
#[derive(Debug)]
pub struct RawChunk {
    pub index: usize,
    /// Global numbers of the chunk's base people (0-based).
    pub base: Range<u64>,
    /// Base people first, then the look-alikes (other people who share a
    /// name, a phone or an e-mail with a base person).
    pub people: Vec<Person>,
    pub records: Vec<RawRecord>,
    pub transactions: Vec<RawTransaction>,
    pub interactions: Vec<RawInteraction>,
    /// Whether each person's true propensities are written.
    pub in_truth_sample: Vec<bool>,
}

impl RawChunk {
    pub fn base_len(&self) -> usize {
        (self.base.end - self.base.start) as usize
    }

    pub fn lookalikes(&self) -> usize {
        self.people.len() - self.base_len()
    }
}

/// SplitMix64: a well-mixed 64-bit hash for seeding and sampling.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Parameters shared by every chunk of a run.
#[derive(Debug, Clone)]
pub struct ChunkPlan {
    pub seed: u64,
    pub calendar: Calendar,
    pub offers: Vec<Offer>,
    /// Keep the true propensities of one person in `truth_stride`.
    pub truth_stride: u64,
}

fn weighted_index(rng: &mut SmallRng, weights: &[f64]) -> usize {
    let mut x = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        x -= w;
        if x < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

struct Distributions {
    price_sensitivity: Beta<f64>,
    responsiveness: Normal<f64>,
    amount_noise: Normal<f64>,
}

impl Distributions {
    fn new() -> Self {
        // Constant, valid parameters: these constructors cannot fail.
        Self {
            price_sensitivity: Beta::new(PRICE_SENSITIVITY_BETA.0, PRICE_SENSITIVITY_BETA.1)
                .unwrap_or_else(|_| unreachable!()),
            responsiveness: Normal::new(0.0, RESPONSIVENESS_SD).unwrap_or_else(|_| unreachable!()),
            amount_noise: Normal::new(0.0, AMOUNT_NOISE_SD).unwrap_or_else(|_| unreachable!()),
        }
    }
}

fn random_traits(rng: &mut SmallRng, d: &Distributions) -> Traits {
    Traits {
        segment: Segment::ALL[weighted_index(rng, &Segment::WEIGHTS)],
        preferred_category: weighted_index(rng, &PREFERRED_CATEGORY_WEIGHTS) as u8,
        price_sensitivity: d.price_sensitivity.sample(rng),
        favourite_type: rng.random_range(0..6u8),
        responsiveness: d.responsiveness.sample(rng),
    }
}

fn birth_year(dob: i32) -> i32 {
    use chrono::Datelike;
    pipeline_core::calendar::from_epoch_days(dob).year()
}

/// Adults born 1945..2006; registered up to six years before the end.
fn random_person(rng: &mut SmallRng, d: &Distributions, cal: &Calendar) -> Person {
    let culture = names::random_culture(rng);
    let first = names::first_name(rng, culture);
    let last = names::last_name(rng, culture);
    let place = random_place(rng);
    person_with(rng, d, cal, culture, first, last, place)
}

fn person_with(
    rng: &mut SmallRng,
    d: &Distributions,
    cal: &Calendar,
    culture: Culture,
    first: String,
    last: String,
    place: Place,
) -> Person {
    let dob = rng.random_range(-9_131..13_149); // 1945-01-01 .. 2005-12-31
    let email = names::email(rng, &first, &last, birth_year(dob));
    let phone = rng
        .random_bool(0.92)
        .then(|| geography::phone_number(rng, place));
    Person {
        postal: geography::postal_code(rng, place),
        registration: cal.end - rng.random_range(0..6 * 365),
        traits: random_traits(rng, d),
        first,
        last,
        email,
        phone,
        dob,
        place,
        culture,
    }
}

fn record_of(person_index: u32, p: &Person, dup_type: DupType) -> RawRecord {
    RawRecord {
        person: person_index,
        dup_type,
        first: p.first.clone(),
        last: p.last.clone(),
        email: Some(p.email.clone()),
        phone: p.phone.clone(),
        dob: Some(p.dob),
        city: Cow::Borrowed(p.place.city().name),
        province: p.place.province().code,
        postal: p.postal.clone(),
        registration: p.registration,
    }
}

/// A second sign-up of the same person, some time after the first.
fn later_registration(rng: &mut SmallRng, p: &Person, cal: &Calendar) -> i32 {
    (p.registration + rng.random_range(30..900)).min(cal.end)
}

/// The same person again with one difference: a typo in first name, last
/// name or city, a different e-mail, or no phone.
fn true_duplicate(rng: &mut SmallRng, index: u32, p: &Person, cal: &Calendar) -> RawRecord {
    let mut r = record_of(index, p, DupType::TrueDup);
    r.registration = later_registration(rng, p, cal);
    match weighted_index(rng, &[0.25, 0.25, 0.15, 0.20, 0.15]) {
        0 => r.first = names::typo(rng, &p.first),
        1 => r.last = names::typo(rng, &p.last),
        2 => r.city = Cow::Owned(names::typo(rng, &r.city)),
        3 => {
            r.email = Some(names::other_email(
                rng,
                &p.first,
                &p.last,
                birth_year(p.dob),
                &p.email,
            ))
        }
        _ => {
            if r.phone.is_some() {
                r.phone = None;
            } else {
                r.first = names::typo(rng, &p.first);
            }
        }
    }
    r
}

/// The same person under details that share nothing with their first
/// record (a data-entry error in the source system).
fn id_error(
    rng: &mut SmallRng,
    d: &Distributions,
    index: u32,
    p: &Person,
    cal: &Calendar,
) -> RawRecord {
    let stranger = random_person(rng, d, cal);
    let mut r = record_of(index, &stranger, DupType::IdError);
    r.registration = later_registration(rng, p, cal);
    r
}

/// Generates the chunk `index` covering the base people `base`.
pub fn generate_chunk(plan: &ChunkPlan, index: usize, base: Range<u64>) -> RawChunk {
    let mut rng = SmallRng::seed_from_u64(mix(plan.seed ^ mix(index as u64 + 1)));
    let d = Distributions::new();
    let cal = &plan.calendar;
    let base_len = (base.end - base.start) as usize;

    let mut people: Vec<Person> = (0..base_len)
        .map(|_| random_person(&mut rng, &d, cal))
        .collect();
    let mut records: Vec<RawRecord> = Vec::with_capacity(base_len * 6 / 5);
    for i in 0..base_len {
        let pi = i as u32;
        records.push(record_of(pi, &people[i], DupType::Original));
        let mut extra = rng.random_bool(P_FIRST_EXTRA);
        while extra {
            let kind = EXTRA_KINDS[weighted_index(&mut rng, &EXTRA_KINDS.map(|(_, w)| w))].0;
            let p = &people[i];
            match kind {
                DupType::TrueDup => records.push(true_duplicate(&mut rng, pi, p, cal)),
                DupType::IdError => records.push(id_error(&mut rng, &d, pi, p, cal)),
                DupType::NameCollision => {
                    // Another person of the same name, elsewhere or nearby.
                    let place = if rng.random_bool(0.5) {
                        random_place_in(&mut rng, p.place.province)
                    } else {
                        random_place(&mut rng)
                    };
                    let (culture, first, last) = (p.culture, p.first.clone(), p.last.clone());
                    let other = person_with(&mut rng, &d, cal, culture, first, last, place);
                    records.push(record_of(people.len() as u32, &other, kind));
                    people.push(other);
                }
                DupType::SharedPhone | DupType::SharedEmail => {
                    // A household member: same address, often the same
                    // surname, sharing the phone or the e-mail.
                    let culture = p.culture;
                    let last = if rng.random_bool(0.75) {
                        p.last.clone()
                    } else {
                        names::last_name(&mut rng, culture)
                    };
                    let first = loop {
                        let f = names::first_name(&mut rng, culture);
                        if f != p.first {
                            break f;
                        }
                    };
                    let (place, postal, phone, email) =
                        (p.place, p.postal.clone(), p.phone.clone(), p.email.clone());
                    let mut other = person_with(&mut rng, &d, cal, culture, first, last, place);
                    other.postal = postal;
                    if kind == DupType::SharedPhone {
                        let shared = match phone {
                            Some(shared) => shared,
                            None => {
                                // The household gets a line; every record
                                // of the person made so far shows it too
                                // (their true duplicates inherited the
                                // missing phone, which is not their change).
                                let new = geography::phone_number(&mut rng, place);
                                people[i].phone = Some(new.clone());
                                records
                                    .iter_mut()
                                    .filter(|r| r.person == pi)
                                    .for_each(|r| r.phone = Some(new.clone()));
                                new
                            }
                        };
                        other.phone = Some(shared);
                    } else {
                        other.email = email;
                    }
                    records.push(record_of(people.len() as u32, &other, kind));
                    people.push(other);
                }
                DupType::Original => {}
            }
            extra = rng.random_bool(P_NEXT_EXTRA);
        }
    }
    records.shuffle(&mut rng);

    // Each person's records, primary (their first sign-up) first: person
    // `pi`'s are `records_of[starts[pi]..starts[pi + 1]]` (one flat list,
    // not a Vec per person).
    let mut starts = vec![0usize; people.len() + 1];
    for r in &records {
        starts[r.person as usize + 1] += 1;
    }
    for pi in 0..people.len() {
        starts[pi + 1] += starts[pi];
    }
    let mut records_of = vec![0u32; records.len()];
    let mut next = starts.clone();
    for (ri, r) in records.iter().enumerate() {
        let slot = &mut next[r.person as usize];
        records_of[*slot] = ri as u32;
        *slot += 1;
    }
    for pi in 0..people.len() {
        records_of[starts[pi]..starts[pi + 1]].sort_by_key(|&ri| {
            let r = &records[ri as usize];
            let later_sign_up = matches!(r.dup_type, DupType::TrueDup | DupType::IdError);
            (later_sign_up, r.registration, ri)
        });
    }

    let mut transactions = Vec::new();
    let mut interactions = Vec::new();
    for (pi, person) in people.iter().enumerate() {
        let own = &records_of[starts[pi]..starts[pi + 1]];
        let mut pick_record = |rng: &mut SmallRng| -> u32 {
            if own.len() == 1 || rng.random_bool(PRIMARY_SHARE) {
                own[0]
            } else {
                own[rng.random_range(1..own.len())]
            }
        };
        history(
            plan,
            &d,
            &mut rng,
            person,
            &mut pick_record,
            &mut transactions,
            &mut interactions,
        );
    }

    let in_truth_sample = (0..people.len())
        .map(|pi| {
            plan.truth_stride <= 1
                || mix(plan.seed ^ mix(index as u64) ^ (pi as u64))
                    .is_multiple_of(plan.truth_stride)
        })
        .collect();
    RawChunk {
        index,
        base,
        people,
        records,
        transactions,
        interactions,
        in_truth_sample,
    }
}

/// A person's purchases over the two years and the offers sent to them over
/// the last year, booked on their records.
fn history(
    plan: &ChunkPlan,
    d: &Distributions,
    rng: &mut SmallRng,
    person: &Person,
    pick_record: &mut impl FnMut(&mut SmallRng) -> u32,
    transactions: &mut Vec<RawTransaction>,
    interactions: &mut Vec<RawInteraction>,
) {
    let cal = &plan.calendar;
    let t = &person.traits;
    let active_from = person.registration.max(cal.history_start);
    let active_share =
        f64::from(cal.end - active_from + 1) / f64::from(cal.end - cal.history_start + 1);
    let (lo, hi) = t.segment.transactions();
    let full = f64::from(rng.random_range(lo..=hi));
    let count = (full * active_share).round() as u32;
    let preferred: Vec<usize> = services_in(t.preferred_category).collect();
    let home_centre = geography::centre_of(person.place, rng.random_range(0..2));
    let centres = geography::centre_count() as u16;
    for _ in 0..count {
        let service = if rng.random_bool(P_PREFERRED_PURCHASE) {
            preferred[rng.random_range(0..preferred.len())]
        } else {
            rng.random_range(0..SERVICES.len())
        };
        let price = SERVICES[service].price
            * d.amount_noise.sample(rng).exp()
            * (1.0 - PRICE_SENSITIVE_DISCOUNT * t.price_sensitivity);
        transactions.push(RawTransaction {
            record: pick_record(rng),
            service: service as u8,
            amount: (price * 100.0).round() / 100.0,
            centre: if rng.random_bool(0.8) {
                home_centre
            } else {
                rng.random_range(0..centres)
            },
            date: rng.random_range(active_from..=cal.end),
        });
    }

    let send_from = person.registration.max(cal.offers_start);
    if send_from > cal.end {
        return;
    }
    let year_share = f64::from(cal.end - send_from + 1) / 365.0;
    let lambda = t.segment.offers_per_year() * year_share;
    let n = if lambda > 0.0 {
        Poisson::new(lambda)
            .map(|p| p.sample(rng) as u32)
            .unwrap_or(0)
    } else {
        0
    };
    let p_open = open_probability(t);
    for _ in 0..n {
        let offer = rng.random_range(0..plan.offers.len());
        let p = redemption_probability(t, &plan.offers[offer]);
        let redeemed = rng.random_bool(p);
        let opened = redeemed || rng.random_bool(p_open);
        let clicked = redeemed || (opened && rng.random_bool(0.3));
        interactions.push(RawInteraction {
            record: pick_record(rng),
            offer: offer as u16,
            sent: rng.random_range(send_from..=cal.end),
            opened: u8::from(opened),
            clicked: u8::from(clicked),
            redeemed: u8::from(redeemed),
        });
    }
}
