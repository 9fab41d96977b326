//! Guessing a log's format from its first lines.

use super::Format;

/// The format the first bytes of a log look like. PostgreSQL stderr is the fallback (its lines
/// that do not fit are then counted as not understood).
pub fn format(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
    let mut slow = 0;
    let mut general = 0;
    let mut json = 0;
    let mut csv = 0;
    let mut stderr = 0;
    for line in text.lines().take(400) {
        if line.starts_with('{') && line.contains("\"error_severity\"") {
            json += 1;
        } else if line.starts_with("# Query_time:") || line.starts_with("# User@Host:") {
            slow += 1;
        } else if super::csvlog::is_record_start(line.as_bytes())
            && [",LOG,", ",ERROR,", ",FATAL,", ",WARNING,", ",PANIC,"]
                .iter()
                .any(|s| line.contains(s))
            && line.matches(',').count() >= 20
        {
            csv += 1;
        } else if super::pg_prefix::split_severity(line).is_some() {
            stderr += 1;
        } else if [
            " Query\t",
            " Connect\t",
            " Quit",
            " Execute\t",
            " Prepare\t",
        ]
        .iter()
        .any(|c| line.contains(c))
            && line.contains('\t')
        {
            general += 1;
        }
    }
    let counts = [
        (slow, Format::MysqlSlow),
        (json, Format::Jsonlog),
        (csv, Format::Csvlog),
        (general, Format::MysqlGeneral),
        (stderr, Format::PgStderr),
    ];
    counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map_or(Format::PgStderr, |(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised() {
        assert_eq!(
            format(b"2024-01-31 12:00:00.000 UTC [1] LOG:  duration: 1 ms  statement: x\n"),
            Format::PgStderr
        );
        assert_eq!(
            format(b"# Time: 240131 12:00:00\n# User@Host: a[a] @ localhost []\n# Query_time: 1\n"),
            Format::MysqlSlow
        );
        assert_eq!(
            format(b"{\"timestamp\":\"2024-01-31 12:00:00 UTC\",\"error_severity\":\"LOG\"}\n"),
            Format::Jsonlog
        );
        assert_eq!(
            format(b"2024-01-31 12:00:00.000 UTC,\"a\",\"b\",1,\"h\",s,1,\"\",2024-01-31 12:00:00 UTC,1/1,0,LOG,00000,\"m\",,,,,,,,,\"\",\"client backend\",,0\n"),
            Format::Csvlog
        );
        assert_eq!(
            format(b"2024-01-31T12:00:00.000000Z\t    8 Query\tSELECT 1\n"),
            Format::MysqlGeneral
        );
        assert_eq!(format(b"\x00\x01\x02"), Format::PgStderr);
    }
}
