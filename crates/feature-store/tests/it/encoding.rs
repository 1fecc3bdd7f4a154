use feature_store::encoding::{DecodeError, FORMAT_VERSION, decode_customer, encode_customer};

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn every_value_round_trips_to_the_same_bits() {
    let values = vec![
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.0,
        -1.0,
        42.0,
        -123_456.0,
        9_007_199_254_740_991.0,
        9_007_199_254_740_993.0_f64 * 4.0,
        0.1,
        0.01,
        123.45,
        -99.99,
        1.0 / 3.0,
        2.0 / 3.0,
        0.5,
        0.375,
        1e-300,
        1e300,
        f64::MIN_POSITIVE,
        f64::MAX,
        123_456.789_1,
        0.1 + 0.2,
        f64::from(1.1f32),
        3.0 / 7.0,
        -(5.0 / 11.0),
        1_000_003.0 / 999_983.0,
        std::f64::consts::PI,
        -std::f64::consts::E,
        4.0 / 9.0 * 1e-12,
    ];
    for cluster in [0u32, 7, u32::MAX] {
        let encoded = encode_customer(cluster, &values);
        let (got_cluster, got) = decode_customer(&encoded).unwrap();
        assert_eq!(got_cluster, cluster);
        assert_eq!(bits(&got), bits(&values));
    }
}

#[test]
fn counts_zeros_and_cents_take_about_a_byte_or_two() {
    // 20 features: zeros, small counts, money with cents.
    let mut values = vec![0.0; 10];
    values.extend([1.0, 2.0, 3.0, 17.0, 120.0]);
    values.extend([12.5, 49.99, 130.25, 7.1, 0.99]);
    let encoded = encode_customer(3, &values);
    // 3 header bytes + 10 tag bytes + 5 counts (1 byte) + 5 decimals (<= 3 bytes)
    assert!(encoded.len() <= 3 + 10 + 5 + 15, "{} bytes", encoded.len());
    assert!(encoded.len() < values.len() * 8 / 4);
}

#[test]
fn shares_and_rates_of_small_counts_are_compact() {
    // txn shares (count / count) and smoothed rates ((c + 1) / (r + 2)).
    let values: Vec<f64> = (1..=12u32)
        .map(|i| f64::from(i) / f64::from(i + 5))
        .chain((0..12u32).map(|c| (f64::from(c) + 1.0) / (f64::from(c * 3) + 2.0)))
        .collect();
    let encoded = encode_customer(0, &values);
    let (_, decoded) = decode_customer(&encoded).unwrap();
    assert_eq!(bits(&decoded), bits(&values));
    // 3 header bytes, 12 tag bytes, 2 bytes per value instead of 8.
    assert!(encoded.len() <= 3 + 12 + 24 * 2, "{} bytes", encoded.len());
}

#[test]
fn corrupt_values_are_refused() {
    let encoded = encode_customer(1, &[1.0 / 3.0, 5.0]);
    assert_eq!(
        decode_customer(&encoded[..encoded.len() - 1]),
        Err(DecodeError::Truncated)
    );
    let mut longer = encoded.clone();
    longer.push(0);
    assert_eq!(decode_customer(&longer), Err(DecodeError::Trailing(1)));
    let mut version = encoded.clone();
    version[0] = FORMAT_VERSION + 1;
    assert_eq!(
        decode_customer(&version),
        Err(DecodeError::Version(FORMAT_VERSION + 1))
    );
    assert!(decode_customer(&[]).is_err());
    // A huge feature count must not allocate.
    assert!(decode_customer(&[FORMAT_VERSION, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
}
