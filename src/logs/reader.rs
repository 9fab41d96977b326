//! Reading inputs: files, gzip, stdin; chunks cut on record boundaries; parsing on all cores.
//!
//! One reader thread fills buffers of [`CHUNK_BYTES`], cuts each after the last complete line
//! that starts a record (so a statement's continuation lines and its DETAIL/STATEMENT stay in
//! the same chunk) and sends it through a bounded channel to the workers; every worker parses
//! its chunks into its own [`Aggregate`], and the aggregates are merged at the end. Memory is
//! therefore about `(2 × workers + 1) × CHUNK_BYTES` plus the bounded aggregates, whatever
//! the input size.

use super::aggregate::Aggregate;
use super::pg_prefix::{self, Prefix};
use super::{csvlog, detect, jsonlog, mysql, pg_stderr};
use super::{Analysis, Format, InputSummary, LogError, Options};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// Bytes read per chunk: 4 MiB keeps two cores busy with little memory.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// A record longer than this (a huge single line) is cut; its pieces count as not understood.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Lines scanned back from a chunk's end for a record start before the chunk is grown.
const MAX_BACKSCAN_LINES: usize = 100_000;

/// One log to read.
pub enum Input {
    /// A file on disk (plain or gzip).
    Path(PathBuf),
    /// Standard input (plain or gzip).
    Stdin,
    /// A file on disk reported under another name (a downloaded chat attachment, shown by the
    /// name it was shared with); counted for progress like [`Input::Path`].
    File { name: String, path: PathBuf },
    /// Any byte stream, with the name used in reports (its size is unknown: no progress).
    Reader {
        name: String,
        reader: Box<dyn Read + Send>,
    },
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".into(),
            Input::File { name, .. } | Input::Reader { name, .. } => name.clone(),
        }
    }
}

/// The `--since`/`--until` window; events without a time are kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Window {
    /// True when an event at `ts` is inside the window.
    pub fn keep(&self, ts: Option<i64>) -> bool {
        let Some(t) = ts else { return true };
        self.since_ms.is_none_or(|s| t >= s) && self.until_ms.is_none_or(|u| t < u)
    }
}

/// Lines of `data` numbered from `start`, without their `\n` (and a trailing `\r`).
pub fn lines(data: &[u8], start: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut pos = 0usize;
    let mut n = start;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |p| pos + p);
        let mut line = &data[pos..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        pos = end + 1;
        n += 1;
        Some((n - 1, line))
    })
}

/// Newlines in `data`.
pub fn count_lines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// How one input is parsed.
#[derive(Debug, Clone)]
enum Spec {
    Stderr(Prefix),
    Csv,
    Json,
    Slow,
    General,
}

impl Spec {
    fn is_start(&self, line: &[u8], prev: Option<&[u8]>) -> bool {
        match self {
            Spec::Stderr(_) => pg_stderr::is_record_start(line),
            Spec::Csv => csvlog::is_record_start(line),
            Spec::Json => true,
            Spec::Slow => mysql::is_slow_record_start(line, prev),
            Spec::General => mysql::is_general_record_start(line),
        }
    }
}

struct Chunk {
    spec: Arc<Spec>,
    file: usize,
    start_line: u64,
    data: Vec<u8>,
}

fn parse_chunk(c: &Chunk, window: &Window, agg: &mut Aggregate) {
    match &*c.spec {
        Spec::Stderr(p) => pg_stderr::parse(&c.data, p, c.file, c.start_line, window, agg),
        Spec::Csv => csvlog::parse(&c.data, c.file, c.start_line, window, agg),
        Spec::Json => jsonlog::parse(&c.data, c.file, c.start_line, window, agg),
        Spec::Slow => mysql::parse_slow(&c.data, c.file, c.start_line, window, agg),
        Spec::General => mysql::parse_general(&c.data, c.file, c.start_line, window, agg),
    }
}

/// Where to cut `buf`: the start of the last complete line that starts a record (not the
/// first line). `None` when there is none in the last [`MAX_BACKSCAN_LINES`] lines.
fn cut_point(spec: &Spec, buf: &[u8]) -> Option<usize> {
    // Only complete lines: the candidate must end with a newline inside `buf`.
    let mut end = memchr::memrchr(b'\n', buf)?;
    for _ in 0..MAX_BACKSCAN_LINES {
        let start = memchr::memrchr(b'\n', &buf[..end]).map_or(0, |p| p + 1);
        if start == 0 {
            return None;
        }
        let line = &buf[start..end];
        let prev_start = memchr::memrchr(b'\n', &buf[..start - 1]).map_or(0, |p| p + 1);
        let prev = &buf[prev_start..start - 1];
        if spec.is_start(line, Some(prev)) {
            return Some(start);
        }
        end = start - 1;
    }
    None
}

/// Counts bytes read from the underlying file (for progress).
struct Counting<R> {
    inner: R,
    done: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Fills `buf` up to `want` bytes; returns false at end of input.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    while buf.len() < want {
        let old = buf.len();
        buf.resize(want, 0);
        match r.read(&mut buf[old..]) {
            Ok(0) => {
                buf.truncate(old);
                return Ok(false);
            }
            Ok(n) => buf.truncate(old + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(old),
            Err(e) => {
                buf.truncate(old);
                return Err(e);
            }
        }
    }
    Ok(true)
}

/// Progress callback: (bytes read from disk so far, total bytes on disk; 0 when unknown).
pub type Progress<'p> = &'p (dyn Fn(u64, u64) + Sync);

/// Analyses `inputs` with `opts`, calling `progress` after each chunk.
///
/// # Errors
/// [`LogError::Io`] when an input cannot be opened or read, [`LogError::TooLarge`] over
/// [`Options::max_bytes`], [`LogError::BadPrefix`] for an unusable `--prefix`,
/// [`LogError::BadTimezone`] for an unknown `--log-timezone`.
#[tracing::instrument(skip_all, fields(inputs = inputs.len()))]
pub fn analyze(
    inputs: Vec<Input>,
    opts: &Options,
    progress: Option<Progress<'_>>,
) -> Result<Analysis, LogError> {
    let started = std::time::Instant::now();
    let given_prefix = match &opts.prefix {
        Some(p) => Some(Prefix::compile(p).map_err(|e| LogError::BadPrefix(p.clone(), e))?),
        None => None,
    };
    let window = Window {
        since_ms: opts.since_ms,
        until_ms: opts.until_ms,
    };
    let zone = match &opts.timezone {
        Some(name) => Some(super::time::lookup_zone(name).map_err(LogError::BadTimezone)?),
        None => None,
    };
    let workers = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let mut total_disk = 0u64;
    for i in &inputs {
        if let Input::Path(p) | Input::File { path: p, .. } = i {
            let meta = std::fs::metadata(p).map_err(|source| LogError::Io {
                path: p.clone(),
                source,
            })?;
            total_disk += meta.len();
        }
    }
    let done = Arc::new(AtomicU64::new(0));
    let (tx, rx) = sync_channel::<Chunk>(workers);
    let rx: Arc<Mutex<Receiver<Chunk>>> = Arc::new(Mutex::new(rx));
    let mut summaries = Vec::new();
    let result: Result<Vec<Aggregate>, LogError> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let zone = zone.clone();
                s.spawn(move || {
                    super::time::set_thread_zone(zone);
                    let mut agg = Aggregate::default();
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        match next {
                            Ok(c) => parse_chunk(&c, &window, &mut agg),
                            Err(_) => break,
                        }
                    }
                    agg
                })
            })
            .collect();
        let read = (|| {
            for (file, input) in inputs.into_iter().enumerate() {
                let name = input.name();
                let path = match &input {
                    Input::Path(p) | Input::File { path: p, .. } => p.clone(),
                    _ => PathBuf::from(&name),
                };
                let io = |source| LogError::Io {
                    path: path.clone(),
                    source,
                };
                let raw: Box<dyn Read + Send> = match input {
                    Input::Path(p) | Input::File { path: p, .. } => {
                        let f = std::fs::File::open(&p).map_err(io)?;
                        Box::new(Counting {
                            inner: f,
                            done: Arc::clone(&done),
                        })
                    }
                    Input::Stdin => Box::new(std::io::stdin()),
                    Input::Reader { reader, .. } => reader,
                };
                let mut br = BufReader::with_capacity(256 * 1024, raw);
                let head = br.fill_buf().map_err(io)?;
                let compressed = head.starts_with(&[0x1f, 0x8b]);
                let mut r: Box<dyn Read + Send> = if compressed {
                    Box::new(flate2::read::MultiGzDecoder::new(br))
                } else {
                    Box::new(br)
                };
                let mut buf = Vec::with_capacity(CHUNK_BYTES);
                let mut more = fill(&mut *r, &mut buf, CHUNK_BYTES).map_err(io)?;
                let format = opts.format.unwrap_or_else(|| detect::format(&buf));
                let spec = match format {
                    Format::PgStderr => Spec::Stderr(match &given_prefix {
                        Some(p) => p.clone(),
                        None => {
                            let head = String::from_utf8_lossy(&buf[..buf.len().min(1 << 20)]);
                            pg_prefix::detect(head.lines())
                        }
                    }),
                    Format::Csvlog => Spec::Csv,
                    Format::Jsonlog => Spec::Json,
                    Format::MysqlSlow => Spec::Slow,
                    Format::MysqlGeneral => Spec::General,
                };
                tracing::info!(input = %name, format = format.as_str(), compressed, "reading log");
                let prefix = match &spec {
                    Spec::Stderr(p) => Some(p.source().to_string()),
                    _ => None,
                };
                let spec = Arc::new(spec);
                let mut bytes = 0u64;
                let mut line = 1u64;
                loop {
                    let cut = if more {
                        match cut_point(&spec, &buf) {
                            Some(c) => c,
                            None if buf.len() < MAX_RECORD_BYTES => {
                                let want = buf.len() * 2;
                                more = fill(&mut *r, &mut buf, want).map_err(io)?;
                                continue;
                            }
                            None => memchr::memrchr(b'\n', &buf).map_or(buf.len(), |p| p + 1),
                        }
                    } else {
                        buf.len()
                    };
                    let rest = buf[cut..].to_vec();
                    buf.truncate(cut);
                    bytes += buf.len() as u64;
                    if bytes > opts.max_bytes {
                        return Err(LogError::TooLarge {
                            name: name.clone(),
                            size: bytes,
                            limit: opts.max_bytes,
                        });
                    }
                    let n = count_lines(&buf);
                    let unterminated = u64::from(buf.last().is_some_and(|c| *c != b'\n'));
                    if !buf.is_empty() {
                        let chunk = Chunk {
                            spec: Arc::clone(&spec),
                            file,
                            start_line: line,
                            data: std::mem::replace(&mut buf, Vec::with_capacity(CHUNK_BYTES)),
                        };
                        if tx.send(chunk).is_err() {
                            break;
                        }
                    }
                    line += n + unterminated;
                    if let Some(p) = progress {
                        p(done.load(Ordering::Relaxed), total_disk);
                    }
                    if !more && rest.is_empty() {
                        break;
                    }
                    buf.extend_from_slice(&rest);
                    if more {
                        more =
                            fill(&mut *r, &mut buf, CHUNK_BYTES.max(rest.len() * 2)).map_err(io)?;
                    }
                }
                summaries.push(InputSummary {
                    name,
                    format,
                    prefix,
                    bytes,
                    compressed,
                });
            }
            Ok(())
        })();
        drop(tx);
        let aggs: Vec<Aggregate> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        read.map(|()| aggs)
    });
    let mut aggs = result?.into_iter();
    let mut agg = aggs.next().unwrap_or_default();
    for a in aggs {
        agg.merge(a);
    }
    if !summaries.iter().any(|s| s.format.is_postgres()) {
        agg.postgres = false;
    }
    Ok(Analysis {
        agg,
        inputs: summaries,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_continuations_with_their_record() {
        let spec = Spec::Stderr(Prefix::generic());
        let buf = b"2024-01-31 12:00:00 UTC [1] LOG:  a\n2024-01-31 12:00:00 UTC [1] ERROR:  b\n2024-01-31 12:00:00 UTC [1] STATEMENT:  c\n\tmore\n2024-01-31 12:00:00 UTC [1] LOG:  partial";
        let cut = cut_point(&spec, buf).unwrap();
        assert!(buf[cut..].starts_with(b"2024-01-31 12:00:00 UTC [1] ERROR"));
        assert_eq!(cut_point(&spec, b"single line without newline"), None);
    }

    #[test]
    fn lines_are_numbered_and_crlf_stripped() {
        let v: Vec<_> = lines(b"a\r\nb\n\nc", 10).collect();
        assert_eq!(
            v,
            vec![
                (10, &b"a"[..]),
                (11, &b"b"[..]),
                (12, &b""[..]),
                (13, &b"c"[..])
            ]
        );
    }
}
