//! `frontdesk` command line: thin glue from arguments to the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use frontdesk::adapters::console::{ConsoleDesk, ConsoleSession, ConsoleTransport};
use frontdesk::app;
use frontdesk::config::Settings;
use frontdesk::decision::{decide, eval as door_eval, Verdict};
use frontdesk::domain::{Language, TicketNo, TicketState};
use frontdesk::faq::eval::{self, EvalOptions, Row};
use frontdesk::faq::matcher::MatcherOptions;
use frontdesk::faq::Matcher;
use frontdesk::metrics::{render, GroupBy, Period};
use frontdesk::metrics_worker;
use frontdesk::seed::SeedPlan;
use frontdesk::store::{Erasure, TicketFilter};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "Support front door for chat platforms"
)]
struct Cli {
    /// Settings file (default: ./frontdesk.toml if present). The environment wins over it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything configured: channels, workers, HTTP (health) server.
    Run,
    /// Talk to the bot as a customer from the terminal (reads stdin line by line).
    Chat {
        /// Customer name (one customer per name).
        #[arg(long, default_value = "console")]
        user: String,
        /// Preferred language when it cannot be told from the text (en or zh).
        #[arg(long)]
        lang: Option<Language>,
    },
    /// Work tickets as an agent from the terminal: `#12 /claim`, `#12 text…`, `/queue`.
    Desk {
        /// Agent name (shown to colleagues, stored as assignee and author).
        #[arg(long, default_value = "agent")]
        agent: String,
    },
    /// Knowledge base tools.
    Faq {
        #[command(subcommand)]
        command: FaqCommand,
    },
    /// Triage and the whole front door's decision.
    Triage {
        #[command(subcommand)]
        command: TriageCommand,
    },
    /// Read tickets from the store.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Service metrics of a period: first response, resolution, SLA, reopen rate, CSAT,
    /// first-contact resolution, bot deflection, backlog (SPEC §6).
    Report(ReportArgs),
    /// Fill the database with a synthetic history (benchmarks only).
    #[command(hide = true)]
    Seed {
        #[arg(long, default_value_t = 100_000)]
        tickets: u32,
        /// Spread the tickets over this many days before now.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Print the database's plans of `/queue` and of the report's queries (benchmarks:
    /// which indexes they use).
    #[command(hide = true)]
    Explain {
        /// The report period whose queries are explained.
        #[arg(long, default_value = "30d")]
        since: Period,
        /// Run the queries and show their timings (PostgreSQL `EXPLAIN ANALYZE`).
        #[arg(long)]
        analyze: bool,
    },
    /// Apply database migrations (`run` does too, on start) and print the schema version.
    Migrate,
    /// Customers' data (SPEC §7).
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Delete what retention (`[retention]`) calls old now — dedup keys, delivered
    /// messages, fired timers, web chats, expired console sessions — and print how many
    /// (`run` does it every hour).
    Prune,
    /// Check the deployment: database, settings, knowledge base, platforms, desk
    /// permissions. One line per check; exits 1 when there is a problem.
    Doctor,
    /// Write the whole database (tickets, customers, history, outbox, timers, …) as JSON
    /// lines, from one snapshot; e.g. to move from SQLite to PostgreSQL.
    Export {
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Load an export into the configured database, which must be new (no customers or
    /// tickets) and of the same schema version; all or nothing.
    Import {
        /// The file written by `frontdesk export` (`-` for standard input).
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Period ending now: today, Nd or Nh (7d, 30d, 12h).
    #[arg(long, default_value = "30d")]
    since: Period,
    /// Split by department, agent, platform or priority (one row each after the total).
    #[arg(long)]
    by: Option<GroupBy>,
    /// Per FAQ entry instead: shown, helped, escalated.
    #[arg(long, conflicts_with = "by")]
    faq: bool,
    /// CSV with a stable header.
    #[arg(long)]
    csv: bool,
    /// JSON rows with the CSV's field names.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
}

#[derive(Subcommand)]
enum TriageCommand {
    /// Score the front door (matcher + triage + decision) on labelled customer messages:
    /// JSONL rows {"text","category","priority","expect"}, expect = entry id or `ticket`.
    Eval {
        file: PathBuf,
        /// Knowledge base directory (default: FRONTDESK_FAQ_DIR or `faq`).
        #[arg(long)]
        faq: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum FaqCommand {
    /// Validate a knowledge base; prints `file:line: message` per problem.
    Check {
        /// Directory (default: FRONTDESK_FAQ_DIR or `faq`).
        dir: Option<PathBuf>,
    },
    /// List the entries.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show what the bot would do with a message.
    Match {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Triage as a VIP customer.
        #[arg(long)]
        vip: bool,
        /// The customer's message.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Measure the matcher on labelled JSONL rows ({"text","label"}; label `oos` = must escalate).
    Eval(EvalArgs),
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Knowledge base directory to measure.
    #[arg(long, conflicts_with = "train")]
    faq: Option<PathBuf>,
    /// Build the knowledge base from JSONL rows instead: one entry per label.
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation rows to calibrate the refusal threshold on (with --train).
    #[arg(long, requires = "train")]
    val: Option<PathBuf>,
    /// Test rows. Only measured, never used to set a threshold.
    #[arg(long, required_unless_present = "holdout")]
    test: Option<PathBuf>,
    /// With --faq: keep the first N phrasings per language of each entry and test on the
    /// others (how a few-phrasing knowledge base copes with customers' own words). Also
    /// reports the test rows with and without their own entry's keywords or patterns.
    #[arg(long, requires = "faq", conflicts_with = "test")]
    holdout: Option<usize>,
    #[arg(long)]
    json: bool,
    /// Keep only the first N phrasings per label (few-phrasing experiments).
    #[arg(long, conflicts_with = "shots")]
    max_phrasings: Option<usize>,
    /// Few-shot: build from K random phrasings per label of --train (`oos` rows all
    /// kept); --val and --test are untouched.
    #[arg(long, requires = "train")]
    shots: Option<usize>,
    /// Seed of the (first) few-shot draw.
    #[arg(long, default_value_t = 0, requires = "shots")]
    seed: u64,
    /// Number of few-shot draws (seeds S, S+1, …): figures are their means, with a
    /// "spread" of standard deviations.
    #[arg(long, default_value_t = 1, requires = "shots", value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Build without the synonym lexicon (to measure what it brings).
    #[arg(long)]
    no_lexicon: bool,
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Erase a customer's personal data on request: name, platform ids, message texts,
    /// web chat, unanswered questions, rating comments. Ticket numbers, states, times
    /// and scores stay, so reports do not change. Refused while a ticket of theirs is open.
    Purge {
        /// The customer as `platform:user_id`, e.g. `telegram:12345` (`tickets show N` prints both).
        who: String,
    },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// List tickets (open ones unless --all).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one ticket with its conversation and history.
    Show {
        /// Ticket number (`12` or `#12`).
        number: String,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("frontdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    let quiet = !matches!(cli.command, Command::Run);
    init_logging(&settings.log, quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Run => runtime
            .block_on(app::run(settings))
            .map(|_| ExitCode::SUCCESS),
        Command::Chat { user, lang } => runtime
            .block_on(chat(settings, user, lang))
            .map(|_| ExitCode::SUCCESS),
        Command::Desk { agent } => runtime
            .block_on(desk(settings, agent))
            .map(|_| ExitCode::SUCCESS),
        Command::Faq { command } => faq(settings, command),
        Command::Triage {
            command: TriageCommand::Eval { file, faq, json },
        } => triage_eval(settings, &file, faq, json),
        Command::Tickets { command } => runtime.block_on(tickets(settings, command)),
        Command::Report(args) => runtime.block_on(report(settings, args)),
        Command::Seed { tickets, days } => runtime.block_on(seed(settings, tickets, days)),
        Command::Explain { since, analyze } => runtime.block_on(explain(settings, since, analyze)),
        Command::Migrate => runtime.block_on(migrate(settings)),
        Command::Prune => runtime.block_on(prune(settings)),
        Command::Customer {
            command: CustomerCommand::Purge { who },
        } => runtime.block_on(purge_customer(settings, &who)),
        Command::Doctor => runtime.block_on(doctor(settings)),
        Command::Export { out } => runtime.block_on(export(settings, out)),
        Command::Import { file } => runtime.block_on(import(settings, file)),
    }
}

fn init_logging(filter: &str, quiet: bool) {
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| {
        if quiet {
            // The CLI's own output is the point; the driver's slow-statement notices (a
            // report over a whole year) are not.
            "warn,sqlx::query=error".into()
        } else {
            filter.to_string()
        }
    });
    // Serenity's warnings quote whole gateway payloads (customers' words, SPEC §7): only
    // its errors are logged unless the filter names it.
    let filter = if filter.contains("serenity") {
        filter
    } else {
        format!("{filter},serenity=error")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        // Personal data that slips into a line is masked (SPEC §7).
        .with_writer(frontdesk::redact::Masked(std::io::stderr))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn chat(settings: Settings, user: String, lang: Option<Language>) -> anyhow::Result<()> {
    let transport = Arc::new(ConsoleTransport::new(Box::new(std::io::stdout())));
    let app = app::build(settings, vec![transport.clone()]).await?;
    let session = ConsoleSession {
        user,
        language: lang,
        session_id: session_id(),
    };
    let deliver = deliverer(&app);
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    session
        .run(&app.service, &transport, stdin, deliver)
        .await?;
    Ok(())
}

async fn desk(settings: Settings, agent: String) -> anyhow::Result<()> {
    let transport = Arc::new(ConsoleTransport::for_desk(Box::new(std::io::stdout())));
    let app = app::build(settings, vec![transport]).await?;
    let session = ConsoleDesk {
        agent,
        session_id: session_id(),
    };
    let deliver = deliverer(&app);
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    session.run(&app.service, stdin, deliver).await?;
    Ok(())
}

/// Makes console dedup keys unique per session: the same line typed twice is two messages.
fn session_id() -> String {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .to_string()
}

/// Delivers everything due for the console, after each line a console session reads.
fn deliverer(
    app: &app::App,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let outbox = app.outbox.clone();
    move || {
        let outbox = outbox.clone();
        Box::pin(async move {
            if let Err(e) = outbox.drain().await {
                eprintln!("frontdesk: delivery paused: {e}");
            }
        })
    }
}

fn faq(settings: Settings, command: FaqCommand) -> anyhow::Result<ExitCode> {
    match command {
        FaqCommand::Check { dir } => {
            let dir = dir.unwrap_or(settings.faq_dir);
            let report = frontdesk::faq::kb::check_dir(&dir);
            let mut out = std::io::stdout().lock();
            for p in &report.problems {
                writeln!(out, "{p}")?;
            }
            let errors = report.errors().count();
            let warnings = report.warnings().count();
            match &report.kb {
                Some(kb) if errors == 0 => {
                    writeln!(
                        out,
                        "{}: ok, {} entries in {} topics ({warnings} warning(s))",
                        dir.display(),
                        kb.entries.len(),
                        kb.topics.len()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                _ => {
                    eprintln!("{errors} error(s), {warnings} warning(s)");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        FaqCommand::List { json, dir } => {
            let kb = app::load_knowledge(&dir.unwrap_or(settings.faq_dir))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&frontdesk::faq::kb::faq_list_json(&kb))?
                );
            } else {
                for e in &kb.entries {
                    let q = e.questions.first().map(|q| q.text.as_str()).unwrap_or("");
                    println!("{:<40} {:<14} {}", e.id, e.topic, q);
                }
                println!("{} entries", kb.entries.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        FaqCommand::Match {
            json,
            dir,
            vip,
            text,
        } => {
            let kb = app::load_knowledge(&dir.unwrap_or(settings.faq_dir.clone()))?;
            let triage = app::load_triage(&settings)?;
            let text = text.join(" ");
            let matcher = Matcher::new(Arc::new(kb));
            let outcome = matcher.match_text(&text);
            let triage = triage.classify(&text, vip);
            let door = decide(&outcome, &triage, matcher.kb());
            let answered = match &door.verdict {
                Verdict::Answer { entry, .. } => Some(entry.as_str()),
                _ => None,
            };
            let meanwhile = match &door.verdict {
                Verdict::Escalate { meanwhile } => meanwhile.as_deref(),
                _ => None,
            };
            let answer = answered
                .and_then(|id| matcher.kb().entries.iter().find(|e| e.id == id))
                .map(|e| e.answer.get(outcome.language).trim().to_string());
            let suggestions = match &door.verdict {
                Verdict::Suggest { entries } => entries.as_slice(),
                _ => &[],
            };
            if json {
                let report = serde_json::json!({
                    "decision": door.decision(),
                    "reason": door.reason,
                    "faq_id": answered,
                    "score": outcome.best.as_ref().map_or(0.0, |b| b.confidence),
                    "answer": answer,
                    "suggestions": suggestions.iter()
                        .map(|c| serde_json::json!({"faq_id": c.entry_id, "score": c.confidence}))
                        .collect::<Vec<_>>(),
                    "meanwhile": meanwhile,
                    "small_talk": outcome.small_talk,
                    "language": outcome.language,
                    "triage": triage,
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let best = match &outcome.best {
                    Some(b) => format!("{} (confidence {:.2})", b.entry_id, b.confidence),
                    None => "-".into(),
                };
                println!("decision: {:?}   best: {best}", door.decision());
                println!("reason: {}", door.reason);
                if let Some(kind) = outcome.small_talk {
                    println!("small talk: {kind:?}");
                }
                for s in suggestions {
                    println!("  did you mean: {} ({:.2})", s.entry_id, s.confidence);
                }
                if let Some(id) = meanwhile {
                    println!("meanwhile, this may help: {id}");
                }
                if let Some(answer) = answer {
                    println!("answer:\n{answer}");
                }
                println!(
                    "triage: {} / {} / {}{}",
                    triage.category,
                    triage.priority.label(),
                    triage.department,
                    if triage.notify_supervisors {
                        " (supervisors alerted)"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        FaqCommand::Eval(args) => faq_eval(args),
    }
}

fn triage_eval(
    settings: Settings,
    file: &Path,
    faq: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = door_eval::parse_jsonl(&text, &file.display().to_string())?;
    let kb = app::load_knowledge(&faq.unwrap_or(settings.faq_dir.clone()))?;
    let rules = app::load_triage(&settings)?;
    let matcher = Matcher::new(Arc::new(kb));
    let report = door_eval::evaluate(&matcher, &rules, &rows);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "{} rows: {} routine, {} for a person",
        report.n, report.routine, report.tickets
    );
    println!("category accuracy   {:.3}", report.category_accuracy);
    println!("priority accuracy   {:.3}", report.priority_accuracy);
    println!(
        "P1 recall           {:.3}  ({} P1 rows not escalated at once; triage calls {:.3} of P1 rows P1)",
        report.p1_recall, report.p1_missed, report.p1_triaged
    );
    println!("tickets escalated   {:.3}", report.escalated);
    println!("routine answered    {:.3}", report.routine_answered);
    println!("answer precision    {}", opt(report.answer_precision));
    println!(
        "suggestions hit     {}  ({} rows shown \"did you mean\")",
        opt(report.suggestions_hit),
        report.suggested
    );
    println!();
    println!("label    outcome          rows");
    for (label, outcomes) in &report.confusion {
        for (outcome, n) in outcomes {
            let outcome = serde_json::to_value(outcome)?;
            println!("{label:<8} {:<16} {n}", outcome.as_str().unwrap_or("?"));
        }
    }
    println!();
    println!("category (labelled → triaged)");
    for (want, got) in &report.category_confusion {
        let cells: Vec<String> = got.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("  {want:<12} {}", cells.join(", "));
    }
    println!();
    println!("worst rows");
    for s in &report.worst {
        let outcome = serde_json::to_value(s.outcome)?;
        println!(
            "  [{} {} {}] → {} {} ({}/{}; {})\n      {}",
            s.expect,
            s.category,
            s.priority.label(),
            outcome.as_str().unwrap_or("?"),
            s.entries.join(","),
            s.got_category,
            s.got_priority.label(),
            s.reason,
            s.text
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(eval::parse_jsonl(&bytes, &path.display().to_string())?)
}

fn faq_eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let opts = EvalOptions {
        max_phrasings: args.max_phrasings,
        use_lexicon: !args.no_lexicon,
    };
    let mut test = match &args.test {
        Some(path) => read_rows(path)?,
        None => Vec::new(),
    };
    let started = Instant::now();
    // One matcher per few-shot draw (one in all other cases).
    let mut matchers: Vec<Matcher> = Vec::new();
    let mut holdout = false;
    match (&args.train, &args.faq) {
        (Some(train), _) => {
            let train = read_rows(train)?;
            let val = args.val.as_deref().map(read_rows).transpose()?;
            match args.shots {
                Some(shots) => {
                    for seed in args.seed..args.seed.saturating_add(args.seeds) {
                        let draw = eval::few_shot(&train, shots, seed);
                        matchers.push(eval::build_matcher(&draw, val.as_deref(), &opts)?);
                    }
                }
                None => matchers.push(eval::build_matcher(&train, val.as_deref(), &opts)?),
            }
        }
        (None, Some(dir)) => {
            let mut kb = app::load_knowledge(dir)?;
            if let Some(keep) = args.holdout {
                let (kept, held_out) = eval::holdout_split(&kb, keep);
                anyhow::ensure!(
                    !held_out.is_empty(),
                    "--holdout {keep} leaves no phrasing to test on"
                );
                kb = kept;
                test = held_out;
                holdout = true;
            }
            let options = MatcherOptions {
                use_lexicon: opts.use_lexicon,
                ..MatcherOptions::default()
            };
            matchers.push(Matcher::with_options(Arc::new(kb), options));
        }
        (None, None) => anyhow::bail!("give --train FILE.jsonl or --faq DIR"),
    }
    let train_time = started.elapsed();
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((test.len() * matchers.len()) as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let started = Instant::now();
    let mut reports = Vec::with_capacity(matchers.len());
    for (i, matcher) in matchers.iter().enumerate() {
        let offset = i * test.len();
        reports.push(eval::evaluate(matcher, &test, |done| {
            if done % 64 == 0 {
                bar.set_position((offset + done) as u64);
            }
        }));
    }
    bar.finish_and_clear();
    let eval_time = started.elapsed();
    let (report, spread) = eval::mean_report(&reports).context("no matcher was built")?;
    let (with_keywords, without_keywords) = match (holdout, matchers.first()) {
        (true, Some(matcher)) => {
            let (with, without) = eval::split_by_own_cue(matcher, &test);
            let report = |rows: &[Row]| eval::evaluate(matcher, rows, |_| {});
            (Some(report(&with)), Some(report(&without)))
        }
        _ => (None, None),
    };
    let draws = args.shots.map(|_| matchers.len());
    let output = eval::EvalOutput {
        report,
        seeds: draws,
        spread: draws.map(|_| spread),
        with_keywords,
        without_keywords,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(matcher) = matchers.first() {
        let stats = matcher.stats();
        let t = matcher.thresholds();
        println!(
            "built: {} entries, {} phrasings, {} features, {} weights, {} calibration rows ({} folds) in {:.2?}",
            stats.entries, stats.phrasings, stats.features, stats.weights, stats.calibration_rows, stats.folds, train_time
        );
        println!(
            "thresholds: answer ≥ {:.3}, suggest when the buttons sum ≥ {:.3}",
            t.answer, t.suggest
        );
        println!("calibration: {:?}", matcher.calibrator());
    }
    let report = &output.report;
    println!(
        "scored {} rows in {:.2?} ({:.0} msg/s)",
        report.n * matchers.len(),
        eval_time,
        (report.n * matchers.len()) as f64 / eval_time.as_secs_f64().max(1e-9)
    );
    if let Some(n) = output.seeds {
        println!("means over {n} few-shot draws (± standard deviation)");
    }
    print_summary("", report, output.spread.as_ref());
    for (name, summary) in [
        ("with their keywords", &output.with_keywords),
        ("without their keywords", &output.without_keywords),
    ] {
        if let Some(summary) = summary {
            println!();
            println!("rows {name}:");
            print_summary("  ", summary, None);
        }
    }
    println!();
    println!(
        "{:<40} {:>5} {:>9} {:>9}",
        "worst labels", "n", "accuracy", "answered"
    );
    for (label, r) in report.worst_labels(10) {
        println!(
            "{:<40} {:>5} {:>9.3} {:>9.3}",
            label,
            r.n,
            r.accuracy.unwrap_or(0.0),
            r.answered
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The headline figures of a report, each with its standard deviation over few-shot
/// draws when there is a spread.
fn print_summary(indent: &str, r: &eval::EvalReport, spread: Option<&eval::Spread>) {
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    let sd = |v: Option<f64>| v.map_or(String::new(), |v| format!(" ± {v:.4}"));
    let of = |f: fn(&eval::Spread) -> Option<f64>| sd(spread.and_then(f));
    println!("{indent}n              {}", r.n);
    println!(
        "{indent}accuracy       {:.4}{}",
        r.accuracy,
        of(|s| Some(s.accuracy))
    );
    println!(
        "{indent}answered       {:.4}{}",
        r.answered,
        of(|s| Some(s.answered))
    );
    println!(
        "{indent}precision      {}{}",
        opt(r.precision),
        of(|s| s.precision)
    );
    println!(
        "{indent}oos_recall     {}{}",
        opt(r.oos_recall),
        of(|s| s.oos_recall)
    );
    println!(
        "{indent}coverage_at_97 {:.4}{}",
        r.coverage_at_97,
        of(|s| Some(s.coverage_at_97))
    );
}

async fn report(settings: Settings, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&settings.database_url).await?;
    let window = args.since.window(chrono::Utc::now());
    let report = metrics_worker::gather(store.as_ref(), &window, args.by).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.faq {
        let rows = render::faq_rows(&report);
        if args.csv {
            write!(out, "{}", render::csv(render::FAQ_CSV_HEADER, &rows)?)?;
        } else if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        } else {
            writeln!(out, "{}", render::human(&report))?;
        }
    } else if args.csv {
        write!(
            out,
            "{}",
            render::csv(render::CSV_HEADER, &render::rows(&report))?
        )?;
    } else if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&render::rows(&report))?
        )?;
    } else {
        writeln!(out, "{}", render::human(&report))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn seed(settings: Settings, tickets: u32, days: u32) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&settings.database_url).await?;
    let started = Instant::now();
    let plan = SeedPlan::new(tickets, days, chrono::Utc::now());
    let done = frontdesk::seed::seed(store.as_ref(), &plan).await?;
    println!(
        "seeded {} tickets ({} waiting for agents), {} customers, {} ratings, {} FAQ events in {:.1} s",
        done.tickets,
        done.active,
        done.customers,
        done.ratings,
        done.faq_events,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

async fn explain(settings: Settings, since: Period, analyze: bool) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&settings.database_url).await?;
    let window = since.window(chrono::Utc::now());
    for plan in store.query_plans(window.since, analyze).await? {
        println!("== {} ==\n{}\n", plan.name, plan.plan);
    }
    Ok(ExitCode::SUCCESS)
}

async fn tickets(settings: Settings, command: TicketsCommand) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&settings.database_url).await?;
    match command {
        TicketsCommand::List {
            json,
            all,
            state,
            limit,
        } => {
            let state = match state {
                Some(s) => Some(TicketState::parse(&s).with_context(|| {
                    format!(
                        "unknown state `{s}` (new, open, waiting_on_customer, resolved, closed)"
                    )
                })?),
                None => None,
            };
            let filter = TicketFilter {
                state,
                customer: None,
                active_only: !all && state.is_none(),
                limit: Some(limit),
                ..TicketFilter::default()
            };
            let tickets = store.list_tickets(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tickets)?);
            } else if tickets.is_empty() {
                println!("no tickets");
            } else {
                for t in &tickets {
                    println!(
                        "{:<6} {:<2} {:<20} {:<12} {:<12} {}",
                        t.no.to_string(),
                        t.priority.label(),
                        t.state.as_str(),
                        t.category.as_str(),
                        t.assignee.as_deref().unwrap_or("-"),
                        t.subject
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TicketsCommand::Show { number, json } => {
            let no: TicketNo = number.parse()?;
            let Some(details) = store.ticket_details(no).await? else {
                eprintln!("ticket {no} not found");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&details)?);
            } else {
                let t = &details.ticket;
                println!(
                    "{} {} · {} · {} · {}",
                    t.no,
                    t.subject,
                    t.state.as_str(),
                    t.priority.label(),
                    t.category
                );
                println!(
                    "customer: {} ({} {}) · department: {} · assignee: {}",
                    details.customer.display_name,
                    details.customer.platform,
                    details.customer.user_id,
                    t.department,
                    t.assignee.as_deref().unwrap_or("-")
                );
                println!(
                    "first response due {} · resolution due {}",
                    t.first_response_due.format("%Y-%m-%d %H:%M UTC"),
                    t.resolution_due.format("%Y-%m-%d %H:%M UTC")
                );
                println!("\nconversation:");
                for m in &details.messages {
                    println!(
                        "  {} [{}] {}: {}",
                        m.at.format("%m-%d %H:%M"),
                        m.direction.as_str(),
                        m.author,
                        m.text
                    );
                    for a in &m.attachments {
                        println!("      + {} {}", a.kind, a.reference);
                    }
                }
                println!("\nhistory:");
                for e in &details.events {
                    println!(
                        "  {} {} by {}: {}",
                        e.at.format("%m-%d %H:%M"),
                        e.kind,
                        e.actor,
                        e.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&settings.database_url).await?;
    let version = store.schema_version().await?;
    println!(
        "database {}: migrated, schema version {}",
        frontdesk::config::redact_url(&settings.database_url),
        version.unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}

async fn prune(settings: Settings) -> anyhow::Result<ExitCode> {
    if !settings.retention.enabled {
        println!("retention is off ([retention] enabled = false): nothing deleted");
        return Ok(ExitCode::SUCCESS);
    }
    let store = app::open_store(&settings.database_url).await?;
    let housekeeper = frontdesk::housekeeping::Housekeeper::new(
        store,
        Arc::new(frontdesk::ports::SystemClock),
        settings.retention.clone(),
    );
    let p = housekeeper.run_once().await?;
    println!(
        "deleted {} inbound keys, {} delivered messages, {} settled timers, {} web chat messages, {} console sessions; erased the texts of {} closed tickets",
        p.inbound_keys, p.outbox, p.timers, p.web_messages, p.console_sessions, p.ticket_texts
    );
    Ok(ExitCode::SUCCESS)
}

async fn purge_customer(settings: Settings, who: &str) -> anyhow::Result<ExitCode> {
    let Some((platform, user_id)) = who
        .split_once(':')
        .and_then(|(p, id)| Some((p.parse::<frontdesk::domain::Platform>().ok()?, id)))
        .filter(|(_, id)| !id.is_empty())
    else {
        eprintln!("frontdesk: `{who}` must look like `telegram:12345` (platform:user_id)");
        return Ok(ExitCode::from(2));
    };
    let store = app::open_store(&settings.database_url).await?;
    let now = chrono::Utc::now();
    match store.erase_customer(platform, user_id, now).await? {
        Erasure::Erased(e) => {
            println!(
                "erased customer {who} (now customer {}): {} tickets, {} messages, {} rating comments, \
                 {} unanswered questions, {} web chat messages, {} outbox items",
                e.customer,
                e.tickets,
                e.messages,
                e.rating_comments,
                e.unanswered,
                e.web_messages,
                e.outbox
            );
            println!(
                "copies outside frontdesk (the customer's chat, the desk's threads on the platform) \
                 are not touched"
            );
            Ok(ExitCode::SUCCESS)
        }
        Erasure::NoSuchCustomer => {
            eprintln!("frontdesk: no customer {who} (erased already, or never wrote)");
            Ok(ExitCode::FAILURE)
        }
        Erasure::OpenTickets(open) => {
            let list: Vec<String> = open.iter().map(|n| format!("#{}", n.0)).collect();
            eprintln!(
                "frontdesk: {who} has open tickets {}: they must be closed first (a resolved ticket closes by itself once confirmed or after its confirmation window); nothing was erased",
                list.join(", ")
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn export(settings: Settings, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = app::open_transfer(&settings.database_url).await?;
    let summary = match &out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            store.export(&mut writer).await?
        }
        None => {
            let mut writer = std::io::BufWriter::new(std::io::stdout());
            store.export(&mut writer).await?
        }
    };
    eprintln!(
        "exported {} rows of {} tables (schema version {}) from {}",
        summary.rows(),
        summary.tables.len(),
        summary.schema_version,
        frontdesk::config::redact_url(&settings.database_url)
    );
    Ok(ExitCode::SUCCESS)
}

async fn import(settings: Settings, file: PathBuf) -> anyhow::Result<ExitCode> {
    let store = app::open_transfer(&settings.database_url).await?;
    let summary = if file.as_os_str() == "-" {
        let mut input = std::io::BufReader::new(std::io::stdin());
        store.import(&mut input).await
    } else {
        let f =
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        store.import(&mut std::io::BufReader::new(f)).await
    }
    .context("import failed; nothing was written")?;
    for (table, rows) in &summary.tables {
        println!("{table}: {rows}");
    }
    println!(
        "imported {} rows of {} tables into {}",
        summary.rows(),
        summary.tables.len(),
        frontdesk::config::redact_url(&settings.database_url)
    );
    Ok(ExitCode::SUCCESS)
}

async fn doctor(settings: Settings) -> anyhow::Result<ExitCode> {
    let checks = frontdesk::doctor::check(&settings).await;
    let problems = checks.iter().filter(|c| c.is_problem()).count();
    for check in &checks {
        println!("{check}");
    }
    if problems == 0 {
        println!("all {} checks passed", checks.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{problems} problem(s) found");
        Ok(ExitCode::FAILURE)
    }
}
