//! `frontdesk` command line: a thin shell over the library.
//!
//! This worktree only carries the FAQ commands (`faq match`, `faq eval`); the lead
//! merges them into the full CLI.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use frontdesk::faq::eval::{self, EvalOptions, Row};
use frontdesk::faq::{Decision, Matcher};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "Support front door for chat platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Knowledge base tools.
    #[command(subcommand)]
    Faq(FaqCommand),
}

#[derive(Subcommand)]
enum FaqCommand {
    /// Match one message against the knowledge base.
    Match(MatchArgs),
    /// Measure the matcher on labelled JSONL rows.
    Eval(EvalArgs),
}

#[derive(Args)]
struct KbSource {
    /// Knowledge base directory.
    #[arg(long, conflicts_with = "train")]
    faq: Option<PathBuf>,
    /// Build the knowledge base from JSONL rows {"text","label"} instead.
    #[arg(long)]
    train: Option<PathBuf>,
}

#[derive(Args)]
struct MatchArgs {
    #[command(flatten)]
    source: KbSource,
    #[arg(long)]
    json: bool,
    text: String,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    source: KbSource,
    /// Validation rows used to calibrate the refusal threshold (with --train).
    #[arg(long, requires = "train")]
    val: Option<PathBuf>,
    #[arg(long)]
    test: PathBuf,
    #[arg(long)]
    json: bool,
    /// Keep only the first N phrasings per label (few-phrasing experiments).
    #[arg(long)]
    max_phrasings: Option<usize>,
    /// Build without the synonym lexicon (to measure what it brings).
    #[arg(long)]
    no_lexicon: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Faq(FaqCommand::Match(args)) => faq_match(args),
        Command::Faq(FaqCommand::Eval(args)) => faq_eval(args),
    }
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(eval::parse_jsonl(&bytes, &path.display().to_string())?)
}

fn build(source: &KbSource, val: Option<&Path>, opts: &EvalOptions) -> Result<Matcher> {
    match (&source.train, &source.faq) {
        (Some(train), _) => {
            let train = read_rows(train)?;
            let val = val.map(read_rows).transpose()?;
            Ok(eval::build_matcher(&train, val.as_deref(), opts)?)
        }
        (None, Some(dir)) => bail!(
            "--faq {}: loading a knowledge base directory is not wired in this build yet; use --train",
            dir.display()
        ),
        (None, None) => bail!("give --train FILE.jsonl or --faq DIR"),
    }
}

fn faq_match(args: MatchArgs) -> Result<()> {
    let matcher = build(&args.source, None, &EvalOptions::default())?;
    let outcome = matcher.match_text(&args.text);
    let answer = match (&outcome.best, outcome.decision) {
        (Some(best), Decision::Answer) => matcher
            .kb()
            .entries
            .iter()
            .find(|e| e.id == best.entry_id)
            .map(|e| e.answer.get(outcome.language).to_string()),
        _ => None,
    };
    if args.json {
        let out = serde_json::json!({
            "decision": outcome.decision,
            "faq_id": outcome.best.as_ref().filter(|_| outcome.decision == Decision::Answer).map(|b| &b.entry_id),
            "score": outcome.best.as_ref().map_or(0.0, |b| b.confidence),
            "answer": answer,
            "suggestions": outcome.suggestions.iter().map(|c| serde_json::json!({"faq_id": c.entry_id, "score": c.confidence})).collect::<Vec<_>>(),
            "small_talk": outcome.small_talk,
            "language": outcome.language,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "decision: {:?} (language {})",
            outcome.decision, outcome.language
        );
        if let Some(kind) = outcome.small_talk {
            println!("small talk: {kind:?}");
        }
        if let Some(best) = &outcome.best {
            println!("best: {} ({:.3})", best.entry_id, best.confidence);
        }
        for s in &outcome.suggestions {
            println!("  did you mean: {} ({:.3})", s.entry_id, s.confidence);
        }
        if let Some(a) = answer {
            println!("answer: {a}");
        }
    }
    Ok(())
}

fn faq_eval(args: EvalArgs) -> Result<()> {
    let opts = EvalOptions {
        max_phrasings: args.max_phrasings,
        use_lexicon: !args.no_lexicon,
    };
    let test = read_rows(&args.test)?;
    let started = Instant::now();
    let matcher = build(&args.source, args.val.as_deref(), &opts)?;
    let train_time = started.elapsed();
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(test.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let started = Instant::now();
    let report = eval::evaluate(&matcher, &test, |done| {
        if done % 64 == 0 {
            bar.set_position(done as u64);
        }
    });
    bar.finish_and_clear();
    let eval_time = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let stats = matcher.stats();
    let t = matcher.thresholds();
    println!(
        "built: {} entries, {} phrasings, {} features, {} weights, {} calibration rows ({} folds) in {:.2?}",
        stats.entries, stats.phrasings, stats.features, stats.weights, stats.calibration_rows, stats.folds, train_time
    );
    println!(
        "thresholds: answer ≥ {:.3}, suggest ≥ {:.3}",
        t.answer, t.suggest
    );
    println!(
        "scored {} rows in {:.2?} ({:.0} msg/s incl. ranking twice for small talk)",
        report.n,
        eval_time,
        report.n as f64 / eval_time.as_secs_f64().max(1e-9)
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    println!("n              {}", report.n);
    println!("accuracy       {:.4}", report.accuracy);
    println!("answered       {:.4}", report.answered);
    println!("precision      {}", opt(report.precision));
    println!("oos_recall     {}", opt(report.oos_recall));
    println!("coverage_at_97 {:.4}", report.coverage_at_97);
    for (level, recall) in &report.curve {
        println!("  (diagnostic) oos_recall reachable at answered {level:.2}: {recall:.4}");
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
    Ok(())
}
