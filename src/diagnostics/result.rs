//! Engine-neutral result sets: what a diagnostic's SQL returned, decoded into plain values.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One decoded cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) => Some(*f as i64),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Null => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Null => None,
        }
    }

    /// Truthiness as SQL engines spell it: `true`, non-zero, `Y`, `YES`, `ON`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Float(f) => Some(*f != 0.0),
            Value::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
                "f" | "false" | "n" | "no" | "off" | "0" | "" => Some(false),
                _ => None,
            },
            Value::Null => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.0}")
                } else {
                    write!(f, "{x:.2}")
                }
            }
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// Rows a diagnostic returned, at most the row cap.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultSet {
    /// Column names, lower-cased.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// True when more rows existed than the row cap allowed.
    pub truncated: bool,
    /// When `truncated`: how many rows the diagnostic's query returns in all, from a `count(*)`
    /// over the same query in the same read-only transaction. `None` when not truncated, when the
    /// statement cannot be wrapped (`SHOW`, `PRAGMA`) or when the count failed or timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The thresholds the check grades these rows by (the runner sets the loaded ones;
    /// `Default` is the embedded copy).
    #[serde(skip)]
    pub thresholds: super::thresholds::Thresholds,
}

impl ResultSet {
    /// Builds a result set (used by fixtures and tests).
    pub fn new(columns: &[&str], rows: Vec<Vec<Value>>) -> Self {
        ResultSet {
            columns: columns.iter().map(|c| c.to_ascii_lowercase()).collect(),
            rows,
            truncated: false,
            total: None,
            thresholds: Default::default(),
        }
    }

    /// The threshold entry `key` of `intents/thresholds.toml` this check grades by.
    pub fn threshold_for(&self, key: &str) -> &super::thresholds::Threshold {
        self.thresholds.get(key)
    }

    /// Iterates rows with by-name access.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |r| Row {
            columns: &self.columns,
            values: r,
        })
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many rows the query returned in all: the counted total when the row cap truncated the
    /// set, else the rows held. `None` when truncated and not countable.
    pub fn total_rows(&self) -> Option<u64> {
        if self.truncated {
            self.total
        } else {
            Some(self.rows.len() as u64)
        }
    }

    /// The row count for a human: `"42"`, or `"the first 200 of 21,000"` when the row cap cut
    /// the set (the catalog's `ORDER BY` puts the worst first), or `"the first 200 (more exist)"`
    /// when the total could not be counted.
    pub fn count_phrase(&self) -> String {
        let held = self.rows.len();
        match (self.truncated, self.total) {
            (false, _) => thousands(held as u64),
            (true, Some(t)) => format!("the first {} of {}", thousands(held as u64), thousands(t)),
            (true, None) => format!("the first {} (more exist)", thousands(held as u64)),
        }
    }
}

/// `21000` as `21,000`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row with access by (case-insensitive) column name; a missing column reads as NULL.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

static NULL: Value = Value::Null;

impl<'a> Row<'a> {
    pub fn get(&self, column: &str) -> &'a Value {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
            .and_then(|i| self.values.get(i))
            .unwrap_or(&NULL)
    }

    pub fn i64(&self, column: &str) -> Option<i64> {
        self.get(column).as_i64()
    }

    pub fn f64(&self, column: &str) -> Option<f64> {
        self.get(column).as_f64()
    }

    pub fn bool(&self, column: &str) -> Option<bool> {
        self.get(column).as_bool()
    }

    /// Text of the cell; NULL reads as an empty string.
    pub fn str(&self, column: &str) -> String {
        match self.get(column) {
            Value::Null => String::new(),
            v => v.to_string(),
        }
    }

    /// The first of `columns` that is present and not NULL (for engines that renamed a column).
    pub fn any(&self, columns: &[&str]) -> &'a Value {
        columns
            .iter()
            .map(|c| self.get(c))
            .find(|v| !v.is_null())
            .unwrap_or(&NULL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_first_n_of_total() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(21_000), "21,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let mut rs = ResultSet::new(&["a"], vec![vec![Value::Int(1)]; 3]);
        assert_eq!(rs.count_phrase(), "3");
        assert_eq!(rs.total_rows(), Some(3));
        rs.truncated = true;
        assert_eq!(rs.count_phrase(), "the first 3 (more exist)");
        assert_eq!(rs.total_rows(), None);
        rs.total = Some(21_000);
        assert_eq!(rs.count_phrase(), "the first 3 of 21,000");
    }
}
