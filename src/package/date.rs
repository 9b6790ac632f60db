//! The dates of Debian Release files (`Date`, `Valid-Until`): RFC 2822 as
//! apt writes and reads them, `Sat, 22 Jun 2024 08:12:00 UTC`. The day
//! name is optional; the zone is `UTC`, `GMT`, `Z` or `+HHMM`/`-HHMM`;
//! seconds may be missing. Anything else is refused, never guessed.

use crate::log::record::{civil_from_days, days_from_civil};

/// Seconds since the Unix epoch of an RFC 2822 date, or None.
pub fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    // An optional "Day," prefix.
    let s = match s.split_once(',') {
        Some((day, rest)) if day.len() == 3 && day.bytes().all(|b| b.is_ascii_alphabetic()) => rest,
        Some(_) => return None,
        None => s,
    };
    let mut it = s.split_ascii_whitespace();
    let day: u32 = small_number(it.next()?, 2)?;
    let month = month_number(it.next()?)?;
    let year: i64 = i64::from(small_number(it.next()?, 4)?);
    let time = it.next()?;
    let zone = it.next().unwrap_or("UTC");
    if it.next().is_some() {
        return None;
    }
    let mut hms = time.split(':');
    let h = small_number(hms.next()?, 2)?;
    let m = small_number(hms.next()?, 2)?;
    let sec = match hms.next() {
        Some(x) => small_number(x, 2)?,
        None => 0,
    };
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) || year < 1970 {
        return None;
    }
    let offset = zone_offset(zone)?;
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + i64::from(h * 3600 + m * 60 + sec) - offset)
}

/// Digits only, at most `max` of them.
fn small_number(s: &str, max: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month_number(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let l = s.to_ascii_lowercase();
    M.iter().position(|m| *m == l).map(|i| i as u32 + 1)
}

fn zone_offset(z: &str) -> Option<i64> {
    match z {
        "UTC" | "GMT" | "Z" | "UT" => return Some(0),
        _ => {}
    }
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, z.get(1..)?),
        b'-' => (-1, z.get(1..)?),
        _ => return None,
    };
    if digits.len() != 4 {
        return None;
    }
    let h = i64::from(small_number(digits.get(..2)?, 2)?);
    let m = i64::from(small_number(digits.get(2..)?, 2)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A Unix time as apt writes it: `Sat, 22 Jun 2024 08:12:00 UTC`.
pub fn format_rfc2822(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const W: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let wd = W.get(days.rem_euclid(7) as usize).unwrap_or(&"Thu");
    let mn = M.get((m - 1) as usize).unwrap_or(&"Jan");
    format!(
        "{wd}, {d:02} {mn} {y} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_dates() {
        // date -d 'Sat, 22 Jun 2024 08:12:00 UTC' +%s
        assert_eq!(
            parse_rfc2822("Sat, 22 Jun 2024 08:12:00 UTC"),
            Some(1_719_043_920)
        );
        assert_eq!(
            parse_rfc2822("22 Jun 2024 08:12:00 +0200"),
            Some(1_719_043_920 - 7200)
        );
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00 GMT"), Some(0));
        assert_eq!(
            parse_rfc2822("Tue, 29 Feb 2028 23:59:59 UTC"),
            Some(1_835_481_599)
        );
        for bad in [
            "",
            "yesterday",
            "Sat, 30 Feb 2024 08:12:00 UTC",
            "Sat, 22 Jun 2024 25:12:00 UTC",
            "Sat, 22 Jun 2024 08:12:00 CEST",
            "Saturday, 22 Jun 2024 08:12:00 UTC",
            "22 Jun 99999999999999 08:12:00 UTC",
            "22 Jun 2024 08:12:00 UTC extra",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad:?}");
        }
        for t in [0, 1_719_043_920, 1_835_481_599, 4_102_444_800] {
            assert_eq!(parse_rfc2822(&format_rfc2822(t)), Some(t));
        }
        assert_eq!(
            format_rfc2822(1_719_043_920),
            "Sat, 22 Jun 2024 08:12:00 UTC"
        );
    }
}
