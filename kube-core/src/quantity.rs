//! Resource quantities (`100m`, `1.5Gi`, `12e6`), as upstream's `resource.Quantity`.
//!
//! A [`Quantity`] is an exact decimal: a mantissa of at most 37 significant digits times a power
//! of ten, never a float. Parsing follows upstream's `ParseQuantity`: values are rounded up (away
//! from zero) to the nearest nano, `BinarySI` values are capped at 2^63-1, and the suffix decides
//! the [`Format`] the value is printed back in. Equality and ordering compare values only
//! (`1Gi == 1073741824`, `1000m == 1`).
//!
//! Printing follows upstream too: [`Quantity::canonical`] is `CanonicalizeBytes` (`1.5Gi` ->
//! `1536Mi`, `0.1` -> `100m`), and [`Display`](std::fmt::Display) (also used by serde) is
//! `String()`, which hands back the parsed text unchanged when upstream's parser judged it already
//! canonical (so `1E3` stays `1E3`, as upstream serves it).
//!
//! Where upstream falls back to arbitrary precision (more than 37 significant digits), parsing
//! returns [`Error::OutOfRange`] and arithmetic rounds away from zero instead.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

/// The regular expression upstream's error message quotes.
const SPLIT_RE: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Errors from parsing a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not shaped like a quantity (upstream's `ErrFormatWrong`).
    #[error("quantities must match the regular expression '{SPLIT_RE}'")]
    Format,
    /// The numeric part could not be read (upstream's `ErrNumeric`).
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not one of the known suffixes (upstream's `ErrSuffix`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The value needs more than 37 significant digits, which this type does not hold exactly.
    #[error("quantity has too many significant digits to be held exactly")]
    OutOfRange,
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a quantity is printed; remembered from the suffix it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Format {
    /// Powers of ten as an exponent: `12e6`.
    DecimalExponent,
    /// Powers of two: `12Mi` (12 * 2^20).
    BinarySI,
    /// Powers of ten as SI suffixes: `12M` (12 * 10^6).
    #[default]
    DecimalSI,
}

impl Format {
    /// Upstream's name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        }
    }
}

/// Significant digits a mantissa may hold.
const MAX_DIGITS: u32 = 37;
/// 2^63-1: the cap for `BinarySI` values, as upstream's `maxAllowed`.
const MAX_ALLOWED: u128 = i64::MAX as u128;

/// An exact resource amount with its print format. See the [module docs](self).
#[derive(Clone, Default)]
pub struct Quantity {
    /// Signed mantissa without trailing decimal zeros; `|mantissa| < 10^37`.
    mantissa: i128,
    /// Power of ten; zero when the mantissa is zero.
    exponent: i64,
    format: Format,
    /// The parsed text when upstream's parser would have kept it as the `String()` form.
    text: Option<Box<str>>,
}

impl Quantity {
    /// Parses a quantity the way upstream's `ParseQuantity` does; surrounding whitespace is refused.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(Error::Format);
        }
        if s == "0" {
            return Ok(Self {
                text: Some(s.into()),
                ..Self::default()
            });
        }
        let sc = scan(s)?;
        let (base2, exp, mut format) = interpret(sc.suffix).ok_or(Error::Suffix)?;
        let keep_text = keeps_text(&sc, base2, exp);
        let (mag, e) = if base2 {
            let (mag, e, fractional) = binary_value(sc.num, sc.denom, exp)?;
            if fractional && mag != 0 {
                // Between 0 and 1: print as DecimalSI, as upstream does.
                format = Format::DecimalSI;
            }
            (mag, e)
        } else {
            decimal_value(sc.num, sc.denom, i64::from(exp) - len_i64(sc.denom))?
        };
        let mut mantissa = i128::try_from(mag).map_err(|_| Error::OutOfRange)?;
        if sc.negative {
            mantissa = -mantissa;
        }
        let (mantissa, exponent) = normalize(mantissa, e);
        Ok(Self {
            mantissa,
            exponent,
            format,
            text: keep_text.then(|| s.into()),
        })
    }

    /// `value` in the given format (upstream's `NewQuantity`).
    pub fn from_i64(value: i64, format: Format) -> Self {
        Self::from_parts(i128::from(value), 0, format)
    }

    /// `value / 1000` in the given format (upstream's `NewMilliQuantity`).
    pub fn from_milli(value: i64, format: Format) -> Self {
        Self::from_parts(i128::from(value), -3, format)
    }

    /// `value * 10^scale` in `DecimalSI` (upstream's `NewScaledQuantity`).
    pub fn from_scaled(value: i64, scale: i32) -> Self {
        Self::from_parts(i128::from(value), i64::from(scale), Format::DecimalSI)
    }

    fn from_parts(mantissa: i128, exponent: i64, format: Format) -> Self {
        let (mantissa, exponent) = normalize(mantissa, exponent);
        Self {
            mantissa,
            exponent,
            format,
            text: None,
        }
    }

    /// The print format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The same value printed in another format.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self.text = None;
        self
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// -1, 0 or 1 as the value is negative, zero or positive.
    pub fn signum(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// The value rounded up (away from zero) to a whole number, saturating at the `i64` bounds
    /// (upstream's `Value()`).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// `ceil(value * 1000)` away from zero, saturating at the `i64` bounds (upstream's
    /// `MilliValue()`).
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value in units of `10^scale`, rounded away from zero and saturating at the `i64`
    /// bounds (upstream's `ScaledValue`).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        if self.mantissa == 0 {
            return 0;
        }
        let mag = self.mantissa.unsigned_abs();
        let shift = self.exponent - i64::from(scale);
        let scaled = if shift >= 0 {
            u32::try_from(shift)
                .ok()
                .and_then(pow10)
                .and_then(|p| mag.checked_mul(p))
        } else {
            Some(div_away(mag, shift.unsigned_abs()).0)
        };
        match (
            scaled.and_then(|v| i64::try_from(v).ok()),
            self.mantissa < 0,
        ) {
            (Some(v), false) => v,
            (Some(v), true) => -v,
            (None, false) => i64::MAX,
            (None, true) => i64::MIN,
        }
    }

    /// The value as an `i64` when it is a whole number that fits (upstream's `AsInt64`).
    pub fn as_i64(&self) -> Option<i64> {
        if self.exponent < 0 {
            return None;
        }
        let p = pow10(u32::try_from(self.exponent).ok()?)?;
        i64::try_from(self.mantissa.checked_mul(i128::try_from(p).ok()?)?).ok()
    }

    /// `self + other` when it can be held exactly. When `self` is zero the result takes the
    /// format of `other`, as upstream's `Add`.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let (m, e, exact) = add_parts(
            (self.mantissa, self.exponent),
            (other.mantissa, other.exponent),
        );
        exact.then(|| self.arith_result(other, m, e))
    }

    /// `self - other` when it can be held exactly.
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        self.checked_add(&-other.clone())
    }

    fn arith_result(&self, other: &Quantity, mantissa: i128, exponent: i64) -> Quantity {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Quantity {
            mantissa,
            exponent,
            format,
            text: None,
        }
    }

    /// Upstream's `CanonicalizeBytes`: the largest suffix that keeps the number whole, in this
    /// quantity's format (`BinarySI` falls back to `DecimalSI` below 1024 or for fractions).
    pub fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".to_owned();
        }
        let mut out = String::new();
        if self.mantissa < 0 {
            out.push('-');
        }
        let mag = self.mantissa.unsigned_abs();
        let format = match self.format {
            Format::BinarySI if self.exponent < 0 || self.cmp_mag_u128(1024) == Ordering::Less => {
                Format::DecimalSI
            }
            Format::BinarySI => {
                if let Some((number, power)) = base1024(mag, self.exponent) {
                    out.push_str(&number.to_string());
                    out.push_str(BINARY_SUFFIXES[power]);
                    return out;
                }
                // No binary suffix fits: upstream prints the exact decimal.
                Format::DecimalExponent
            }
            f => f,
        };
        // Move the exponent down to a multiple of three.
        let pad = self.exponent.rem_euclid(3);
        let exp = self.exponent - pad;
        out.push_str(&mag.to_string());
        for _ in 0..pad {
            out.push('0');
        }
        match (format, decimal_suffix(exp)) {
            (Format::DecimalSI, Some(suffix)) => out.push_str(suffix),
            _ if exp == 0 => {}
            _ => {
                out.push('e');
                out.push_str(&exp.to_string());
            }
        }
        out
    }

    /// Compares `|self|` with a whole number.
    fn cmp_mag_u128(&self, n: u128) -> Ordering {
        let (m, e) = normalize(n as i128, 0);
        cmp_mag(
            self.mantissa.unsigned_abs(),
            self.exponent,
            m.unsigned_abs(),
            e,
        )
    }
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The SI suffix for a power of ten, when there is one.
fn decimal_suffix(exp: i64) -> Option<&'static str> {
    Some(match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// A whole `mag * 10^exp` as `number * 1024^power` with `power` as large as possible, when it
/// fits in `u128` and `power` has a suffix.
fn base1024(mag: u128, exp: i64) -> Option<(u128, usize)> {
    let mut v = mag.checked_mul(pow10(u32::try_from(exp).ok()?)?)?;
    let mut power = 0;
    while v.is_multiple_of(1024) {
        v /= 1024;
        power += 1;
    }
    (power < BINARY_SUFFIXES.len()).then_some((v, power))
}

fn len_i64(s: &str) -> i64 {
    i64::try_from(s.len()).unwrap_or(i64::MAX)
}

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

fn digits(m: u128) -> u32 {
    m.checked_ilog10().map_or(0, |d| d + 1)
}

/// `m / 10^n` rounded away from zero, and whether it was exact.
fn div_away(m: u128, n: u64) -> (u128, bool) {
    match u32::try_from(n).ok().and_then(pow10) {
        Some(p) => {
            let (q, r) = (m / p, m % p);
            (q + u128::from(r != 0), r == 0)
        }
        None => (u128::from(m != 0), m == 0),
    }
}

/// Strips trailing zeros and keeps the mantissa under 37 digits (rounding away from zero).
fn normalize(mut m: i128, mut e: i64) -> (i128, i64) {
    normalize_exact(&mut m, &mut e);
    (m, e)
}

/// As [`normalize`]; returns whether no digit was lost.
fn normalize_exact(m: &mut i128, e: &mut i64) -> bool {
    if *m == 0 {
        *e = 0;
        return true;
    }
    let mut exact = true;
    let limit = pow10(MAX_DIGITS).unwrap_or(u128::MAX);
    loop {
        let mag = m.unsigned_abs();
        if mag >= limit {
            let (q, ok) = div_away(mag, 1);
            exact &= ok;
            *m = m.signum() * q as i128;
        } else if mag.is_multiple_of(10) {
            *m /= 10;
        } else {
            return exact;
        }
        *e += 1;
    }
}

fn cmp_mag(ma: u128, ea: i64, mb: u128, eb: i64) -> Ordering {
    match (ma == 0, mb == 0) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (oa, ob) = (i64::from(digits(ma)) + ea, i64::from(digits(mb)) + eb);
    if oa != ob {
        return oa.cmp(&ob);
    }
    // Same order of magnitude: the exponents differ by less than 37, so aligning fits.
    let align = |m: u128, d: i64| {
        u32::try_from(d)
            .ok()
            .and_then(pow10)
            .and_then(|p| m.checked_mul(p))
    };
    if ea >= eb {
        align(ma, ea - eb).map_or(Ordering::Greater, |a| a.cmp(&mb))
    } else {
        align(mb, eb - ea).map_or(Ordering::Less, |b| ma.cmp(&b))
    }
}

/// Adds two normalized values; rounds away from zero when the exact sum needs more than 37
/// digits, and says whether it was exact.
fn add_parts(a: (i128, i64), b: (i128, i64)) -> (i128, i64, bool) {
    if a.0 == 0 {
        return (b.0, b.1, true);
    }
    if b.0 == 0 {
        return (a.0, a.1, true);
    }
    let (hi, lo) = if a.1 >= b.1 { (a, b) } else { (b, a) };
    let shift = hi.1.abs_diff(lo.1);
    let room = u64::from(MAX_DIGITS.saturating_sub(digits(hi.0.unsigned_abs())));
    let k = shift.min(room);
    let hi_m = hi.0 * pow10(k as u32).unwrap_or(1) as i128;
    let (lo_mag, mut exact) = div_away(lo.0.unsigned_abs(), shift - k);
    let lo_m = lo.0.signum() * lo_mag as i128;
    let mut m = hi_m + lo_m;
    let mut e = hi.1 - k as i64;
    exact &= normalize_exact(&mut m, &mut e);
    (m, e, exact)
}

struct Scanned<'a> {
    negative: bool,
    /// Integer digits without leading zeros; `"0"` when there are none.
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Upstream's `parseQuantityString`: sign, digits, fraction, suffix.
fn scan(s: &str) -> Result<Scanned<'_>> {
    let b = s.as_bytes();
    let end = b.len();
    let mut sc = Scanned {
        negative: false,
        num: "0",
        denom: "",
        suffix: "",
    };
    let mut pos = 0;
    match b.first() {
        Some(b'-') => {
            sc.negative = true;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(sc);
    }
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos > start {
        sc.num = &s[start..pos];
    }
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        sc.denom = &s[start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(Error::Format);
    }
    sc.suffix = &s[suffix_start..];
    Ok(sc)
}

/// A suffix as (is base two, exponent, format); upstream's suffixer.
fn interpret(suffix: &str) -> Option<(bool, i32, Format)> {
    let dec = |e| Some((false, e, Format::DecimalSI));
    let bin = |e| Some((true, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let exp = rest.parse::<i64>().ok()?;
            // Upstream refuses exponents beyond +/- MaxInt32 rather than truncating them.
            let exp = i32::try_from(exp).ok().filter(|e| *e != i32::MIN)?;
            Some((false, exp, Format::DecimalExponent))
        }
    }
}

/// Whether upstream's fast path would keep the input as its `String()` form.
fn keeps_text(sc: &Scanned<'_>, base2: bool, exp: i32) -> bool {
    if base2 {
        // Only whole numbers short enough for int64 take the fast path.
        let precision = 15 - len_i64(sc.num) - i64::from(exp) * 3 / 10 - 1;
        if !sc.denom.is_empty() || precision < 0 {
            return false;
        }
        return sc.num.parse::<u64>().is_ok_and(|v| v & 0x07 != 0);
    }
    // Upstream checks the digits `num + denom` ("shifted"), num being "0" when empty.
    let ndigits = sc.num.len() + sc.denom.len();
    let scale = i64::from(exp) - len_i64(sc.denom);
    let ends_000 = ndigits >= 3
        && sc
            .num
            .bytes()
            .chain(sc.denom.bytes())
            .rev()
            .take(3)
            .all(|c| c == b'0');
    ndigits <= 18 && scale >= -9 && scale % 3 == 0 && !ends_000 && sc.num != "0"
}

/// Digits of `num` then `denom`, each with its power of ten (`last_exp` for the last one).
fn each_digit<'a>(
    num: &'a str,
    denom: &'a str,
    last_exp: i64,
) -> impl Iterator<Item = (u8, i64)> + 'a {
    let total = len_i64(num).saturating_add(len_i64(denom));
    num.bytes()
        .chain(denom.bytes())
        .zip(0i64..)
        .map(move |(c, i)| (c - b'0', last_exp.saturating_add(total - 1 - i)))
}

/// Accumulates digits (most significant first) into a mantissa and exponent.
#[derive(Default)]
struct Digits {
    mag: u128,
    exp: i64,
    /// Zeros seen after the last non-zero digit.
    zeros: u32,
    sig: u32,
}

impl Digits {
    fn push(&mut self, d: u8, exp: i64) -> Result<()> {
        if d == 0 {
            if self.mag != 0 {
                self.zeros += 1;
            }
            return Ok(());
        }
        self.sig += self.zeros + 1;
        if self.sig > MAX_DIGITS {
            return Err(Error::OutOfRange);
        }
        let p = pow10(self.zeros + 1).ok_or(Error::OutOfRange)?;
        self.mag = self.mag * p + u128::from(d);
        self.zeros = 0;
        self.exp = exp;
        Ok(())
    }
}

/// A base-ten value rounded up to a nano: `(magnitude, exponent)`.
fn decimal_value(num: &str, denom: &str, last_exp: i64) -> Result<(u128, i64)> {
    let mut acc = Digits::default();
    let mut dropped = false;
    for (d, exp) in each_digit(num, denom, last_exp) {
        if exp < -9 {
            dropped |= d != 0;
        } else {
            acc.push(d, exp)?;
        }
    }
    if !dropped {
        return Ok((acc.mag, acc.exp));
    }
    // Round up to the next nano, as upstream does for anything finer.
    let (m, e, exact) = add_parts((acc.mag as i128, acc.exp), (1, -9));
    if !exact {
        return Err(Error::OutOfRange);
    }
    Ok((m.unsigned_abs(), e))
}

/// A base-two value: `(magnitude, exponent, is between 0 and 1)`, rounded up to a nano and capped
/// at 2^63-1.
fn binary_value(num: &str, denom: &str, exp2: i32) -> Result<(u128, i64, bool)> {
    let mut acc = Digits::default();
    for (d, exp) in each_digit(num, denom, -len_i64(denom)) {
        acc.push(d, exp)?;
    }
    if acc.mag == 0 {
        return Ok((0, 0, false));
    }
    let two = 1u128 << exp2;
    let capped = Ok((MAX_ALLOWED, 0, false));
    // The decimal part is at least 10^(order-1): past the cap already?
    let order = i64::from(digits(acc.mag)) + acc.exp;
    if let Ok(o) = u32::try_from(order - 1) {
        match pow10(o) {
            Some(p) if p.saturating_mul(two) <= MAX_ALLOWED => {}
            _ => return capped,
        }
    }
    // Below the cap, so the value in nanos fits comfortably.
    let shift = acc.exp + 9;
    let nanos = if shift >= 0 {
        u32::try_from(shift)
            .ok()
            .and_then(pow10)
            .and_then(|p| acc.mag.checked_mul(two)?.checked_mul(p))
            .ok_or(Error::OutOfRange)?
    } else {
        match u32::try_from(shift.unsigned_abs()).ok().and_then(pow10) {
            // Far below a nano: round up to one.
            None => 1,
            Some(p) => {
                // mag * 2^exp2 / p, rounded up, without overflowing the product.
                let (whole, mut rem) = (acc.mag / p, acc.mag % p);
                let mut frac = 0u128;
                for _ in 0..exp2 {
                    rem *= 2;
                    frac *= 2;
                    if rem >= p {
                        frac += 1;
                        rem -= p;
                    }
                }
                whole
                    .checked_mul(two)
                    .and_then(|w| w.checked_add(frac + u128::from(rem != 0)))
                    .ok_or(Error::OutOfRange)?
            }
        }
    };
    if nanos > MAX_ALLOWED * 1_000_000_000 {
        return capped;
    }
    Ok((nanos, -9, nanos < 1_000_000_000))
}

impl fmt::Display for Quantity {
    /// Upstream's `String()`: the parsed text when it was already canonical, else
    /// [`Quantity::canonical`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => f.write_str(text),
            None => f.write_str(&self.canonical()),
        }
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self}, {})", self.format.as_str())
    }
}

impl FromStr for Quantity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        // Normalized, so equal values have equal parts.
        self.mantissa == other.mantissa && self.exponent == other.exponent
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.mantissa.hash(state);
        self.exponent.hash(state);
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let (sa, sb) = (self.mantissa.signum(), other.mantissa.signum());
        if sa != sb {
            return sa.cmp(&sb);
        }
        let mag = cmp_mag(
            self.mantissa.unsigned_abs(),
            self.exponent,
            other.mantissa.unsigned_abs(),
            other.exponent,
        );
        if sa < 0 { mag.reverse() } else { mag }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    fn neg(mut self) -> Quantity {
        self.mantissa = -self.mantissa;
        self.text = None;
        self
    }
}

impl Add for &Quantity {
    type Output = Quantity;

    /// Exact unless the sum needs more than 37 digits; then rounded away from zero.
    fn add(self, other: &Quantity) -> Quantity {
        let (m, e, _) = add_parts(
            (self.mantissa, self.exponent),
            (other.mantissa, other.exponent),
        );
        self.arith_result(other, m, e)
    }
}

impl Add for Quantity {
    type Output = Quantity;

    fn add(self, other: Quantity) -> Quantity {
        &self + &other
    }
}

impl AddAssign<&Quantity> for Quantity {
    fn add_assign(&mut self, other: &Quantity) {
        *self = &*self + other;
    }
}

impl Sub for &Quantity {
    type Output = Quantity;

    /// Exact unless the difference needs more than 37 digits; then rounded away from zero.
    fn sub(self, other: &Quantity) -> Quantity {
        let (m, e, _) = add_parts(
            (self.mantissa, self.exponent),
            (-other.mantissa, other.exponent),
        );
        self.arith_result(other, m, e)
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    fn sub(self, other: Quantity) -> Quantity {
        &self - &other
    }
}

impl SubAssign<&Quantity> for Quantity {
    fn sub_assign(&mut self, other: &Quantity) {
        *self = &*self - other;
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::default(), |acc, q| acc + q)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    /// A string (surrounding whitespace trimmed, as upstream's `UnmarshalJSON`) or a JSON number.
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"100m\" or \"1Gi\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Quantity, E> {
                Quantity::parse(v.trim()).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl From<&Quantity> for K8sQuantity {
    fn from(q: &Quantity) -> Self {
        K8sQuantity(q.to_string())
    }
}

impl From<Quantity> for K8sQuantity {
    fn from(q: Quantity) -> Self {
        K8sQuantity::from(&q)
    }
}

impl TryFrom<&K8sQuantity> for Quantity {
    type Error = Error;

    /// Parses the string, trimming surrounding whitespace as upstream's JSON decoding does.
    fn try_from(q: &K8sQuantity) -> Result<Self> {
        Quantity::parse(q.0.trim())
    }
}

impl TryFrom<K8sQuantity> for Quantity {
    type Error = Error;

    fn try_from(q: K8sQuantity) -> Result<Self> {
        Quantity::try_from(&q)
    }
}
