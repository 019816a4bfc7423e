//! Durations for humans, as upstream's `duration.HumanDuration`.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// A short duration with two or three significant figures: `5s`, `3m2s`, `10m`, `5h10m`,
/// `20h`, `2d3h`, `45d`, `3y120d`, `10y`. Durations below -1s are `<invalid>` (clock skew up
/// to that is printed as `0s`).
pub fn human_duration(d: SignedDuration) -> String {
    // Whole seconds, truncated toward zero as upstream's int conversions.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// The time elapsed from `timestamp` to `now` as [`human_duration`], `<unknown>` when the
/// timestamp is missing (upstream's `translateTimestampSince`).
pub fn translate_timestamp(timestamp: Option<Timestamp>, now: Timestamp) -> String {
    match timestamp {
        None => "<unknown>".to_owned(),
        Some(t) => human_duration(now.duration_since(t)),
    }
}
