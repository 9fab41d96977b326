//! Synthetic logs for the benchmark (`benches/logs.rs`) and the agreement test with pgBadger
//! and pt-query-digest: `n` statements drawn from `shapes` query shapes with a skewed
//! (Zipf-like, exponent 0.8) frequency and per-shape durations, deterministic for a seed.
//!
//! Identifiers are letters only (`tbl_bd`, `col_c`), so that a shape can be recognised in any
//! tool's normalised text by its letters alone ([`shape_key`]): pgBadger, pt-query-digest and
//! this module each replace literals differently.

use std::io::Write;

/// Deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn letters(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s
}

/// Shape `k` with literal values from `r`.
fn statement(k: usize, r: &mut Rng) -> String {
    let table = format!("tbl_{}", letters(k % 97));
    let col = format!("col_{}", letters(k / 97 % 13));
    let other = format!("col_{}", letters(k / 7 % 11));
    let id = r.next() % 100_000;
    match k % 4 {
        0 => format!(
            "SELECT {col}, {other} FROM {table} WHERE id = {id} AND {col} > {}",
            r.next() % 1000
        ),
        1 => format!(
            "UPDATE {table} SET {col} = {col} + {} WHERE id = {id}",
            r.next() % 10 + 1
        ),
        2 => format!(
            "SELECT count(*) FROM {table} WHERE {other} = 'v{}' AND {col} < {id}",
            r.next() % 500
        ),
        _ => format!(
            "DELETE FROM {table} WHERE {col} = {id} AND {other} = 'x{}'",
            r.next() % 50
        ),
    }
}

/// The letters of `s` (lower-cased) without `sql`-syntax noise: identifies a shape in any
/// normalisation that keeps identifiers and keywords (drops digits, quotes, placeholders,
/// spaces and punctuation).
pub fn shape_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Cumulative weights of the shapes (Zipf exponent 0.8).
fn weights(shapes: usize) -> Vec<f64> {
    let mut acc = 0.0;
    (0..shapes)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(0.8);
            acc
        })
        .collect()
}

fn pick(cum: &[f64], r: &mut Rng) -> usize {
    let x = r.unit() * cum.last().copied().unwrap_or(1.0);
    cum.partition_point(|w| *w < x).min(cum.len() - 1)
}

/// Duration of one call of shape `k`, milliseconds (3 decimals, as PostgreSQL logs them).
fn duration_ms(k: usize, r: &mut Rng) -> f64 {
    let base = 0.05 + (k * 7919 % 1000) as f64 * 0.02;
    ((base * (0.5 + r.unit() * 1.5)) * 1000.0).round() / 1000.0
}

/// Writes a PostgreSQL stderr log (`log_line_prefix = '%m [%p] %q%u@%d '`) of `n` statements.
///
/// # Errors
/// Write errors of `w`.
pub fn pg_stderr(w: &mut dyn Write, n: usize, shapes: usize, seed: u64) -> std::io::Result<()> {
    let mut r = Rng(seed | 1);
    let cum = weights(shapes);
    let start = 1_706_659_200_000i64; // 2024-01-31 00:00:00 UTC
    for i in 0..n {
        let k = pick(&cum, &mut r);
        let ts = super::time::format_ms(start + (i as i64) * 20);
        let ms_part = (i * 20) % 1000;
        let pid = 1000 + k % 50;
        writeln!(
            w,
            "{ts}.{ms_part:03} UTC [{pid}] app@shop LOG:  duration: {:.3} ms  statement: {}",
            duration_ms(k, &mut r),
            statement(k, &mut r)
        )?;
    }
    Ok(())
}

/// Writes a MySQL 8 slow query log of `n` statements.
///
/// # Errors
/// Write errors of `w`.
pub fn mysql_slow(w: &mut dyn Write, n: usize, shapes: usize, seed: u64) -> std::io::Result<()> {
    let mut r = Rng(seed | 1);
    let cum = weights(shapes);
    writeln!(
        w,
        "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:"
    )?;
    writeln!(
        w,
        "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock"
    )?;
    writeln!(w, "Time                 Id Command    Argument")?;
    let start = 1_706_659_200i64;
    for i in 0..n {
        let k = pick(&cum, &mut r);
        let secs = start + (i as i64) / 50;
        let micros = (i % 50) * 20_000;
        let ts = super::time::format_ms(secs * 1000).replace(' ', "T");
        let q = duration_ms(k, &mut r) / 1000.0;
        let rows = r.next() % 20;
        writeln!(w, "# Time: {ts}.{micros:06}Z")?;
        writeln!(
            w,
            "# User@Host: app[app] @ localhost []  Id: {:>5}",
            10 + k % 50
        )?;
        writeln!(
            w,
            "# Query_time: {q:.6}  Lock_time: 0.000010 Rows_sent: {rows}  Rows_examined: {}",
            rows * 10
        )?;
        writeln!(w, "SET timestamp={secs};")?;
        writeln!(w, "{};", statement(k, &mut r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_logs_parse_completely() {
        let mut pg = Vec::new();
        pg_stderr(&mut pg, 2_000, 50, 7).unwrap();
        let mut agg = super::super::Aggregate::default();
        let prefix = super::super::pg_prefix::Prefix::compile("%m [%p] %q%u@%d ").unwrap();
        super::super::pg_stderr::parse(&pg, &prefix, 0, 1, &Default::default(), &mut agg);
        assert_eq!(agg.total_calls(), 2_000);
        assert_eq!(agg.bad_lines, 0);
        assert!(agg.queries.len() <= 50);
        let mut my = Vec::new();
        mysql_slow(&mut my, 2_000, 50, 7).unwrap();
        let mut agg = super::super::Aggregate::default();
        super::super::mysql::parse_slow(&my, 0, 1, &Default::default(), &mut agg);
        assert_eq!(agg.total_calls(), 2_000);
        assert_eq!(agg.bad_lines, 0, "{:?}", agg.first_bad);
    }
}
