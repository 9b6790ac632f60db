//! Time, once for the crate: "now", civil dates (Howard Hinnant's
//! algorithms, no time zone database), the fixed-width RFC 3339 times of
//! log records, the RFC 2822 dates of Debian Release files, and the dates
//! given on command lines.

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`: fixed width, so times order as strings.
pub fn format_rfc3339_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        micros % 1_000_000
    )
}

/// The inverse of [`format_rfc3339_micros`]; `None` for anything else.
pub fn parse_rfc3339_micros(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 27 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = b.get(r)?;
        s.iter().try_fold(0u64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let (y2, m2, d2) = civil_from_days(days);
    if (y2, m2, d2) != (y as i64, mo as u32, d as u32) || days < 0 {
        return None;
    }
    Some(((days as u64 * 86_400) + h * 3600 + mi * 60 + s) * 1_000_000 + us)
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// [`now_secs`] as a signed count, for comparing with parsed dates.
pub fn now_unix() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

// The dates of Debian Release files (`Date`, `Valid-Until`): RFC 2822 as
// apt writes and reads them, `Sat, 22 Jun 2024 08:12:00 UTC`. The day
// name is optional; the zone is `UTC`, `GMT`, `Z` or `+HHMM`/`-HHMM`;
// seconds may be missing. Anything else is refused, never guessed.

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

/// A date on the command line: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_date(s: &str) -> Result<std::time::SystemTime, String> {
    let t = s.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .map_err(|e| format!("{s:?} is not a date (YYYY-MM-DD or RFC 3339): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_and_matches_rfc3339() {
        for us in [
            0u64,
            1,
            951_782_400_123_456,
            1_764_059_758_000_001,
            4_102_444_799_999_999,
        ] {
            let t = format_rfc3339_micros(us);
            assert_eq!(parse_rfc3339_micros(&t), Some(us), "{t}");
            let sys = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us);
            assert_eq!(t, humantime::format_rfc3339_micros(sys).to_string());
        }
        for bad in [
            "2026-02-30T00:00:00.000000Z",
            "2026-11-25T24:00:00.000000Z",
            "2026-11-25 08:00:00.000000Z",
            "2026-11-25T08:00:00.00000Z",
            "+026-11-25T08:00:00.000000Z",
        ] {
            assert_eq!(parse_rfc3339_micros(bad), None, "{bad}");
        }
    }

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

    #[test]
    fn command_line_dates() {
        let cutoff = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_577_836_800);
        assert_eq!(parse_date("2020-01-01"), Ok(cutoff));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Ok(cutoff));
        assert!(parse_date("2020-13-01").is_err());
        assert!(parse_date("yesterday").is_err());
    }
}
