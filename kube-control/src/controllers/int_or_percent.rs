//! Upstream's `GetScaledValueFromIntOrPercent`: an `IntOrString` that is a count or a
//! percentage of a total (`maxUnavailable`, `maxSurge`, `minAvailable`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Errors of reading an int-or-percent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A string that is not `<integer>%`.
    #[error("invalid value {0:?}: must be an integer or a percentage (\"25%\")")]
    NotAPercentage(String),
}

/// `value` as a count out of `total`: itself when an integer, else that percentage of `total`
/// rounded up (`round_up`) or down.
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, Error> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| Error::NotAPercentage(s.clone()))?;
            let product = percent * i64::from(total);
            let v = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            Ok(i32::try_from(v).unwrap_or(i32::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_asked() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled(&p, 10, true), Ok(3));
        assert_eq!(scaled(&p, 10, false), Ok(2));
        assert_eq!(scaled(&IntOrString::Int(4), 10, true), Ok(4));
        assert!(scaled(&IntOrString::String("x".into()), 10, true).is_err());
    }
}
