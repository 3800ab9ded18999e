//! `pmsctl`: hotels, partner tokens, webhook secrets, PMS calls, syncs and the DLQ.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pmsctl::{
    self as ctl, audit::AuditCommand, dlq::DlqCommand, hotel::HotelCommand, pms::PmsCommand,
    subscription::SubscriptionCommand, sync::SyncCommand, token::TokenCommand,
    webhook::WebhookCommand, CtlError,
};

#[derive(Debug, Parser)]
#[command(name = "pmsctl", version, about = "Operate the PMS integration layer")]
struct Cli {
    /// Local stack description written by `make dev` (used when TABLE_NAME etc. are not set).
    #[arg(
        long,
        global = true,
        default_value = ".local/stack.json",
        env = "PMS_STACK_FILE"
    )]
    stack_file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hotel configurations.
    #[command(subcommand)]
    Hotel(HotelCommand),
    /// Partner tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Asks a hotel's PMS through its adapter (reads; prints canonical JSON).
    #[command(subcommand)]
    Pms(PmsCommand),
    /// Dead-lettered writes: list, show, redrive, abandon.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Webhook secrets and partner provider keys (a hotel's ingestion credentials).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Sync now, backfill a date range, runs and watermarks, the sync DLQ.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// The audit log: PMS writes and what staff did.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Partner event subscriptions: signed webhooks of a hotel's events.
    #[command(subcommand)]
    Subscription(SubscriptionCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let stack_file = cli.stack_file.clone();
    let target = move || ctl::target(&stack_file);
    let result: Result<(), CtlError> = runtime.block_on(async move {
        match cli.command {
            Command::Hotel(cmd) => ctl::hotel::run(cmd, target).await,
            Command::Token(cmd) => ctl::token::run(cmd, target).await,
            Command::Pms(cmd) => ctl::pms::run(cmd, target).await,
            Command::Dlq(cmd) => ctl::dlq::run(cmd, target).await,
            Command::Webhook(cmd) => ctl::webhook::run(cmd, target).await,
            Command::Sync(cmd) => ctl::sync::run(cmd, target).await,
            Command::Audit(cmd) => ctl::audit::run(cmd, target).await,
            Command::Subscription(cmd) => ctl::subscription::run(cmd, target).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
