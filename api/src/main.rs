//! The `portal` command: serve the portal, manage staff accounts, rebuild read models,
//! run a sandbox on its own, measure.

use std::io::Read;
use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portal::{Application, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Δημοτική Διαδικτυακή Πύλη — the municipal e-services portal"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal (the default): creates the database if missing, migrates, builds
    /// the read models and starts the consumers.
    Serve,
    /// Staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// The event log's hash chains.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Open311 GeoReport v2 clients.
    Open311 {
        #[command(subcommand)]
        command: Open311Command,
    },
    /// The configuration (defaults, `config/portal.toml` or `PORTAL_CONFIG`, environment).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the OpenAPI document of the JSON API, as the code generates it (what
    /// `docs/openapi.json` holds: `portal openapi > docs/openapi.json`).
    Openapi,
    /// Run a sandbox of an external system on its own.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a clerk, auditor or admin; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
    /// List the staff accounts (e-mail, role, name, whether disabled).
    List,
    /// Disable a staff account: it cannot log in and its sessions end at once.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled staff account again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Give a staff account another role (clerk, auditor, admin); its sessions end.
    Role {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the settings in effect as TOML (the file's format), passwords and secrets
    /// redacted; exit status 1, after the settings, when they would not start the portal.
    Show,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Replay the event log from position 0 into fresh tables, then swap them in.
    Rebuild {
        /// One read model (default: all).
        name: Option<String>,
    },
    /// Each read model's and process manager's position, how far behind the log it is, and
    /// the event it is stuck on, if any (exit status 1 when one is stuck).
    #[command(alias = "list")]
    Status,
    /// Retry a stuck consumer now instead of after its backoff (running portals act on it).
    Retry {
        /// The consumer (see `status`).
        name: String,
    },
    /// Pass a stuck consumer over the event it cannot handle: an operator's decision,
    /// recorded with its reason; a rebuild passes over the same event.
    Skip {
        /// The consumer (see `status`).
        name: String,
        /// The position of the event it is stuck on (see `status`).
        #[arg(long)]
        position: i64,
        /// Why: kept as the record of the decision.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute and check the hash chain of one stream (by id) or of every stream
    /// (`--all`, with a progress bar); exit status 1 when one does not verify.
    Verify {
        /// Every stream of the log.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// One stream (a case, application, payment, … id).
        #[arg(required_unless_present = "all")]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum Open311Command {
    /// The API keys of the clients that file requests.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// A new key for a client: printed once on standard output (only its hash is kept).
    Add {
        /// The client's name (an app, a city tool), shown with the requests it files.
        #[arg(long)]
        name: String,
    },
    /// Every client: name, created, revoked (tab-separated).
    List,
    /// The client's key stops working at once.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// The protocol-system sandbox.
    Protocol {
        #[arg(long, default_value = "127.0.0.1:8091")]
        bind: SocketAddr,
    },
    /// The sandbox bank (VPOS redirect with digest): its card page, status endpoint and
    /// faults (`/_sandbox/faults`). Point the portal at it with `PORTAL_BANK_URL`, the same
    /// `PORTAL_BANK_MID` and `PORTAL_BANK_SECRET`.
    Bank {
        #[arg(long, default_value = "127.0.0.1:8093")]
        bind: SocketAddr,
        #[arg(long, env = "PORTAL_BANK_MID", default_value = portal::config::DEFAULT_BANK_MID)]
        mid: String,
        /// The shared secret of the digests.
        #[arg(long, env = "PORTAL_BANK_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// The sandbox fines-management system with its seeded register (`/_sandbox/fines`) and
    /// faults (`/_sandbox/faults`). Point the portal at it with `PORTAL_FINES_URL`.
    Fines {
        #[arg(long, default_value = "127.0.0.1:8094")]
        bind: SocketAddr,
    },
    /// The sandbox financial system (warrants to suppliers) with its seeded register
    /// (`/_sandbox/warrants`) and faults (`/_sandbox/faults`). Point the portal at it with
    /// `PORTAL_FINANCIAL_URL`.
    Financial {
        #[arg(long, default_value = "127.0.0.1:8096")]
        bind: SocketAddr,
    },
    /// The sandbox revenue system (municipal tax: declarations, certified debts) with its
    /// seeded register (`/_sandbox/businesses`), its clock (`/_sandbox/today`) and faults
    /// (`/_sandbox/faults`). Point the portal at it with `PORTAL_REVENUE_URL`.
    Revenue {
        #[arg(long, default_value = "127.0.0.1:8097")]
        bind: SocketAddr,
    },
    /// The mail sandbox: an SMTP sink, and HTTP to read what arrived (`GET /messages`) and
    /// set its faults (`PUT /faults`).
    Mail {
        #[arg(long, default_value = "127.0.0.1:2525")]
        smtp_bind: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8092")]
        http_bind: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // PORTAL_LOG_FORMAT=json: one JSON object per line, with the spans (the request's
    // method, path, request id and correlation id) in it, for a log collector.
    match std::env::var("PORTAL_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok("" | "text") | Err(_) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok(other) => {
            eprintln!("portal: PORTAL_LOG_FORMAT={other:?} is not a log format: use text or json");
            return std::process::ExitCode::FAILURE;
        }
    }
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The reason and its causes on one line, for the operator; no stack trace.
            eprintln!("portal: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::load()?;
            let app = Application::build(config).await?;
            tracing::info!(address = %app.address(), "the portal is listening");
            app.run().await.context("Server error")?;
        }
        Command::Staff {
            command: StaffCommand::Add { email, name, role },
        } => {
            let config = Config::load()?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("Failed to read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let id = portal::staff::add(&config, &email, &name, &role, password).await?;
            eprintln!("created {role} account {email} ({id})");
        }
        Command::Staff { command } => {
            let config = Config::load()?;
            match command {
                StaffCommand::Add { .. } => unreachable!("handled above"),
                StaffCommand::List => {
                    // Data, for a pipe: on standard output (messages go to standard error).
                    let table = portal::staff::list(&config).await?;
                    std::io::Write::write_all(&mut std::io::stdout(), table.as_bytes())
                        .context("Failed to write the list")?;
                }
                StaffCommand::Disable { email } => {
                    eprintln!("{}", portal::staff::disable(&config, &email, true).await?)
                }
                StaffCommand::Enable { email } => {
                    eprintln!("{}", portal::staff::disable(&config, &email, false).await?)
                }
                StaffCommand::Role { email, role } => {
                    eprintln!("{}", portal::staff::role(&config, &email, &role).await?)
                }
            }
        }
        Command::Openapi => {
            std::io::Write::write_all(&mut std::io::stdout(), portal::openapi::text().as_bytes())
                .context("Failed to write the document")?;
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            let (settings, file) = portal::config::Settings::load()?;
            let text =
                toml::to_string(&settings.redacted()).context("Failed to print the settings")?;
            let source = match &file {
                Some(file) => format!("the defaults, {file}, the environment"),
                None => format!(
                    "the defaults and the environment (no {})",
                    portal::config::DEFAULT_CONFIG_FILE
                ),
            };
            let unset = settings.unset().join(", ");
            // Data, for a pipe: on standard output (messages go to standard error).
            std::io::Write::write_all(
                &mut std::io::stdout(),
                format!(
                    "# The portal's settings, from {source}.\n{text}\
                     # Not set (an external system's address unset starts its sandbox): {unset}\n"
                )
                .as_bytes(),
            )
            .context("Failed to print the settings")?;
            Config::from_settings(&settings)?;
        }
        Command::Projections { command } => {
            let config = Config::load()?;
            let pool = portal::app::prepare_database(&config).await?;
            match command {
                ProjectionsCommand::Rebuild { name } => {
                    portal::operator::rebuild(&pool, name.as_deref()).await?
                }
                ProjectionsCommand::Status => portal::operator::status(&pool).await?,
                ProjectionsCommand::Retry { name } => portal::operator::retry(&pool, &name).await?,
                ProjectionsCommand::Skip {
                    name,
                    position,
                    reason,
                } => portal::operator::skip(&pool, &name, position, &reason).await?,
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { all, id },
        } => {
            let config = Config::load()?;
            let pool = portal::app::prepare_database(&config).await?;
            match (all, id) {
                (true, _) => portal::operator::verify_all(&pool).await?,
                (false, Some(id)) => portal::operator::verify_one(&pool, &id).await?,
                (false, None) => unreachable!("clap requires an id without --all"),
            }
        }
        Command::Open311 {
            command: Open311Command::Keys { command },
        } => {
            let config = Config::load()?;
            let pool = portal::app::prepare_database(&config).await?;
            match command {
                KeysCommand::Add { name } => {
                    let key = commands::open311::add_key(&pool, &name).await?;
                    // The key, for a pipe: on standard output (messages go to standard error).
                    std::io::Write::write_all(
                        &mut std::io::stdout(),
                        format!("{key}\n").as_bytes(),
                    )
                    .context("Failed to write the key")?;
                    eprintln!("a key for {name:?}: give it to the client; it is not shown again");
                }
                KeysCommand::List => {
                    let mut out = String::new();
                    for k in commands::open311::list_keys(&pool).await? {
                        out.push_str(&format!(
                            "{}\t{}\t{}\n",
                            k.name,
                            k.created_at.to_rfc3339(),
                            k.revoked_at.map_or("active".to_string(), |r| format!(
                                "revoked {}",
                                r.to_rfc3339()
                            ))
                        ));
                    }
                    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
                        .context("Failed to write the list")?;
                }
                KeysCommand::Revoke { name } => {
                    commands::open311::revoke_key(&pool, &name).await?;
                    eprintln!("the key of {name:?} no longer works");
                }
            }
        }
        Command::Sandbox {
            command: SandboxCommand::Protocol { bind },
        } => {
            let sandbox = sandboxes::protocol::ProtocolSandbox::new();
            let running = sandboxes::serve(sandbox.router(), bind).await?;
            eprintln!("protocol sandbox on {}", running.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Sandbox {
            command: SandboxCommand::Bank { bind, mid, secret },
        } => {
            let running = sandboxes::bank::BankSandbox::new(mid, secret)
                .start(bind)
                .await?;
            eprintln!("sandbox bank on {}", running.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Sandbox {
            command: SandboxCommand::Fines { bind },
        } => {
            let sandbox = sandboxes::fines::FinesSandbox::new();
            let running = sandboxes::serve(sandbox.router(), bind).await?;
            eprintln!("fines sandbox on {}", running.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Sandbox {
            command: SandboxCommand::Revenue { bind },
        } => {
            let sandbox = sandboxes::revenue::RevenueSandbox::new();
            let running = sandboxes::serve(sandbox.router(), bind).await?;
            eprintln!("revenue sandbox on {}", running.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Sandbox {
            command: SandboxCommand::Financial { bind },
        } => {
            let sandbox = sandboxes::financial::FinancialSandbox::new();
            let running = sandboxes::serve(sandbox.router(), bind).await?;
            eprintln!("financial sandbox on {}", running.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Sandbox {
            command:
                SandboxCommand::Mail {
                    smtp_bind,
                    http_bind,
                },
        } => {
            let running = sandboxes::mail::start(smtp_bind, http_bind).await?;
            eprintln!(
                "mail sandbox: SMTP on {}, messages at {}/messages",
                running.smtp_url(),
                running.base_url()
            );
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
