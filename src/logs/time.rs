//! Timestamps as logs write them, to Unix milliseconds (UTC).
//!
//! Numeric offsets (`+02`, `-05:30`, which PostgreSQL prints for zones without an
//! abbreviation) are applied. A zone abbreviation (`CET`, `CEST`, `IST` — what PostgreSQL's
//! `%m`/`%t`, csvlog and jsonlog print for a named `log_timezone` such as `Europe/Berlin`) is
//! resolved, in this order:
//! 1. `UTC`, `GMT`, `UCT`, `Z`: zero;
//! 2. the server's `log_timezone` when the analysis was given it ([`set_thread_zone`], from
//!    `--log-timezone` / [`super::Options::timezone`]): the IANA rules of that zone (from the
//!    tz database through `jiff`) for that local time, the abbreviation deciding the repeated
//!    hour at the end of summer time;
//! 3. [`ABBREVIATIONS`], the abbreviations that mean one offset in the tz database;
//! 4. otherwise (an ambiguous `CST` or `IST` without the zone) zero, as before.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date and time of Unix milliseconds: `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
}

/// Parses `HH:MM:SS[.fff…]` at the start of `b`; returns (ms of day, bytes used).
fn time_of_day(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = num(&b[0..2])?;
    let mi = num(&b[3..5])?;
    let s = num(&b[6..8])?;
    let mut used = 8;
    let mut frac_ms = 0;
    if b.len() > 8 && b[8] == b'.' {
        let digits = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        let take = digits.min(3);
        let mut v = num(&b[9..9 + take]).unwrap_or(0);
        for _ in take..3 {
            v *= 10;
        }
        frac_ms = v;
        used = 9 + digits;
    }
    if h > 24 || mi > 59 || s > 60 {
        return None;
    }
    Some((((h * 60 + mi) * 60 + s) * 1000 + frac_ms, used))
}

/// Zone abbreviations with one meaning in the tz database (2024b), and their offsets from UTC
/// in minutes. Left out on purpose: `CST` (US Central −6, China +8, Cuba −5), `IST` (India
/// +5:30, Ireland +1, Israel +2), `PST` (US Pacific −8, Philippines +8), `AST` and `BST`
/// variants; those need the server's `log_timezone` (`--log-timezone`).
pub const ABBREVIATIONS: &[(&str, i64)] = &[
    ("WET", 0),
    ("WEST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("SAST", 120),
    ("WAT", 60),
    ("CAT", 120),
    ("EAT", 180),
    ("PKT", 300),
    ("HKT", 480),
    ("JST", 540),
    ("KST", 540),
    ("AWST", 480),
    ("ACST", 570),
    ("ACDT", 630),
    ("AEST", 600),
    ("AEDT", 660),
    ("NZST", 720),
    ("NZDT", 780),
    ("HST", -600),
    ("AKST", -540),
    ("AKDT", -480),
    ("PDT", -420),
    ("MST", -420),
    ("MDT", -360),
    ("CDT", -300),
    ("EST", -300),
    ("EDT", -240),
    ("ADT", -180),
    ("NST", -210),
    ("NDT", -150),
];

/// The server's `log_timezone`, for this thread's parsing, with the last resolution cached
/// (local hour, abbreviation → offset ms): logs run in time order, so one entry hits almost
/// always.
struct ThreadZone {
    tz: jiff::tz::TimeZone,
    last: Option<(i64, String, Option<i64>)>,
}

thread_local! {
    static ZONE: std::cell::RefCell<Option<ThreadZone>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or clears) the server's `log_timezone` used for abbreviations parsed on this thread;
/// every analysis worker calls it before parsing.
pub fn set_thread_zone(tz: Option<jiff::tz::TimeZone>) {
    ZONE.with(|z| *z.borrow_mut() = tz.map(|tz| ThreadZone { tz, last: None }));
}

/// Looks up an IANA time zone name (`Europe/Berlin`) in the tz database.
///
/// # Errors
/// A message when the name is unknown.
pub fn lookup_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|e| format!("unknown time zone `{name}`: {e}"))
}

/// The offset (ms) `tz` has at local time `local_ms` when it calls that time `abbr`; `None`
/// when `tz` uses another abbreviation then (the log line comes from another zone).
fn zone_offset(tz: &jiff::tz::TimeZone, local_ms: i64, abbr: &str) -> Option<i64> {
    use jiff::tz::AmbiguousOffset;
    let civil = jiff::Timestamp::from_millisecond(local_ms)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .datetime();
    let candidates = match tz.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { before, after } | AmbiguousOffset::Fold { before, after } => {
            vec![before, after]
        }
    };
    candidates.into_iter().find_map(|off| {
        let off_ms = i64::from(off.seconds()) * 1000;
        let ts = jiff::Timestamp::from_millisecond(local_ms - off_ms).ok()?;
        (tz.to_offset_info(ts).abbreviation() == abbr).then_some(off_ms)
    })
}

/// The offset (ms) of zone abbreviation `abbr` at local time `local_ms` (see the module docs).
fn resolve_abbreviation(local_ms: i64, abbr: &str) -> i64 {
    if matches!(abbr, "UTC" | "GMT" | "UCT" | "Z") {
        return 0;
    }
    let from_zone = ZONE.with(|z| {
        let mut z = z.borrow_mut();
        let tz = z.as_mut()?;
        let hour = local_ms.div_euclid(3_600_000);
        if let Some((h, a, off)) = &tz.last {
            if *h == hour && a == abbr {
                return *off;
            }
        }
        let off = zone_offset(&tz.tz, local_ms, abbr);
        tz.last = Some((hour, abbr.to_string(), off));
        off
    });
    from_zone.unwrap_or_else(|| {
        ABBREVIATIONS
            .iter()
            .find(|(a, _)| *a == abbr)
            .map_or(0, |(_, min)| min * 60_000)
    })
}

/// What follows the time of day.
enum Zone<'a> {
    /// A numeric offset (ms to subtract), or none.
    Offset(i64),
    /// An abbreviation, resolved with the local time.
    Abbreviation(&'a str),
}

/// A zone after the time: ` UTC`, `Z`, `+02`, `-05:30`, ` +0200`, ` CET`. Returns the zone and
/// the bytes used (0 when there is none).
fn zone(b: &[u8]) -> (Zone<'_>, usize) {
    let (skip, rest) = match b.first() {
        Some(b' ') => (1, &b[1..]),
        _ => (0, b),
    };
    match rest.first() {
        Some(b'Z') => (Zone::Offset(0), skip + 1),
        Some(&c @ (b'+' | b'-')) => {
            let digits: Vec<u8> = rest[1..]
                .iter()
                .take(5)
                .take_while(|c| c.is_ascii_digit() || **c == b':')
                .copied()
                .collect();
            let used = 1 + digits.len();
            let d: Vec<u8> = digits.into_iter().filter(u8::is_ascii_digit).collect();
            let (h, m) = match d.len() {
                2 => (num(&d).unwrap_or(0), 0),
                4 => (num(&d[0..2]).unwrap_or(0), num(&d[2..4]).unwrap_or(0)),
                _ => return (Zone::Offset(0), 0),
            };
            let off = (h * 60 + m) * 60_000;
            (
                Zone::Offset(if c == b'+' { off } else { -off }),
                skip + used,
            )
        }
        Some(c) if c.is_ascii_uppercase() => {
            let n = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let abbr = std::str::from_utf8(&rest[..n]).unwrap_or("");
            (Zone::Abbreviation(abbr), skip + n)
        }
        _ => (Zone::Offset(0), 0),
    }
}

/// Parses an ISO-like timestamp at the start of `s`: `2024-01-31 12:00:00[.123][ zone]` or
/// `2024-01-31T12:00:00.123456Z`. Returns Unix milliseconds and the bytes used.
pub fn parse_iso_prefix(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    let y = num(&b[0..4])?;
    let m = num(&b[5..7])?;
    let d = num(&b[8..10])?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (tod, used) = time_of_day(&b[11..])?;
    let (z, zused) = zone(&b[11 + used..]);
    let local = days_from_civil(y, m, d) * 86_400_000 + tod;
    let off = match z {
        Zone::Offset(o) => o,
        Zone::Abbreviation(a) => resolve_abbreviation(local, a),
    };
    let ms = local - off;
    Some((ms, 11 + used + zused))
}

/// Parses a whole ISO-like timestamp (see [`parse_iso_prefix`]).
pub fn parse_iso(s: &str) -> Option<i64> {
    parse_iso_prefix(s.trim()).map(|(ms, _)| ms)
}

/// MariaDB's and MySQL 5.6's `# Time: 240131 12:00:00` (hour may be space-padded: `240131  2:00:00`).
pub fn parse_mysql_short(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(' ')?;
    let time = time.trim_start();
    let db = date.as_bytes();
    if db.len() != 6 {
        return None;
    }
    let y = 2000 + num(&db[0..2])?;
    let m = num(&db[2..4])?;
    let d = num(&db[4..6])?;
    let padded;
    let t = if time.len() == 7 {
        padded = format!("0{time}");
        padded.as_str()
    } else {
        time
    };
    let (tod, _) = time_of_day(t.as_bytes())?;
    Some(days_from_civil(y, m, d) * 86_400_000 + tod)
}

/// Parses a user-given bound: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS]Z`
/// (UTC). Returns Unix milliseconds.
pub fn parse_bound(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() == 10 {
        return parse_iso(&format!("{s} 00:00:00"));
    }
    if s.len() == 16 {
        return parse_iso(&format!("{s}:00"));
    }
    parse_iso(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        let base = parse_iso("2024-01-31 12:00:00 UTC").unwrap();
        assert_eq!(base, 1_706_702_400_000);
        assert_eq!(parse_iso("2024-01-31 12:00:00.250 UTC"), Some(base + 250));
        assert_eq!(parse_iso("2024-01-31T12:00:00.250123Z"), Some(base + 250));
        assert_eq!(parse_iso("2024-01-31 14:00:00 +02"), Some(base));
        assert_eq!(parse_iso("2024-01-31 06:30:00-05:30"), Some(base));
        assert_eq!(parse_iso("2024-13-31 12:00:00"), None);
        assert_eq!(
            parse_iso_prefix("2024-01-31 12:00:00.250 UTC [42] LOG"),
            Some((base + 250, 27))
        );
        assert_eq!(format_ms(base), "2024-01-31 12:00:00");
    }

    #[test]
    fn zone_abbreviations_and_named_zones() {
        let base = parse_iso("2024-01-31 12:00:00 UTC").unwrap();
        set_thread_zone(None);
        assert_eq!(parse_iso("2024-01-31 13:00:00 CET"), Some(base));
        assert_eq!(
            parse_iso("2024-07-31 14:00:00 CEST"),
            parse_iso("2024-07-31 12:00:00 UTC")
        );
        assert_eq!(parse_iso("2024-01-31 07:00:00.5 EST"), Some(base + 500));
        // Ambiguous without the server's zone: taken as UTC.
        assert_eq!(
            parse_iso("2024-01-31 17:30:00 IST"),
            parse_iso("2024-01-31 17:30:00 UTC")
        );
        set_thread_zone(Some(lookup_zone("Asia/Kolkata").unwrap()));
        assert_eq!(parse_iso("2024-01-31 17:30:00 IST"), Some(base));
        // A line of another zone still resolves through the table.
        assert_eq!(parse_iso("2024-01-31 13:00:00 CET"), Some(base));
        set_thread_zone(Some(lookup_zone("America/Chicago").unwrap()));
        assert_eq!(parse_iso("2024-01-31 06:00:00 CST"), Some(base));
        // The repeated hour when summer time ends (2024-11-03 01:30 happens twice in Chicago).
        let first = parse_iso("2024-11-03 01:30:00 CDT").unwrap();
        let second = parse_iso("2024-11-03 01:30:00 CST").unwrap();
        assert_eq!(second - first, 3_600_000);
        assert_eq!(Some(first), parse_iso("2024-11-03 06:30:00 UTC"));
        set_thread_zone(None);
        assert!(lookup_zone("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn mysql_short_and_bounds() {
        let base = parse_iso("2024-01-31 02:00:05 UTC").unwrap();
        assert_eq!(parse_mysql_short("240131  2:00:05"), Some(base));
        assert_eq!(parse_mysql_short("240131 02:00:05"), Some(base));
        assert_eq!(parse_bound("2024-01-31 02:00"), Some(base - 5000));
        assert_eq!(parse_bound("2024-01-31"), parse_iso("2024-01-31 00:00:00"));
    }
}
