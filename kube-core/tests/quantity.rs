//! Quantity parsing, printing, comparison and arithmetic, against upstream's quantity_test.go.

use kube_core::quantity::{Error, Format, Quantity};
use proptest::prelude::*;

fn q(s: &str) -> Quantity {
    match Quantity::parse(s) {
        Ok(q) => q,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

/// (input, canonical form, String() form, format) — upstream's TestQuantityParse,
/// TestQuantityString and TestQuantityParseEmit.
const CASES: &[(&str, &str, &str, Format)] = &[
    ("0", "0", "0", Format::DecimalSI),
    ("0n", "0", "0", Format::DecimalSI),
    ("0Ki", "0", "0", Format::BinarySI),
    ("1", "1", "1", Format::DecimalSI),
    ("-1", "-1", "-1", Format::DecimalSI),
    ("+1", "1", "+1", Format::DecimalSI),
    ("100m", "100m", "100m", Format::DecimalSI),
    ("0.5", "500m", "500m", Format::DecimalSI),
    ("0.1", "100m", "100m", Format::DecimalSI),
    ("1.5", "1500m", "1500m", Format::DecimalSI),
    ("1000m", "1", "1", Format::DecimalSI),
    ("1Ki", "1Ki", "1Ki", Format::BinarySI),
    ("8Ki", "8Ki", "8Ki", Format::BinarySI),
    ("500Ki", "500Ki", "500Ki", Format::BinarySI),
    ("1024Mi", "1Gi", "1Gi", Format::BinarySI),
    ("1.5Gi", "1536Mi", "1536Mi", Format::BinarySI),
    ("0.5Mi", "512Ki", "512Ki", Format::BinarySI),
    ("100.035Ki", "102435840m", "102435840m", Format::BinarySI),
    ("2k", "2k", "2k", Format::DecimalSI),
    ("50k", "50k", "50k", Format::DecimalSI),
    ("1M", "1M", "1M", Format::DecimalSI),
    ("1000M", "1G", "1G", Format::DecimalSI),
    ("100.035k", "100035", "100.035k", Format::DecimalSI),
    ("10.035M", "10035k", "10.035M", Format::DecimalSI),
    ("7.123456M", "7123456", "7.123456M", Format::DecimalSI),
    ("1E", "1E", "1E", Format::DecimalSI),
    ("12E", "12E", "12E", Format::DecimalSI),
    ("1000E", "1e21", "1e21", Format::DecimalSI),
    ("1e3", "1e3", "1e3", Format::DecimalExponent),
    ("1E3", "1e3", "1E3", Format::DecimalExponent),
    ("12e6", "12e6", "12e6", Format::DecimalExponent),
    ("1e4", "10e3", "10e3", Format::DecimalExponent),
    ("1E-3", "1e-3", "1E-3", Format::DecimalExponent),
    ("1.3E+6", "1300e3", "1300e3", Format::DecimalExponent),
    ("0.5e-2", "5e-3", "5e-3", Format::DecimalExponent),
    ("5n", "5n", "5n", Format::DecimalSI),
    ("4u", "4u", "4u", Format::DecimalSI),
    ("0.0001", "100u", "100u", Format::DecimalSI),
    ("3.001n", "4n", "4n", Format::DecimalSI),
    ("0.0000000001", "1n", "1n", Format::DecimalSI),
    ("0.00000012345", "124n", "124n", Format::DecimalSI),
    ("1.1E-9", "2e-9", "2e-9", Format::DecimalExponent),
    (
        "9Ei",
        "9223372036854775807",
        "9223372036854775807",
        Format::BinarySI,
    ),
    (
        "9223372036854775807Ki",
        "9223372036854775807",
        "9223372036854775807",
        Format::BinarySI,
    ),
    (".001Ki", "1024m", "1024m", Format::BinarySI),
    (".000000000001Ki", "2n", "2n", Format::DecimalSI),
    (".001", "1m", "1m", Format::DecimalSI),
    ("1.", "1", "1.", Format::DecimalSI),
    ("1.G", "1G", "1.G", Format::DecimalSI),
    ("01", "1", "01", Format::DecimalSI),
    ("-", "0", "0", Format::DecimalSI),
    (".", "0", "0", Format::DecimalSI),
];

#[test]
fn parses_and_prints_like_upstream() {
    for &(input, canonical, string, format) in CASES {
        let got = q(input);
        assert_eq!(got.canonical(), canonical, "canonical of {input:?}");
        assert_eq!(got.to_string(), string, "String() of {input:?}");
        assert_eq!(got.format(), format, "format of {input:?}");
        // The canonical form reads back as the same value.
        assert_eq!(q(canonical), got, "reparse of {canonical:?}");
        // And the negative prints with a leading minus.
        if !got.is_zero() && !input.starts_with(['-', '+']) {
            let neg = q(&format!("-{input}"));
            assert_eq!(neg, -got.clone(), "negative of {input:?}");
            assert_eq!(
                neg.canonical(),
                format!("-{canonical}"),
                "canonical of -{input:?}"
            );
        }
    }
}

#[test]
fn refuses_malformed_input_with_upstream_errors() {
    let format = "quantities must match the regular expression \
                  '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    assert_eq!(Quantity::parse("").unwrap_err().to_string(), format);
    for bad in [
        "",
        " ",
        " 1",
        "1 ",
        "1.1.M",
        "1+1.0M",
        "aoeu",
        "1e1.5",
        "Non-Numeric",
        "0.1am",
    ] {
        assert_eq!(Quantity::parse(bad), Err(Error::Format), "{bad:?}");
    }
    for bad in [
        "0.1mi",
        ".5i",
        "1i",
        "-3.01i",
        "-3.01e-",
        "1kk",
        "1e",
        "1e4294967297",
    ] {
        assert_eq!(Quantity::parse(bad), Err(Error::Suffix), "{bad:?}");
    }
    assert_eq!(
        Error::Suffix.to_string(),
        "unable to parse quantity's suffix"
    );
    // Beyond 37 significant digits this type refuses rather than rounds.
    assert_eq!(
        Quantity::parse("1234567890123456789012345678901234567891"),
        Err(Error::OutOfRange)
    );
}

#[test]
fn compares_by_value() {
    assert_eq!(q("1Gi"), q("1073741824"));
    assert_eq!(q("1000m"), q("1"));
    assert_eq!(q("1e3"), q("1k"));
    assert!(q("100m") > q("50m"));
    assert!(q("10000T") > q("100Gi"));
    assert!(q("-1") < q("0"));
    assert!(q("-2") < q("-1500m"));
    assert!(q("12E") > q("9Ei"));
    assert!(q("1n") > q("0"));
    let mut v = [q("1Gi"), q("1"), q("-5m"), q("1G"), q("999m")];
    v.sort();
    let printed: Vec<String> = v.iter().map(Quantity::to_string).collect();
    assert_eq!(printed, ["-5m", "999m", "1", "1G", "1Gi"]);
    // Equal values hash alike.
    let set: std::collections::HashSet<Quantity> = [q("1Ki"), q("1024"), q("1.024k")].into();
    assert_eq!(set.len(), 1);
}

#[test]
fn rounds_values_up_like_upstream() {
    for (input, value, milli) in [
        ("1", 1, 1000),
        ("100m", 1, 100),
        ("1.5", 2, 1500),
        ("-1.5", -2, -1500),
        ("0.0001", 1, 1),
        ("-9.01", -10, -9010),
        ("1Gi", 1 << 30, (1i64 << 30) * 1000),
        ("12E", i64::MAX, i64::MAX),
        ("-12E", i64::MIN, i64::MIN),
        ("0", 0, 0),
    ] {
        let got = q(input);
        assert_eq!(got.value(), value, "value of {input}");
        assert_eq!(got.milli_value(), milli, "milli value of {input}");
    }
    assert_eq!(q("1Gi").as_i64(), Some(1 << 30));
    assert_eq!(q("1500m").as_i64(), None);
}

#[test]
fn adds_and_subtracts_exactly() {
    assert_eq!((q("100m") + q("900m")).to_string(), "1");
    assert_eq!((q("1Gi") + q("512Mi")).to_string(), "1536Mi");
    assert_eq!((q("1") - q("1500m")).to_string(), "-500m");
    let total: Quantity = ["250m", "250m", "500m"].into_iter().map(q).sum();
    assert_eq!(total, q("1"));
    // Adding to zero takes the other side's format, as upstream's Add.
    let mut acc = q("0");
    acc += &q("1Gi");
    assert_eq!(acc.format(), Format::BinarySI);
    assert_eq!(acc.to_string(), "1Gi");
    // Upstream's suffix-preservation cases.
    for s in ["100m", "1Gi"] {
        assert_eq!((q(s) + q("0")).to_string(), s);
        assert_eq!((q(s) - q("0")).to_string(), s);
        assert_eq!((q("0") - q(s)).to_string(), format!("-{s}"));
    }
    assert_eq!(q("1e30").checked_add(&q("1n")), None, "needs 40 digits");
    assert_eq!(q("1").checked_sub(&q("1n")), Some(q("999999999n")));
}

#[test]
fn serde_uses_the_string_form() {
    let v: Quantity = serde_json::from_str("\"1.5Gi\"").unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), "\"1536Mi\"");
    // Numbers and padded strings are accepted, as upstream's UnmarshalJSON does.
    let n: Quantity = serde_json::from_str("2").unwrap();
    assert_eq!(n, q("2"));
    let f: Quantity = serde_json::from_str("0.5").unwrap();
    assert_eq!(f.to_string(), "500m");
    let padded: Quantity = serde_json::from_str("\" 1 \"").unwrap();
    assert_eq!(padded, q("1"));
    assert!(serde_json::from_str::<Quantity>("\"1.1.M\"").is_err());
    assert!(serde_json::from_str::<Quantity>("\"\"").is_err());
}

#[test]
fn converts_to_and_from_k8s_openapi() {
    use kube_core::k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8s;
    let k = K8s("1.5Gi".to_owned());
    let ours = Quantity::try_from(&k).unwrap();
    assert_eq!(ours, q("1536Mi"));
    assert_eq!(K8s::from(&ours), K8s("1536Mi".to_owned()));
    assert!(Quantity::try_from(K8s("x".to_owned())).is_err());
}

#[test]
fn constructors_match_upstream() {
    assert_eq!(Quantity::from_i64(5, Format::BinarySI).to_string(), "5");
    assert_eq!(
        Quantity::from_milli(500, Format::BinarySI).to_string(),
        "500m"
    );
    assert_eq!(
        Quantity::from_i64(1 << 30, Format::BinarySI).to_string(),
        "1Gi"
    );
    assert_eq!(
        Quantity::from_i64(1025, Format::BinarySI).to_string(),
        "1025"
    );
    assert_eq!(Quantity::from_scaled(1, 21).to_string(), "1e21");
    assert_eq!(Quantity::from_scaled(1, -12).to_string(), "1e-12");
    assert_eq!(Quantity::from_scaled(1, -10).to_string(), "100e-12");
    assert_eq!(Quantity::from_scaled(108, -2).to_string(), "1080m");
    assert_eq!(
        Quantity::from_i64(300, Format::DecimalExponent)
            .with_format(Format::DecimalSI)
            .to_string(),
        "300"
    );
    // 2^70 has no binary suffix: upstream prints the exact decimal.
    let big =
        Quantity::from_i64(1 << 60, Format::BinarySI) + Quantity::from_i64(0, Format::BinarySI);
    let big = (0..10).fold(big.clone(), |acc, _| &acc + &acc);
    assert_eq!(big.to_string(), "1180591620717411303424");
    assert_eq!(q(&big.to_string()), big);
}

fn quantity_text() -> impl Strategy<Value = String> {
    let suffix = prop::sample::select(vec![
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3",
        "E-3", "e-9", "e12", "e+6",
    ]);
    (
        any::<bool>(),
        "[0-9]{1,12}",
        prop::option::of("[0-9]{0,9}"),
        suffix,
    )
        .prop_map(|(neg, int, frac, suffix)| {
            let sign = if neg { "-" } else { "" };
            match frac {
                Some(frac) => format!("{sign}{int}.{frac}{suffix}"),
                None => format!("{sign}{int}{suffix}"),
            }
        })
}

proptest! {
    #[test]
    fn canonical_form_parses_back_to_the_same_value(text in quantity_text()) {
        let parsed = q(&text);
        prop_assert_eq!(q(&parsed.canonical()), parsed.clone());
        prop_assert_eq!(q(&parsed.to_string()), parsed.clone());
        // Canonical is a fixed point.
        prop_assert_eq!(q(&parsed.canonical()).canonical(), parsed.canonical());
    }

    #[test]
    fn addition_and_subtraction_invert(a in quantity_text(), b in quantity_text()) {
        let (a, b) = (q(&a), q(&b));
        // Exact arithmetic holds 37 significant digits; a sum spanning more (1n + 1e28) is
        // refused by `checked_add` and rounded by `+`, so only exact sums can invert.
        let sum = a.checked_add(&b);
        prop_assume!(sum.is_some());
        let sum = sum.unwrap_or_default();
        prop_assert_eq!(sum.checked_sub(&b), Some(a.clone()));
        prop_assert_eq!(&sum - &b, a.clone());
        prop_assert_eq!(sum.cmp(&a), b.cmp(&Quantity::default()));
    }

    #[test]
    fn sums_beyond_the_precision_are_refused_not_wrong(a in quantity_text(), b in quantity_text()) {
        let (a, b) = (q(&a), q(&b));
        if let Some(sum) = a.checked_add(&b) {
            prop_assert_eq!(sum, &a + &b);
        }
    }
}

#[test]
fn sum_spanning_more_than_the_precision_is_refused() {
    // 1n + 1e28 needs 38 significant digits.
    assert_eq!(q("1n").checked_add(&q("10000000000E")), None);
    assert_eq!(q("1").checked_add(&q("1m")), Some(q("1001m")));
}
