//! Human-readable durations (`"30s"`, `"5m"`, `"1h30m"`) and sizes (`"16MiB"`, `4096`).
//!
//! Written here rather than taken from `humantime`/`bytesize`: the grammar we accept is a few
//! lines, and keeping it small and strict (integers only, binary size units only, units in
//! descending order) gives clearer errors than a general parser.

use std::time::Duration;

/// Duration units, largest first, with their length in milliseconds.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration such as `"30s"`, `"5m"`, `"1h30m"`, `"1h 30m"`, `"500ms"` or `"2d"`.
///
/// Each component is a non-negative integer followed by a unit (`d`, `h`, `m`, `s`, `ms`);
/// units appear at most once, largest first. `"0"` alone is zero. The error is a short
/// phrase for a message such as ``invalid duration `5x`: …``.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total_ms: u64 = 0;
    // Index into DURATION_UNITS of the last unit seen; the next one must come after it.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (number, tail) = rest.split_at(digits);
        let value: u64 = number.parse().map_err(|_| "number too large".to_string())?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "missing unit after `{number}` (use ms, s, m, h or d, e.g. `{number}s`)"
            ));
        }
        let Some(index) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit `{unit}` (use ms, s, m, h or d)"));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err("units must appear once each, largest first (e.g. `1h30m`)".into());
        }
        last_unit = Some(index);
        total_ms = value
            .checked_mul(DURATION_UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| "duration too large".to_string())?;
        rest = tail.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it: `1h30m`, `500ms`, `0`.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0".into();
    }
    let mut out = String::new();
    for (unit, len) in DURATION_UNITS {
        let n = ms / len;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms %= len;
        }
    }
    out
}

/// Size units with their factor.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

/// Parses a size such as `"16MiB"`, `"16 MiB"`, `"512KiB"`, `"100B"` or `"4096"` (bytes).
///
/// Only binary units are accepted; `"16MB"` is refused with a hint rather than guessed.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty size".into());
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected a number at `{s}`"));
    }
    let (number, unit) = s.split_at(digits);
    let value: u64 = number.parse().map_err(|_| "number too large".to_string())?;
    let unit = unit.trim_start();
    if unit.is_empty() {
        return Ok(value);
    }
    let Some((_, factor)) = SIZE_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(format!("unknown unit `{unit}` (use B, KiB, MiB or GiB)"));
    };
    value
        .checked_mul(*factor)
        .ok_or_else(|| "size too large".to_string())
}

/// Formats a byte count with the largest binary unit that divides it: `16MiB`, `1500B`.
pub fn format_size(bytes: u64) -> String {
    for (unit, factor) in SIZE_UNITS.iter().rev() {
        if bytes != 0 && bytes % factor == 0 {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration(" 1h 30m 5s "), Ok(secs(5405)));
        assert_eq!(parse_duration("2d"), Ok(secs(172_800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90m"), Ok(secs(5400)));
    }

    #[test]
    fn bad_durations_say_why() {
        let err = |s| parse_duration(s).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(
            err("30").contains("missing unit after `30`"),
            "{}",
            err("30")
        );
        assert!(err("5x").contains("unknown unit `x`"));
        assert!(err("5 m").contains("missing unit"));
        assert!(err("1.5h").contains("missing unit"));
        assert!(err("m").contains("expected a number"));
        assert!(err("-5s").contains("expected a number"));
        assert!(err("30m1h").contains("largest first"));
        assert!(err("1m1m").contains("largest first"));
        assert!(err("5M").contains("unknown unit `M`"));
        assert!(err("99999999999999999999s").contains("too large"));
        assert!(err("9999999999999999d").contains("too large"));
    }

    #[test]
    fn durations_round_trip_through_format() {
        for ms in [0, 1, 500, 1000, 1500, 60_000, 5_400_000, 90_061_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}");
        }
        assert_eq!(format_duration(secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("4096"), Ok(4096));
    }

    #[test]
    fn bad_sizes_say_why() {
        let err = |s| parse_size(s).unwrap_err();
        assert!(err("16MB").contains("unknown unit `MB`"));
        assert!(err("16mib").contains("unknown unit"));
        assert!(err("MiB").contains("expected a number"));
        assert!(err("").contains("empty"));
        assert!(err("1.5MiB").contains("unknown unit `.5MiB`"));
        assert!(err("99999999999GiB").contains("too large"));
    }

    #[test]
    fn sizes_format() {
        assert_eq!(format_size(16 << 20), "16MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(2048), "2KiB");
        assert_eq!(format_size(0), "0B");
        assert_eq!(parse_size(&format_size(12_345)), Ok(12_345));
    }
}
