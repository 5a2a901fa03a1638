//! RFC 3339 timestamps (`2026-11-24T14:40:38.736Z`, as JavaScript's `toISOString` writes
//! them) to milliseconds since the Unix epoch.

use oqto_protocol::Millis;

/// Milliseconds since the epoch of an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction (digits past milliseconds are dropped), and `Z` or `±HH:MM`. `t` may
/// also be a space or lower case. `None` for anything else, or a time before 1970.
pub(crate) fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // The first three digits, padded: `.5` is 500 ms.
        millis = fraction[..len]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0, |n, d| n * 10 + u64::from(d - b'0'));
        rest = &fraction[len..];
    }
    let offset_minutes: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = i64::try_from(digits(&[*h1, *h2])?).ok()?;
            let minutes = i64::try_from(digits(&[*m1, *m2])?).ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };

    let days = days_since_epoch(year, month, day)?;
    let local_seconds = i64::try_from(((days * 24 + hour) * 60 + minute) * 60 + second).ok()?;
    let utc_seconds = u64::try_from(local_seconds - offset_minutes * 60).ok()?;
    Some(utc_seconds * 1000 + millis)
}

/// An unsigned decimal number of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

fn is_leap(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Leap years in `1..=year`.
fn leap_years_through(year: u64) -> u64 {
    year / 4 - year / 100 + year / 400
}

/// Days from 1970-01-01 to the given date; `None` before 1970.
fn days_since_epoch(year: u64, month: u64, day: u64) -> Option<u64> {
    let years = year.checked_sub(1970)?;
    let leap_days = leap_years_through(year - 1) - leap_years_through(1969);
    let month_days: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    Some(years * 365 + leap_days + month_days + day - 1)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn parses_what_pi_writes() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-24T14:40:38.736Z"),
            Some(1_795_531_238_736)
        );
        // Leap day, end of a leap year, a century that is not leap, one that is.
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00Z"),
            Some(1_709_208_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-12-31T23:59:59.999Z"),
            Some(1_735_689_599_999)
        );
        assert_eq!(
            parse_rfc3339("2100-03-01T00:00:00Z"),
            Some(4_107_542_400_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(
            parse_rfc3339("2026-11-24T14:40:38.7Z"),
            Some(1_795_531_238_700)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T14:40:38.736999Z"),
            Some(1_795_531_238_736)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T16:40:38.736+02:00"),
            Some(1_795_531_238_736)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T09:10:38.736-05:30"),
            Some(1_795_531_238_736)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24 14:40:38z"),
            Some(1_795_531_238_000)
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T14:40:38",
            "2026-11-24T14:40:38.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T14:40:38+2:00",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "２０２６-11-24T14:40:38Z",
            "2026-11-24T14:40:38.736Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
