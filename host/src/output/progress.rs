//! Run progress on stdout: what the migration engine is doing and how it
//! ended. Logs go to stderr (see [`super::logging`]); this is the result.
//!
//! [`Progress`] is a cheap, cloneable, `Send + Sync` handle. The engine
//! calls it from any thread; [`Progress::stage`] gives a handle whose
//! migration events carry a stage name, for concurrent multi-stage runs.
//! Every line goes through the [`Masker`] before it is written.
//!
//! Two renderers, chosen by [`ProgressMode::Auto`]:
//!
//! * **terminal** (stdout is a terminal, `TERM` is not `dumb`): a live area
//!   at the bottom with a spinner line per running migration and, when at
//!   least [`BAR_THRESHOLD`] migrations are planned, a progress bar; each
//!   finished migration leaves one line above it (`✓`/`✗`/`-` with its
//!   duration). Colours unless `NO_COLOR` is set. Log lines written to
//!   stderr meanwhile clear and redraw the live area (see
//!   `with_live_area_cleared`).
//! * **plain** (anything else: a pipe, a file, CI): one ASCII line per event,
//!   no escape codes, the outcome word first so that `grep '^FAILED'` works:
//!
//! ```text
//! stage   [infrastructure] running
//! start   [infrastructure] up 001 create-vpc
//! ok      [infrastructure] up 001 create-vpc (POST 201, 120 ms)
//! FAILED  [infrastructure] up 002 create-subnet (350 ms): status 500, expected 201
//! skipped [infrastructure] up 003 tag-vpc: condition is false
//! stage   [infrastructure] FAILED (1.2 s)
//! ```
//!
//! A failure's further error lines follow, indented by four spaces.
//! [`Progress::run_finished`] prints, when stages were reported, a table
//! (`stage state ok failed skipped time`), then one line:
//! `done: 3 applied, 0 failed, 0 skipped in 2.4 s` or
//! `FAILED: 2 applied, 1 failed, 0 skipped in 4.5 s` ("rolled back" instead
//! of "applied" when every finished migration was a `down`).
//!
//! [`ProgressMode::Quiet`] prints nothing.
//!
//! Versions are shown zero-padded to three digits (`001`), as migration
//! files are usually named; longer versions (timestamps) are shown whole.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::masking::Masker;

/// Planned migrations from which the terminal renderer shows a bar.
pub const BAR_THRESHOLD: usize = 5;

/// How often the terminal renderer animates its spinners.
const TICK: Duration = Duration::from_millis(100);

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Which renderer [`Progress::new`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressMode {
    /// Terminal renderer when stdout is a terminal, plain otherwise.
    Auto,
    /// Plain lines, always.
    Plain,
    /// Nothing at all.
    Quiet,
}

/// Direction of a migration: the store's type, so the engine's events need no
/// mapping on their way to the display.
pub use crate::store::Direction;

/// How one migration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationOutcome {
    /// `status` is a short summary such as `POST 201` (empty: none shown).
    Ok {
        status: String,
        duration: Duration,
    },
    /// `error` may span several lines; the first is shown on the event line.
    Failed {
        error: String,
        duration: Duration,
    },
    Skipped {
        reason: String,
    },
}

/// State of a stage in a multi-stage run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageState {
    Pending,
    Running,
    Applied,
    /// A `stages down` finished rolling the stage back.
    RolledBack,
    Skipped,
    Failed,
}

impl StageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Pending => "pending",
            StageState::Running => "running",
            StageState::Applied => "applied",
            StageState::RolledBack => "rolled back",
            StageState::Skipped => "skipped",
            StageState::Failed => "FAILED",
        }
    }
}

impl fmt::Display for StageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Totals of a run, as the engine counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub duration: Duration,
}

/// Options of the terminal renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Columns available; `None` asks the terminal (80 if it cannot tell).
    pub width: Option<usize>,
    /// ANSI colours.
    pub color: bool,
    /// Redraw spinners every 100 ms from a background thread.
    pub animate: bool,
}

/// A renderer, for [`Progress::with_writer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    Plain,
    Terminal(TerminalOptions),
    Quiet,
}

/// The progress reporter; see the module documentation.
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
    stage: Option<Arc<str>>,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("renderer", &self.shared.renderer)
            .field("stage", &self.stage)
            .finish()
    }
}

struct Shared {
    masker: Arc<Masker>,
    renderer: Renderer,
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    renderer: Renderer,
    running: Vec<Running>,
    /// Lines of the live area now on screen (terminal renderer).
    drawn: usize,
    frame: usize,
    planned: usize,
    finished: usize,
    started: Instant,
    stages: Vec<StageRow>,
    saw_up: bool,
    saw_down: bool,
}

struct Running {
    stage: Option<Arc<str>>,
    version: u64,
    direction: Direction,
    label: String,
    started: Instant,
}

struct StageRow {
    name: String,
    state: StageState,
    duration: Option<Duration>,
    ok: usize,
    failed: usize,
    skipped: usize,
}

/// The live terminal display, if one is up, for the log writer.
static LIVE: Mutex<Option<Weak<Shared>>> = Mutex::new(None);

/// Runs `f` (a write to the terminal) with the live progress area cleared,
/// and redraws the area after it. Without a live area, just runs `f`.
pub fn with_live_area_cleared<R>(f: impl FnOnce() -> R) -> R {
    let shared = LIVE
        .lock()
        .ok()
        .and_then(|live| live.as_ref().and_then(Weak::upgrade));
    let Some(shared) = shared else {
        return f();
    };
    let mut state = shared.lock();
    state.clear_live();
    let result = f();
    state.render(&shared.masker, &[]);
    result
}

impl Progress {
    /// A reporter on stdout. `Auto` picks the terminal renderer when stdout
    /// is a terminal (and `TERM` is not `dumb`), plain lines otherwise.
    pub fn new(mode: ProgressMode, masker: Arc<Masker>) -> Progress {
        let renderer = match mode {
            ProgressMode::Quiet => Renderer::Quiet,
            ProgressMode::Plain => Renderer::Plain,
            ProgressMode::Auto => {
                let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
                if io::stdout().is_terminal() && !dumb {
                    Renderer::Terminal(TerminalOptions {
                        width: None,
                        color: !super::logging::no_color_requested(),
                        animate: true,
                    })
                } else {
                    Renderer::Plain
                }
            }
        };
        let progress = Progress::with_writer(io::stdout(), renderer, masker);
        if matches!(renderer, Renderer::Terminal(_))
            && let Ok(mut live) = LIVE.lock()
        {
            *live = Some(Arc::downgrade(&progress.shared));
        }
        progress
    }

    /// A reporter writing to `out` with the given renderer (tests, or output
    /// to somewhere other than stdout).
    pub fn with_writer<W>(out: W, renderer: Renderer, masker: Arc<Masker>) -> Progress
    where
        W: Write + Send + 'static,
    {
        let shared = Arc::new(Shared {
            masker,
            renderer,
            state: Mutex::new(State {
                out: Box::new(out),
                renderer,
                running: Vec::new(),
                drawn: 0,
                frame: 0,
                planned: 0,
                finished: 0,
                started: Instant::now(),
                stages: Vec::new(),
                saw_up: false,
                saw_down: false,
            }),
        });
        if let Renderer::Terminal(TerminalOptions { animate: true, .. }) = renderer {
            spawn_ticker(Arc::downgrade(&shared));
        }
        Progress {
            shared,
            stage: None,
        }
    }

    /// A reporter that prints nothing.
    pub fn quiet() -> Progress {
        Progress::with_writer(io::sink(), Renderer::Quiet, Arc::new(Masker::disabled()))
    }

    /// A handle to the same display whose migration events belong to
    /// `stage` (shown as `[stage]`, counted in the stage's summary row).
    pub fn stage(&self, stage: &str) -> Progress {
        Progress {
            shared: Arc::clone(&self.shared),
            stage: Some(Arc::from(stage)),
        }
    }

    /// The renderer in use.
    pub fn renderer(&self) -> Renderer {
        self.shared.renderer
    }

    /// Adds `count` migrations to the total the progress bar counts
    /// towards (each stage adds its own pending count).
    pub fn add_planned(&self, count: usize) {
        if self.is_quiet() {
            return;
        }
        let mut state = self.shared.lock();
        state.planned += count;
        if matches!(state.renderer, Renderer::Terminal(_)) {
            state.render(&self.shared.masker, &[]);
        }
    }

    /// A migration started.
    pub fn migration_started(&self, version: u64, name: &str, direction: Direction) {
        if self.is_quiet() {
            return;
        }
        let label = label(self.stage.as_deref(), direction, version, name);
        let mut state = self.shared.lock();
        state.running.push(Running {
            stage: self.stage.clone(),
            version,
            direction,
            label: label.clone(),
            started: Instant::now(),
        });
        self.stage_row(&mut state);
        match state.renderer {
            Renderer::Plain => {
                let line = format!("{:<8}{label}", "start");
                state.render(&self.shared.masker, &[line]);
            }
            _ => state.render(&self.shared.masker, &[]),
        }
    }

    /// A migration ended.
    pub fn migration_finished(
        &self,
        version: u64,
        name: &str,
        direction: Direction,
        outcome: MigrationOutcome,
    ) {
        if self.is_quiet() {
            return;
        }
        let label = label(self.stage.as_deref(), direction, version, name);
        let mut state = self.shared.lock();
        if let Some(i) = state
            .running
            .iter()
            .position(|r| r.version == version && r.direction == direction && r.stage == self.stage)
        {
            state.running.remove(i);
        }
        state.finished += 1;
        match direction {
            Direction::Up => state.saw_up = true,
            Direction::Down => state.saw_down = true,
        }
        if let Some(row) = self.stage_row(&mut state) {
            match outcome {
                MigrationOutcome::Ok { .. } => row.ok += 1,
                MigrationOutcome::Failed { .. } => row.failed += 1,
                MigrationOutcome::Skipped { .. } => row.skipped += 1,
            }
        }
        let color = state.color();
        let lines = match state.renderer {
            Renderer::Terminal(_) => finished_lines_terminal(&label, &outcome, color),
            _ => finished_lines_plain(&label, &outcome),
        };
        state.render(&self.shared.masker, &lines);
    }

    /// A stage changed state; `duration` is how long it ran, when known.
    pub fn stage_state(&self, stage: &str, state: StageState, duration: Option<Duration>) {
        if self.is_quiet() {
            return;
        }
        let mut st = self.shared.lock();
        let row = match st.stages.iter().position(|r| r.name == stage) {
            Some(i) => &mut st.stages[i],
            None => {
                st.stages.push(StageRow::new(stage));
                let last = st.stages.len() - 1;
                &mut st.stages[last]
            }
        };
        row.state = state;
        if duration.is_some() {
            row.duration = duration;
        }
        let dur = duration
            .map(|d| format!(" ({})", format_duration(d)))
            .unwrap_or_default();
        let name = clean(stage);
        let line = match st.renderer {
            Renderer::Terminal(_) => {
                let color = st.color();
                let (symbol, code) = match state {
                    StageState::Pending => ("·", DIM),
                    StageState::Running => ("▶", CYAN),
                    StageState::Applied => ("✓", GREEN),
                    StageState::RolledBack => ("↩", GREEN),
                    StageState::Skipped => ("-", YELLOW),
                    StageState::Failed => ("✗", RED),
                };
                format!(
                    "{} {} {}{dur}",
                    paint(color, code, symbol),
                    paint(color, BOLD, &format!("[{name}]")),
                    paint(color, code, state.as_str()),
                )
            }
            _ => format!("{:<8}[{name}] {}{dur}", "stage", state.as_str()),
        };
        st.render(&self.shared.masker, &[line]);
    }

    /// Prints a free-form line (a plan line, a note) above the live area.
    /// Nothing in quiet mode.
    pub fn println(&self, text: &str) {
        if self.is_quiet() {
            return;
        }
        let mut state = self.shared.lock();
        let lines: Vec<String> = text.lines().map(clean).collect();
        state.render(&self.shared.masker, &lines);
    }

    /// The run ended: clears the live area, prints the stage table (if any
    /// stage was reported) and the totals line.
    pub fn run_finished(&self, summary: &RunSummary) {
        if self.is_quiet() {
            return;
        }
        let mut state = self.shared.lock();
        state.running.clear();
        state.planned = 0;
        state.finished = 0;
        let color = state.color();
        let mut lines = Vec::new();
        if !state.stages.is_empty() {
            lines.push(String::new());
            lines.extend(stage_table(&state.stages, color));
        }
        let verb = if state.saw_down && !state.saw_up {
            "rolled back"
        } else {
            "applied"
        };
        let head = if summary.failed > 0 {
            paint(color, RED, "FAILED:")
        } else {
            paint(color, GREEN, "done:")
        };
        lines.push(format!(
            "{head} {} {verb}, {} failed, {} skipped in {}",
            summary.applied,
            summary.failed,
            summary.skipped,
            format_duration(summary.duration)
        ));
        state.render(&self.shared.masker, &lines);
    }

    fn is_quiet(&self) -> bool {
        self.shared.renderer == Renderer::Quiet
    }

    /// This handle's stage row (created on first use), if it has a stage.
    fn stage_row<'s>(&self, state: &'s mut State) -> Option<&'s mut StageRow> {
        let stage = self.stage.as_deref()?;
        let i = match state.stages.iter().position(|r| r.name == stage) {
            Some(i) => i,
            None => {
                state.stages.push(StageRow::new(stage));
                state.stages.len() - 1
            }
        };
        state.stages.get_mut(i)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.clear_live();
    }
}

impl StageRow {
    fn new(name: &str) -> StageRow {
        StageRow {
            name: name.to_string(),
            state: StageState::Pending,
            duration: None,
            ok: 0,
            failed: 0,
            skipped: 0,
        }
    }
}

impl State {
    fn color(&self) -> bool {
        matches!(
            self.renderer,
            Renderer::Terminal(TerminalOptions { color: true, .. })
        )
    }

    fn width(&self) -> usize {
        match self.renderer {
            Renderer::Terminal(TerminalOptions {
                width: Some(width), ..
            }) => width,
            _ => terminal_size::terminal_size()
                .map(|(w, _)| usize::from(w.0))
                .filter(|w| *w > 0)
                .unwrap_or(80),
        }
    }

    /// Erases the live area (terminal renderer).
    fn clear_live(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out, "\x1b[{}A\r\x1b[J", self.drawn);
            let _ = self.out.flush();
            self.drawn = 0;
        }
    }

    /// Writes `lines` (masked) and, on a terminal, redraws the live area
    /// below them, in one write.
    fn render(&mut self, masker: &Masker, lines: &[String]) {
        let mut buf = String::new();
        let terminal = matches!(self.renderer, Renderer::Terminal(_));
        if terminal && self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn));
        }
        for line in lines {
            buf.push_str(&masker.mask(line));
            buf.push('\n');
        }
        let mut drawn = 0;
        if terminal {
            for line in self.live_lines() {
                buf.push_str(&masker.mask(&line));
                buf.push('\n');
                drawn += 1;
            }
        }
        self.drawn = drawn;
        if buf.is_empty() {
            return;
        }
        // Nowhere to report a failed write to stdout (a closed pipe).
        let _ = self.out.write_all(buf.as_bytes());
        let _ = self.out.flush();
    }

    fn live_lines(&self) -> Vec<String> {
        let color = self.color();
        // Leave the last column free: a line that fills it wraps on some
        // terminals and breaks the redraw.
        let width = self.width().saturating_sub(1).max(20);
        let now = Instant::now();
        let mut lines = Vec::new();
        for (i, item) in self.running.iter().enumerate() {
            let spin = SPINNER[(self.frame + i) % SPINNER.len()];
            let elapsed = format_duration(now.saturating_duration_since(item.started));
            let text = truncate(&format!("{}  {elapsed}", item.label), width - 2);
            lines.push(format!("{} {text}", paint(color, CYAN, &spin.to_string())));
        }
        if self.planned >= BAR_THRESHOLD && self.finished < self.planned {
            let tail = format!(
                " {}/{} migrations, {}",
                self.finished,
                self.planned,
                format_duration(now.saturating_duration_since(self.started))
            );
            let bar_width = width.saturating_sub(tail.chars().count() + 2).clamp(10, 40);
            let done = bar_width * self.finished.min(self.planned) / self.planned;
            let bar = format!(
                "{}{}",
                paint(color, GREEN, &"█".repeat(done)),
                paint(color, DIM, &"░".repeat(bar_width - done))
            );
            lines.push(format!("[{bar}]{tail}"));
        }
        lines
    }
}

fn spawn_ticker(shared: Weak<Shared>) {
    // Without the thread the display still updates on every event.
    let _ = std::thread::Builder::new()
        .name("apirun-progress".to_string())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                let mut state = shared.lock();
                if !state.running.is_empty() {
                    state.frame = state.frame.wrapping_add(1);
                    state.render(&shared.masker, &[]);
                }
            }
        });
}

/// `[stage] up 001 name`.
fn label(stage: Option<&str>, direction: Direction, version: u64, name: &str) -> String {
    let name = clean(name);
    match stage {
        Some(stage) => format!("[{}] {direction} {version:03} {name}", clean(stage)),
        None => format!("{direction} {version:03} {name}"),
    }
}

fn finished_lines_plain(label: &str, outcome: &MigrationOutcome) -> Vec<String> {
    match outcome {
        MigrationOutcome::Ok { status, duration } => {
            vec![format!(
                "{:<8}{label} ({})",
                "ok",
                ok_detail(status, *duration)
            )]
        }
        MigrationOutcome::Failed { error, duration } => {
            failed_lines(&format!("{:<8}{label}", "FAILED"), error, *duration)
        }
        MigrationOutcome::Skipped { reason } => {
            vec![format!("{:<8}{label}{}", "skipped", reason_suffix(reason))]
        }
    }
}

fn finished_lines_terminal(label: &str, outcome: &MigrationOutcome, color: bool) -> Vec<String> {
    match outcome {
        MigrationOutcome::Ok { status, duration } => vec![format!(
            "  {} {label} {}",
            paint(color, GREEN, "✓"),
            paint(color, DIM, &format!("({})", ok_detail(status, *duration)))
        )],
        MigrationOutcome::Failed { error, duration } => failed_lines(
            &format!("  {} {label}", paint(color, RED, "✗")),
            error,
            *duration,
        ),
        MigrationOutcome::Skipped { reason } => vec![format!(
            "  {} {label} {}{}",
            paint(color, YELLOW, "-"),
            paint(color, YELLOW, "skipped"),
            reason_suffix(reason)
        )],
    }
}

fn ok_detail(status: &str, duration: Duration) -> String {
    let status = clean(status.trim());
    if status.is_empty() {
        format_duration(duration)
    } else {
        format!("{status}, {}", format_duration(duration))
    }
}

fn reason_suffix(reason: &str) -> String {
    let reason = clean(reason.trim());
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {}", reason.replace('\n', "; "))
    }
}

fn failed_lines(head: &str, error: &str, duration: Duration) -> Vec<String> {
    let error = clean(error.trim());
    let mut parts = error.lines();
    let first = parts.next().unwrap_or("");
    let mut lines = vec![if first.is_empty() {
        format!("{head} ({})", format_duration(duration))
    } else {
        format!("{head} ({}): {first}", format_duration(duration))
    }];
    lines.extend(
        parts
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("    {l}")),
    );
    lines
}

fn stage_table(rows: &[StageRow], color: bool) -> Vec<String> {
    let name_width = rows
        .iter()
        .map(|r| clean(&r.name).chars().count())
        .chain([5])
        .max()
        .unwrap_or(5);
    // "rolled back" is wider than the other states.
    let state_width = rows
        .iter()
        .map(|r| r.state.as_str().len())
        .chain([7])
        .max()
        .unwrap_or(7);
    let mut lines = vec![format!(
        "{:<name_width$}  {:<state_width$}  {:>3}  {:>6}  {:>7}  time",
        "stage", "state", "ok", "failed", "skipped"
    )];
    for row in rows {
        let state = format!("{:<state_width$}", row.state.as_str());
        let state = match row.state {
            StageState::Applied | StageState::RolledBack => paint(color, GREEN, &state),
            StageState::Failed => paint(color, RED, &state),
            StageState::Skipped => paint(color, YELLOW, &state),
            StageState::Pending | StageState::Running => paint(color, DIM, &state),
        };
        let time = row
            .duration
            .map(format_duration)
            .unwrap_or_else(|| "-".to_string());
        lines.push(format!(
            "{:<name_width$}  {state}  {:>3}  {:>6}  {:>7}  {time}",
            clean(&row.name),
            row.ok,
            row.failed,
            row.skipped
        ));
    }
    lines
}

/// `120 ms`, `1.5 s`, `2m05s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 59_950 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let s = (ms + 500) / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Control characters (escape sequences from a server's error message, a
/// carriage return) would drive the terminal: they are shown escaped
/// (`\x1b`, `\r`; see [`super::escape`]). Newlines are kept, tabs become a
/// space.
fn clean(text: &str) -> String {
    super::escape::escape_control(text).replace('\t', " ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests;
