//! PostgreSQL csvlog: one CSV record per event (quoted fields may span lines).
//!
//! Columns (PostgreSQL 13–17): log_time, user_name, database_name, process_id,
//! connection_from, session_id, session_line_num, command_tag, session_start_time,
//! virtual_transaction_id, transaction_id, error_severity, sql_state_code, message, detail,
//! hint, internal_query, internal_query_pos, context, query, query_pos, location,
//! application_name, then backend_type, leader_pid (14+), query_id (14+).

use super::aggregate::Aggregate;
use super::pg_event::{self, PgEvent, PgState};
use super::reader::Window;
use super::time;

/// Fewest columns a csvlog record has (PostgreSQL 9.0–12 wrote 23).
const MIN_COLUMNS: usize = 23;

/// True when a line starts a csvlog record (`YYYY-MM-DD ` at the start).
pub fn is_record_start(line: &[u8]) -> bool {
    line.len() > 11
        && line[..4].iter().all(u8::is_ascii_digit)
        && line[4] == b'-'
        && line[7] == b'-'
        && line[10] == b' '
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Parses one chunk of csvlog into `agg`.
pub fn parse(data: &[u8], file: usize, start_line: u64, window: &Window, agg: &mut Aggregate) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut st = PgState::default();
    let mut rec = csv::StringRecord::new();
    agg.lines += super::reader::count_lines(data);
    loop {
        let line = start_line + rdr.position().line().saturating_sub(1);
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => {
                agg.bad(file, line);
                // Invalid UTF-8 or a broken quote: the reader resynchronises at the next record.
                continue;
            }
        }
        if rec.len() < MIN_COLUMNS {
            agg.bad(file, line);
            continue;
        }
        let ts = time::parse_iso(&rec[0]);
        if ts.is_none() {
            agg.bad(file, line);
            continue;
        }
        if !window.keep(ts) {
            agg.filtered += 1;
            continue;
        }
        let ev = PgEvent {
            ts_ms: ts,
            pid: opt(&rec[3]),
            user: opt(&rec[1]),
            db: opt(&rec[2]),
            severity: &rec[11],
            sqlstate: opt(&rec[12]),
            message: &rec[13],
            detail: opt(&rec[14]),
            statement: opt(&rec[19]),
        };
        if !pg_event::apply(&ev, &mut st, agg) {
            agg.bad(file, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_embedded_newlines() {
        let log = "\
2024-01-31 12:00:00.000 UTC,\"app\",\"shop\",42,\"[local]\",65b9.2a,1,\"SELECT\",2024-01-31 11:59:00 UTC,3/4,0,LOG,00000,\"duration: 1.250 ms  statement: SELECT *
FROM t WHERE id = 3\",,,,,,,,,\"psql\",\"client backend\",,0
2024-01-31 12:00:01.000 UTC,\"app\",\"shop\",42,\"[local]\",65b9.2a,2,\"SELECT\",2024-01-31 11:59:00 UTC,3/5,0,ERROR,42P01,\"relation \"\"nope\"\" does not exist\",,,,,,\"SELECT * FROM nope\",15,,\"psql\",\"client backend\",,0
garbage,line
";
        let mut agg = Aggregate::default();
        parse(log.as_bytes(), 0, 1, &Window::default(), &mut agg);
        assert_eq!(agg.queries["select * from t where id = $1"].calls, 1);
        let g = agg.error_groups();
        assert_eq!((g[0].code.as_str(), g[0].inferred), ("42P01", false));
        assert_eq!(g[0].statement.as_deref(), Some("select * from nope"));
        assert_eq!(agg.bad_lines, 1);
        assert_eq!(agg.first_bad, Some((0, 4)));
    }
}
