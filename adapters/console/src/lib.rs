//! # dbabot-console — the terminal adapter
//!
//! `dbabot chat` in a terminal: line editing with history when stdin is a TTY, plain
//! line-by-line when piped (`echo "report health demo" | dbabot chat`), so scripts and tests can
//! drive the bot. Replies are rendered as readable text (headings, aligned tables, code blocks)
//! or, with `--json`, as the structured reply model, one JSON document per line.

mod render;

use dbabot_chat::{InboundMessage, MessageHandler, Platform, Reply, User};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

pub use render::render_text;

/// Errors that end a console session.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("terminal I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("line editor failed: {0}")]
    Editor(String),
}

/// How the console session runs.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Thread name; the same name resumes the same memory (`--thread`).
    pub thread: String,
    /// Print replies as JSON (`--json`).
    pub json: bool,
    /// Who is typing (defaults to the OS user).
    pub user: User,
    /// Where the interactive history is kept.
    pub history: Option<PathBuf>,
    /// Use ANSI styling (interactive sessions only).
    pub color: bool,
}

/// The message the engine receives for a line typed in thread `thread`.
pub fn message(thread: &str, user: &User, text: &str) -> InboundMessage {
    InboundMessage::text(
        Platform::Console,
        "local",
        "console",
        thread,
        user.clone(),
        text,
    )
}

/// Runs the session until EOF, `exit` or `quit`.
///
/// # Errors
/// [`ConsoleError`] when stdin/stdout fail.
pub async fn run(
    handler: Arc<dyn MessageHandler>,
    opts: ConsoleOptions,
) -> Result<(), ConsoleError> {
    if std::io::stdin().is_terminal() && !opts.json {
        interactive(handler, opts).await
    } else {
        piped(handler, opts).await
    }
}

async fn answer(
    handler: &Arc<dyn MessageHandler>,
    opts: &ConsoleOptions,
    text: &str,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    let msg = message(&opts.thread, &opts.user, text);
    let mut slow = false;
    if !opts.json {
        if let Some(hint) = handler.progress_hint(&msg).await {
            dim_line(out, &hint, opts.color)?;
            slow = true;
        }
    }
    let turn = handler.handle(msg);
    let handled = if slow {
        with_progress(turn, out, opts.color).await?
    } else {
        turn.await
    };
    let reply = match handled {
        Ok(r) => r,
        Err(e) => Reply::text(format!("Sorry, that failed: {e}")),
    };
    if opts.json {
        let line =
            serde_json::to_string(&reply).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{}", render_text(&reply, opts.color))?;
    }
    out.flush()?;
    Ok(())
}

fn dim_line(out: &mut impl Write, line: &str, color: bool) -> std::io::Result<()> {
    if color {
        writeln!(out, "\x1b[2m{line}\x1b[0m")?;
    } else {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Runs a slow turn with a [`dbabot_chat::progress`] reporter and prints a progress line
/// ("Analysing pg.log… 40%") each time another tenth is done.
async fn with_progress<F: std::future::Future>(
    turn: F,
    out: &mut impl Write,
    color: bool,
) -> std::io::Result<F::Output> {
    let (reporter, mut rx) = dbabot_chat::progress::channel();
    let work = dbabot_chat::progress::scope(reporter, turn);
    tokio::pin!(work);
    let mut shown: Option<u8> = None;
    loop {
        tokio::select! {
            r = &mut work => return Ok(r),
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(work.await);
                }
                let update = rx.borrow_and_update().clone();
                match update.as_ref().map(|u| (u, u.percent)) {
                    Some((u, Some(p))) if shown.is_none_or(|s| p / 10 > s) => {
                        shown = Some(p / 10);
                        dim_line(out, &u.line(), color)?;
                    }
                    Some((u, None)) => dim_line(out, &u.line(), color)?,
                    _ => {}
                }
            }
        }
    }
}

/// Reads stdin line by line. Lines inside an open ``` fence are joined into one message, so a
/// multi-line SQL block can be piped in.
async fn piped(handler: Arc<dyn MessageHandler>, opts: ConsoleOptions) -> Result<(), ConsoleError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
    // stdin is blocking; read it on its own thread.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut buf = String::new();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if !buf.is_empty() {
                buf.push('\n');
            }
            buf.push_str(&line);
            if buf.matches("```").count() % 2 == 1 {
                continue;
            }
            if tx.blocking_send(std::mem::take(&mut buf)).is_err() {
                return;
            }
        }
        if !buf.trim().is_empty() {
            let _ = tx.blocking_send(buf);
        }
    });
    let mut out = std::io::stdout();
    while let Some(text) = rx.recv().await {
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        if matches!(t, "exit" | "quit") {
            break;
        }
        answer(&handler, &opts, t, &mut out).await?;
    }
    Ok(())
}

async fn interactive(
    handler: Arc<dyn MessageHandler>,
    opts: ConsoleOptions,
) -> Result<(), ConsoleError> {
    use rustyline::error::ReadlineError;
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<Option<String>>(1);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let history = opts.history.clone();
    let prompt = if opts.color {
        "\x1b[1mdba>\x1b[0m ".to_string()
    } else {
        "dba> ".to_string()
    };
    // The line editor blocks; it runs on its own thread and waits for each answer before the
    // next prompt so output does not interleave.
    std::thread::spawn(move || {
        let Ok(mut ed) = rustyline::DefaultEditor::new() else {
            let _ = line_tx.blocking_send(None);
            return;
        };
        if let Some(h) = &history {
            let _ = ed.load_history(h);
        }
        loop {
            match ed.readline(&prompt) {
                Ok(line) => {
                    let _ = ed.add_history_entry(line.as_str());
                    if line_tx.blocking_send(Some(line)).is_err() || ready_rx.recv().is_err() {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) | Err(_) => {
                    let _ = line_tx.blocking_send(None);
                    break;
                }
            }
        }
        if let Some(h) = &history {
            let _ = ed.save_history(h);
        }
    });
    let mut out = std::io::stdout();
    writeln!(
        out,
        "dbabot — read-only DBA assistant. Thread `{}`. Type `help`, a question, or `exit`.",
        opts.thread
    )?;
    while let Some(Some(line)) = line_rx.recv().await {
        let t = line.trim();
        if matches!(t, "exit" | "quit") {
            break;
        }
        if !t.is_empty() {
            answer(&handler, &opts, t, &mut out).await?;
        }
        if ready_tx.send(()).is_err() {
            break;
        }
    }
    Ok(())
}

/// Prints unsolicited messages (escalation handoffs, case updates) in the terminal, marked with
/// where they would go.
pub struct ConsoleOutbox;

#[async_trait::async_trait]
impl dbabot_chat::Outbox for ConsoleOutbox {
    async fn post(
        &self,
        destination: &dbabot_chat::Destination,
        reply: &Reply,
    ) -> Result<Option<String>, dbabot_chat::OutboxError> {
        let mut out = std::io::stdout();
        let header = format!(
            "── posted to {} {}{} ──",
            destination.platform,
            destination.channel,
            destination
                .thread
                .as_deref()
                .map(|t| format!(" (thread {t})"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "{header}\n{}", render_text(reply, false));
        Ok(None)
    }
}
