//! A small mergeable quantile sketch (DDSketch, Masson et al., VLDB 2019) for statement
//! durations.
//!
//! Values (milliseconds) fall into logarithmic buckets `(γ^(i-1), γ^i]` with
//! `γ = (1 + α) / (1 − α)` and α = [`RELATIVE_ACCURACY`] = 1 %, so any reported quantile is
//! within 1 % of a value that really is at that rank. Values are clamped to
//! [[`MIN_MS`], [`MAX_MS`]] (1 µs … 27.8 h), which bounds the bucket range to [`MAX_BUCKETS`]
//! indices: a sketch never holds more than that many `u32` counters (≈ 5 kB), whatever the
//! number of values, and only the range in use is allocated. Two sketches merge exactly by
//! adding counters, so the workers' sketches combine without losing accuracy. About a hundred
//! lines, kept here so that the memory bound and the merge are exact and visible.

/// Relative accuracy α of every quantile (1 %).
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Smallest distinguished value: 0.001 ms (PostgreSQL logs durations with 3 decimals).
pub const MIN_MS: f64 = 0.001;
/// Largest distinguished value: 10^8 ms ≈ 27.8 hours.
pub const MAX_MS: f64 = 1e8;

/// Most counters one sketch can hold: `⌈ln(MAX_MS)/ln γ⌉ − ⌈ln(MIN_MS)/ln γ⌉ + 1`.
pub const MAX_BUCKETS: usize = 1_268;

/// A DDSketch over milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: Vec<u32>,
    total: u64,
}

fn gamma_ln() -> f64 {
    ((1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)).ln()
}

fn index(ms: f64) -> i32 {
    let v = if ms.is_finite() {
        ms.clamp(MIN_MS, MAX_MS)
    } else {
        MAX_MS
    };
    (v.ln() / gamma_ln()).ceil() as i32
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value in milliseconds (negative and NaN values count as [`MIN_MS`]).
    pub fn add(&mut self, ms: f64) {
        let ms = if ms.is_nan() { MIN_MS } else { ms };
        self.add_index(index(ms), 1);
    }

    fn add_index(&mut self, i: i32, n: u32) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            let mut v = vec![0u32; grow];
            v.extend_from_slice(&self.counts);
            self.counts = v;
            self.offset = i;
        } else if (i - self.offset) as usize >= self.counts.len() {
            self.counts.resize((i - self.offset) as usize + 1, 0);
        }
        let slot = &mut self.counts[(i - self.offset) as usize];
        *slot = slot.saturating_add(n);
        self.total += u64::from(n);
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Counters held (the sketch's memory is 4 bytes per counter).
    pub fn buckets(&self) -> usize {
        self.counts.len()
    }

    /// Adds every value of `other`; exact (the result equals one sketch fed both streams).
    pub fn merge(&mut self, other: &Sketch) {
        for (k, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                self.add_index(other.offset + k as i32, n);
            }
        }
    }

    /// The value at quantile `q` (0 ≤ q ≤ 1) within 1 % relative error, or `None` when empty.
    /// Uses the lower rank `⌊q·(n−1)⌋` as the DDSketch paper does.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (self.total - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        for (k, &n) in self.counts.iter().enumerate() {
            seen += u64::from(n);
            if seen > rank {
                let i = self.offset + k as i32;
                // The bucket's representative value 2γ^i/(γ+1) has relative error ≤ α.
                let g = gamma_ln().exp();
                return Some(2.0 * (f64::from(i) * gamma_ln()).exp() / (g + 1.0));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_one_percent_and_merge_is_exact() {
        // A skewed distribution: 0.01 ms … 100 s.
        let values: Vec<f64> = (0..20_000u64)
            .map(|i| 0.01 * 1.0007f64.powi(((i * 7919) % 20_000) as i32))
            .collect();
        let mut a = Sketch::new();
        let mut b = Sketch::new();
        let mut whole = Sketch::new();
        for (k, v) in values.iter().enumerate() {
            if k % 2 == 0 {
                a.add(*v)
            } else {
                b.add(*v)
            }
            whole.add(*v);
        }
        a.merge(&b);
        assert_eq!(a, whole);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
            let est = a.quantile(q).unwrap();
            assert!(
                ((est - exact) / exact).abs() <= RELATIVE_ACCURACY + 1e-9,
                "q={q} exact={exact} est={est}"
            );
        }
        assert!(a.buckets() <= MAX_BUCKETS, "{} buckets", a.buckets());
    }

    #[test]
    fn extremes_are_bounded() {
        let mut s = Sketch::new();
        for v in [0.0, -3.0, f64::NAN, f64::INFINITY, 1e12, 1e-9] {
            s.add(v);
        }
        assert_eq!(s.count(), 6);
        assert!(s.buckets() == MAX_BUCKETS);
        assert!(s.quantile(1.0).unwrap() <= MAX_MS * 1.01);
        assert_eq!(Sketch::new().quantile(0.5), None);
    }
}
