//! CronJob schedules: the standard five cron fields (minute, hour, day of month, month, day of
//! week) with lists, ranges, steps and names, the `@yearly` ... `@hourly` shorthands, and a
//! time zone (`TZ=` / `CRON_TZ=` prefix or the CronJob's `timeZone`).
//!
//! The semantics are those of the cron library upstream uses: a day matches when both day
//! fields match if either is `*`, else when one of them does; `N/step` means `N-max/step`.
//! A small parser rather than a crate: the well-kept cron crates either take six or seven
//! fields (with seconds, not the five CronJobs use) or bring chrono beside the `jiff` that
//! the API types already use; this one is a page on `jiff`, with its time zone database.

use k8s_openapi::jiff::civil::{Date, DateTime, Time};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Errors of parsing a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The schedule is not five fields or a known `@` shorthand.
    #[error(
        "unparseable schedule {0:?}: expected five fields (minute hour day-of-month month day-of-week) or @yearly, @monthly, @weekly, @daily, @hourly"
    )]
    Shape(String),
    /// A field has a value out of range or that is no number or name.
    #[error("unparseable schedule field {field:?}: {why}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// The time zone is not in the time zone database.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether either day field was `*`: then both must match, else either.
    day_star: bool,
    tz: TimeZone,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Parses one field into a bit set of the values it matches; also whether it was a star.
fn field(expr: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), Error> {
    let err = |why: String| Error::Field {
        field: expr.to_owned(),
        why,
    };
    let value = |s: &str| -> Result<u32, Error> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + u32::try_from(i).unwrap_or(0));
        }
        let v: u32 = s.parse().map_err(|_| err(format!("{s:?} is no number")))?;
        if v < min || v > max {
            return Err(err(format!("{v} is outside {min}-{max}")));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    let mut star = false;
    for item in expr.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let s: u32 = s
                    .parse()
                    .map_err(|_| err(format!("step {s:?} is no number")))?;
                if s == 0 {
                    return Err(err("a step of 0".into()));
                }
                (r, Some(s))
            }
            None => (item, None),
        };
        let (start, end) = if range == "*" || range == "?" {
            star |= step.is_none_or(|s| s == 1);
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step.is_some() { max } else { v })
        };
        if start > end {
            return Err(err(format!("range {start}-{end} is backwards")));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl Schedule {
    /// Parses `spec` in `time_zone` (the CronJob's `spec.timeZone`; without one, and without
    /// a `TZ=` prefix, the process's local time zone, as upstream).
    pub fn parse(spec: &str, time_zone: Option<&str>) -> Result<Self, Error> {
        let mut spec = spec.trim();
        let mut zone = time_zone.map(str::to_owned);
        for prefix in ["TZ=", "CRON_TZ="] {
            if let Some(rest) = spec.strip_prefix(prefix) {
                let (tz, rest) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| Error::Shape(spec.to_owned()))?;
                zone = Some(tz.to_owned());
                spec = rest.trim();
            }
        }
        let tz = match zone.as_deref() {
            Some("UTC" | "Etc/UTC") => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| Error::TimeZone(name.to_owned()))?,
            None => TimeZone::try_system().unwrap_or(TimeZone::UTC),
        };
        let spec = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(Error::Shape(spec.to_owned()));
        };
        let (minutes, _) = field(m, 0, 59, &[])?;
        let (hours, _) = field(h, 0, 23, &[])?;
        let (days, dom_star) = field(dom, 1, 31, &[])?;
        let (months, _) = field(mon, 1, 12, &MONTHS)?;
        let (mut weekdays, dow_star) = field(dow, 0, 7, &WEEKDAYS)?;
        // 7 is Sunday too.
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            day_star: dom_star || dow_star,
            tz,
        })
    }

    /// The schedule's time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.day_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled time strictly after `after` (none within five years).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = after.to_zoned(self.tz.clone()).datetime();
        let mut t = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(SignedDuration::from_mins(1))
            .ok()?;
        let limit = local.year() + 5;
        while t.year() <= limit {
            let month = u32::try_from(t.month()).unwrap_or(0);
            if self.months & (1 << month) == 0 {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = DateTime::from_parts(Date::new(y, m, 1).ok()?, Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = DateTime::from_parts(t.date().tomorrow().ok()?, Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(SignedDuration::from_hours(1))
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                continue;
            }
            let at = self.tz.to_timestamp(t).ok()?;
            if at > after {
                return Some(at);
            }
            t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec, Some("UTC"))
            .unwrap()
            .next_after(ts(after))
            .unwrap()
            .to_string()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:07:00Z"),
            "2024-01-01T00:15:00Z"
        );
        assert_eq!(
            next("5 * * * *", "2024-01-01T00:05:00Z"),
            "2024-01-01T01:05:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2024-01-01T10:00:00Z"),
            "2024-01-01T13:00:00Z"
        );
        assert_eq!(
            next("0 0 * feb mon", "2024-01-01T00:00:00Z"),
            "2024-02-05T00:00:00Z"
        );
        assert_eq!(
            next("30 2 1,15 * *", "2024-01-02T00:00:00Z"),
            "2024-01-15T02:30:00Z"
        );
        assert_eq!(
            next("@hourly", "2024-01-01T00:00:30Z"),
            "2024-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2024-03-01T00:00:00Z"),
            "2025-01-01T00:00:00Z"
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "2024-09-01T00:00:00Z"),
            "2024-09-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-09-10T00:00:00Z"),
            "2024-09-13T00:00:00Z"
        );
    }

    #[test]
    fn time_zones_from_the_field_or_a_prefix() {
        let s = Schedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(ts("2024-01-01T00:00:00Z"))
                .unwrap()
                .to_string(),
            "2024-01-01T08:00:00Z"
        );
        let s = Schedule::parse("TZ=America/New_York 0 9 * * *", None).unwrap();
        assert_eq!(
            s.next_after(ts("2024-07-01T00:00:00Z"))
                .unwrap()
                .to_string(),
            "2024-07-01T13:00:00Z"
        );
        assert!(matches!(
            Schedule::parse("0 9 * * *", Some("Mars/Olympus")),
            Err(Error::TimeZone(_))
        ));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(matches!(
            Schedule::parse("* * *", None),
            Err(Error::Shape(_))
        ));
        assert!(Schedule::parse("61 * * * *", None).is_err());
        assert!(Schedule::parse("*/0 * * * *", None).is_err());
        assert!(Schedule::parse("5-1 * * * *", None).is_err());
    }
}
