//! Names from the cultures of western Canada, e-mail addresses built from
//! them, and the typos that make duplicate records hard to spot.
//!
//! European names come from `fake`'s locales (French, German, Italian,
//! Portuguese and Dutch lists carry accents: "Hélène", "Gonçalves");
//! romanised Chinese, Punjabi, Filipino, Vietnamese and Ukrainian names,
//! which `fake` has only in their own scripts or not at all, come from the
//! short lists below.

use fake::Fake;
use fake::faker::name::raw::{FirstName, LastName};
use fake::locales::{DE_DE, EN, FR_FR, IT_IT, NL_NL, PT_BR};
use rand::RngExt;
use rand::rngs::SmallRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culture {
    English,
    French,
    German,
    Italian,
    Portuguese,
    Dutch,
    Chinese,
    Punjabi,
    Filipino,
    Vietnamese,
    Ukrainian,
}

const CULTURES: [(Culture, f64); 11] = [
    (Culture::English, 0.50),
    (Culture::French, 0.08),
    (Culture::German, 0.06),
    (Culture::Italian, 0.03),
    (Culture::Portuguese, 0.02),
    (Culture::Dutch, 0.03),
    (Culture::Chinese, 0.09),
    (Culture::Punjabi, 0.08),
    (Culture::Filipino, 0.05),
    (Culture::Vietnamese, 0.03),
    (Culture::Ukrainian, 0.03),
];

const CHINESE_FIRST: &[&str] = &[
    "Wei", "Jing", "Li", "Ming", "Xiu", "Yan", "Hui", "Jun", "Lei", "Fang", "Yong", "Xin", "Hao",
    "Ling", "Mei", "Chen", "Kai", "Yu", "Zhen", "Qiang", "Ying", "Tao", "Bo", "Lan", "Jie", "Wing",
    "Ka", "Siu", "Kwok", "Man",
];
const CHINESE_LAST: &[&str] = &[
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Gao", "Wong", "Chan", "Leung", "Lam", "Cheung", "Ho",
    "Ng", "Tang", "Lau", "Chow",
];
const PUNJABI_FIRST: &[&str] = &[
    "Harpreet",
    "Gurpreet",
    "Manpreet",
    "Jaspreet",
    "Amandeep",
    "Simran",
    "Navdeep",
    "Rajinder",
    "Baljit",
    "Kuldeep",
    "Harjit",
    "Sukhwinder",
    "Parminder",
    "Jasleen",
    "Ravneet",
    "Gurdeep",
    "Inderjit",
    "Mandeep",
    "Kamaljit",
    "Arshdeep",
    "Priya",
    "Anil",
    "Sunita",
    "Rohan",
    "Neha",
];
const PUNJABI_LAST: &[&str] = &[
    "Singh", "Kaur", "Gill", "Sandhu", "Sidhu", "Dhillon", "Grewal", "Brar", "Sohi", "Bains",
    "Johal", "Mann", "Dhaliwal", "Randhawa", "Sekhon", "Toor", "Atwal", "Hundal", "Sharma",
    "Patel", "Gupta", "Kumar", "Malhotra", "Chopra", "Bhatia",
];
const FILIPINO_FIRST: &[&str] = &[
    "Maria",
    "Jose",
    "Juan",
    "Ma. Cristina",
    "Rodrigo",
    "Liza",
    "Jericho",
    "Marites",
    "Rowena",
    "Arnel",
    "Jennylyn",
    "Rommel",
    "Maricel",
    "Ronaldo",
    "Analyn",
    "Reynaldo",
    "Lorna",
    "Edwin",
    "Girlie",
    "Danilo",
];
const FILIPINO_LAST: &[&str] = &[
    "Santos",
    "Reyes",
    "Cruz",
    "Bautista",
    "Ocampo",
    "Garcia",
    "Mendoza",
    "Torres",
    "Tomas",
    "Andrada",
    "Castillo",
    "Flores",
    "Villanueva",
    "Ramos",
    "Castro",
    "Rivera",
    "Aquino",
    "Navarro",
    "Salazar",
    "Mercado",
    "Dela Cruz",
    "De Guzman",
    "Pañganiban",
    "Dimaculangan",
];
const VIETNAMESE_FIRST: &[&str] = &[
    "Anh", "Bảo", "Châu", "Dũng", "Hà", "Hải", "Hiếu", "Hoa", "Hùng", "Khánh", "Lan", "Linh",
    "Long", "Minh", "Nam", "Ngọc", "Phương", "Quang", "Thảo", "Thu", "Trung", "Tuấn", "Vy",
];
const VIETNAMESE_LAST: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Nguyen", "Tran", "Le", "Pham",
];
const UKRAINIAN_FIRST: &[&str] = &[
    "Oksana",
    "Olena",
    "Iryna",
    "Natalia",
    "Yulia",
    "Tetiana",
    "Andriy",
    "Oleksandr",
    "Dmytro",
    "Mykola",
    "Serhiy",
    "Taras",
    "Bohdan",
    "Volodymyr",
    "Yaroslav",
    "Halyna",
    "Larysa",
    "Roman",
    "Stepan",
    "Vasyl",
];
const UKRAINIAN_LAST: &[&str] = &[
    "Kovalenko",
    "Bondarenko",
    "Tkachenko",
    "Shevchenko",
    "Kravchenko",
    "Melnyk",
    "Boyko",
    "Kovalchuk",
    "Oliynyk",
    "Lysenko",
    "Marchenko",
    "Savchenko",
    "Rudenko",
    "Moroz",
    "Petrenko",
    "Hnatyshyn",
    "Wasylyshyn",
    "Kuzyk",
    "Stefaniuk",
    "Zaharko",
];

fn pick(rng: &mut SmallRng, list: &[&str]) -> String {
    list[rng.random_range(0..list.len())].to_owned()
}

pub fn random_culture(rng: &mut SmallRng) -> Culture {
    let mut x = rng.random::<f64>();
    for (culture, weight) in CULTURES {
        x -= weight;
        if x < 0.0 {
            return culture;
        }
    }
    Culture::English
}

pub fn first_name(rng: &mut SmallRng, culture: Culture) -> String {
    match culture {
        Culture::English => FirstName(EN).fake_with_rng(rng),
        Culture::French => FirstName(FR_FR).fake_with_rng(rng),
        Culture::German => FirstName(DE_DE).fake_with_rng(rng),
        Culture::Italian => FirstName(IT_IT).fake_with_rng(rng),
        Culture::Portuguese => FirstName(PT_BR).fake_with_rng(rng),
        Culture::Dutch => FirstName(NL_NL).fake_with_rng(rng),
        Culture::Chinese => pick(rng, CHINESE_FIRST),
        Culture::Punjabi => pick(rng, PUNJABI_FIRST),
        Culture::Filipino => pick(rng, FILIPINO_FIRST),
        Culture::Vietnamese => pick(rng, VIETNAMESE_FIRST),
        Culture::Ukrainian => pick(rng, UKRAINIAN_FIRST),
    }
}

pub fn last_name(rng: &mut SmallRng, culture: Culture) -> String {
    match culture {
        Culture::English => LastName(EN).fake_with_rng(rng),
        Culture::French => LastName(FR_FR).fake_with_rng(rng),
        Culture::German => LastName(DE_DE).fake_with_rng(rng),
        Culture::Italian => LastName(IT_IT).fake_with_rng(rng),
        Culture::Portuguese => LastName(PT_BR).fake_with_rng(rng),
        Culture::Dutch => LastName(NL_NL).fake_with_rng(rng),
        Culture::Chinese => pick(rng, CHINESE_LAST),
        Culture::Punjabi => pick(rng, PUNJABI_LAST),
        Culture::Filipino => pick(rng, FILIPINO_LAST),
        Culture::Vietnamese => pick(rng, VIETNAMESE_LAST),
        Culture::Ukrainian => pick(rng, UKRAINIAN_LAST),
    }
}

const EMAIL_DOMAINS: [(&str, f64); 9] = [
    ("gmail.com", 0.42),
    ("outlook.com", 0.12),
    ("hotmail.com", 0.10),
    ("yahoo.ca", 0.08),
    ("icloud.com", 0.08),
    ("shaw.ca", 0.07),
    ("telus.net", 0.06),
    ("sasktel.net", 0.04),
    ("mymts.net", 0.03),
];

/// Lower-case ASCII letters of a name, for e-mail local parts.
fn ascii_token(name: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase());
    if name.is_ascii() {
        // deunicode leaves ASCII as it is: skip its copy.
        name.chars().filter_map(keep).collect()
    } else {
        deunicode::deunicode(name)
            .chars()
            .filter_map(keep)
            .collect()
    }
}

fn email_domain(rng: &mut SmallRng) -> &'static str {
    let mut x = rng.random::<f64>();
    for (domain, weight) in EMAIL_DOMAINS {
        x -= weight;
        if x < 0.0 {
            return domain;
        }
    }
    EMAIL_DOMAINS[0].0
}

/// An address in one of the usual shapes: `jane.doe`, `janedoe84`,
/// `jdoe`, `jane_doe123`, at a common provider.
pub fn email(rng: &mut SmallRng, first: &str, last: &str, birth_year: i32) -> String {
    use std::fmt::Write;
    let f = ascii_token(first);
    let l = ascii_token(last);
    let f = if f.is_empty() { "user" } else { f.as_str() };
    let l = if l.is_empty() { "mail" } else { l.as_str() };
    let initial = &f[..1];
    // One buffer for the whole address; writing to a String cannot fail.
    let mut out = String::with_capacity(f.len() + l.len() + 24);
    let _ = match rng.random_range(0..6u8) {
        0 => write!(out, "{f}.{l}"),
        1 => write!(out, "{f}{l}{}", birth_year % 100),
        2 => write!(out, "{initial}{l}{}", rng.random_range(1..100u16)),
        3 => write!(out, "{f}_{l}{}", rng.random_range(1..1000u16)),
        4 => write!(out, "{f}.{l}{}", rng.random_range(1..100u16)),
        _ => write!(out, "{l}.{f}{}", birth_year),
    };
    out.push('@');
    out.push_str(email_domain(rng));
    out
}

/// A new address for the same person: another provider or another shape.
pub fn other_email(
    rng: &mut SmallRng,
    first: &str,
    last: &str,
    birth_year: i32,
    old: &str,
) -> String {
    for _ in 0..8 {
        let candidate = email(rng, first, last, birth_year);
        if candidate != old {
            return candidate;
        }
    }
    format!(
        "{}.{}@{}",
        ascii_token(first),
        rng.random_range(1000..10_000u16),
        email_domain(rng)
    )
}

const KEYBOARD_ROWS: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];

fn neighbour(c: char, rng: &mut SmallRng) -> char {
    let lower = c.to_ascii_lowercase();
    for row in KEYBOARD_ROWS {
        if let Some(pos) = row.find(lower) {
            let bytes = row.as_bytes();
            let next = if pos == 0 || (pos + 1 < bytes.len() && rng.random_bool(0.5)) {
                bytes[pos + 1]
            } else {
                bytes[pos - 1]
            } as char;
            return if c.is_uppercase() {
                next.to_ascii_uppercase()
            } else {
                next
            };
        }
    }
    c
}

/// One realistic typing error: a dropped accent, a transposition, a
/// deletion, a doubled letter or a neighbouring key. Never returns the
/// input unchanged.
pub fn typo(rng: &mut SmallRng, word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return format!("{word}{word}");
    }
    if !word.is_ascii() && rng.random_bool(0.5) {
        let plain = deunicode::deunicode(word);
        if plain != word {
            return plain;
        }
    }
    for _ in 0..8 {
        // Keep the first letter most of the time: people rarely mistype it.
        let i = rng.random_range(1..chars.len());
        let mut out = chars.clone();
        match rng.random_range(0..4u8) {
            0 => out.swap(i - 1, i),
            1 => {
                out.remove(i);
            }
            2 => out.insert(i, chars[i]),
            _ => out[i] = neighbour(chars[i], rng),
        }
        let s: String = out.into_iter().collect();
        if s != word {
            return s;
        }
    }
    format!("{word}e")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn typos_change_the_word_but_stay_close() {
        let mut rng = SmallRng::seed_from_u64(1);
        for word in ["Smith", "Hélène", "Nguyễn", "Li", "Okonkwo"] {
            for _ in 0..50 {
                let t = typo(&mut rng, word);
                assert_ne!(t, word);
                assert!(strsim_like_distance(&t, word) <= 2, "{word} -> {t}");
            }
        }
    }

    // Levenshtein distance on deaccented text, enough for the test.
    fn strsim_like_distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = deunicode::deunicode(a).chars().collect();
        let b: Vec<char> = deunicode::deunicode(b).chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    #[test]
    fn emails_are_ascii_and_well_formed() {
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..200 {
            let e = email(&mut rng, "Hélène", "Nguyễn", 1984);
            assert!(e.is_ascii(), "{e}");
            assert_eq!(e.matches('@').count(), 1);
        }
    }
}
