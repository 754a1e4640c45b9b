//! The `hi-outreach` command: demo | serve | migrate | user | token.
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hi_outreach::auth::actor::Actor;
use hi_outreach::auth::{tokens, users};
use hi_outreach::config::{ConfigError, DatabaseUrl, SecretKey, Settings};
use hi_outreach::fields::{Email, NewPassword};
use hi_outreach::{db, demo, telemetry, Application};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

/// mimalloc: the worker's many short-lived allocations (a request, a body, a row each message)
/// cost less than with the system allocator (17% more messages a second in the dispatch
/// benchmark, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hi-outreach",
    version,
    about = "Outreach about Vietnam's student health insurance"
)]
struct Cli {
    /// A TOML file of settings (environment variables HIO_* override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database URL (overrides HIO_DATABASE_URL), e.g. sqlite://data/hi-outreach.db or
    /// postgres://user@127.0.0.1/hio.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A fresh SQLite database with demo data, served on 127.0.0.1:8080.
    Demo {
        /// Keep an existing demo database instead of starting fresh.
        #[arg(long)]
        keep: bool,
    },
    /// Serve the platform (migrates the database first unless --no-migrate).
    Serve {
        #[arg(long)]
        no_migrate: bool,
        /// Do not run the delivery worker in this process (run `worker` elsewhere).
        #[arg(long)]
        no_worker: bool,
        /// Do not run the scheduler of waves and reminder rules in this process (run
        /// `scheduler` elsewhere).
        #[arg(long)]
        no_scheduler: bool,
    },
    /// Run only the delivery worker (no web server).
    Worker,
    /// Run only the scheduler of waves and reminder rules (no web server).
    Scheduler,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill an empty database with a synthetic country (communes, schools, students with
    /// Vietnamese names, parents, consent, enrollment figures), for load tests and benchmarks.
    Generate {
        /// small: 20,000 students; province: 600,000; national: 45,000 schools and 20,000,000
        /// students.
        #[arg(long, value_enum)]
        scale: hi_outreach::generate::Scale,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Statistical analyses on exported data (no database needed).
    Analyze {
        #[command(subcommand)]
        analysis: Analysis,
    },
}

#[derive(Subcommand)]
enum Analysis {
    /// Staggered difference-in-differences (Callaway & Sant'Anna 2021) on a panel CSV with
    /// columns unit,period,outcome,first_treated (0 = never treated); prints JSON.
    Did {
        /// The panel CSV.
        #[arg(long, value_name = "FILE.csv")]
        panel: PathBuf,
        /// Comparison units: `never` (never treated) or `notyet` (not yet treated).
        #[arg(long, default_value = "never", value_parser = ["never", "notyet"])]
        control: String,
        /// Cluster standard errors on this column (e.g. province).
        #[arg(long, value_name = "COLUMN")]
        cluster: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// admin, staff or liaison.
        #[arg(long)]
        role: String,
        /// For staff scoped to one province: its code (e.g. 79).
        #[arg(long)]
        province: Option<String>,
        /// For liaisons: a school id (repeat for several schools).
        #[arg(long = "school")]
        schools: Vec<i64>,
        /// Display name (defaults to the part of the e-mail before @).
        #[arg(long)]
        name: Option<String>,
        /// vi or en.
        #[arg(long, default_value = "vi")]
        language: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create an API token for a user and print it (shown once).
    Create {
        /// The user's e-mail.
        #[arg(long)]
        user: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
    },
}

/// A failure and the exit code it deserves: 2 for bad settings or arguments, 1 otherwise.
struct Failure(u8, String);

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure(2, e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure(1, format!("{e:#}"))
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        Failure(1, format!("database: {e}"))
    }
}

impl From<hi_outreach::error::AppError> for Failure {
    fn from(e: hi_outreach::error::AppError) -> Self {
        use hi_outreach::error::AppError;
        let i18n = hi_outreach::web::i18n::I18n::load().ok();
        let text = match (&e, &i18n) {
            (AppError::Invalid(fields), Some(i18n)) => fields
                .0
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.field,
                        i18n.msg(hi_outreach::web::i18n::Lang::En, &f.msg)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => e.to_string(),
        };
        Failure(1, text)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Demo { .. } | Command::Serve { .. } | Command::Worker | Command::Scheduler
    ) {
        keep_pages_small();
    }
    hi_outreach::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// Long-running processes (the server, the worker, the scheduler, the demo) keep off the
/// kernel's transparent huge pages, where a 2 MiB page once touched stays resident whole: on
/// national data the server held 53 MiB 5 s after a load of the campaign page with them, 39 MiB
/// without, at the same speed (BENCHMARKS.md). mimalloc is built not to ask for them for its
/// arena (its `no_thp` feature), which is enough where the kernel gives them only when asked
/// (`madvise`); where it gives them to every process (`always`), the process turns them off for
/// itself here. Any `MIMALLOC_ALLOW_THP` in the environment leaves that to mimalloc.
fn keep_pages_small() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of the process.
        // It fails only on kernels without it, which then keep their own setting.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings, Failure> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database {
        settings.database_url = DatabaseUrl::parse(url)
            .map_err(|e| Failure(2, format!("invalid configuration: --database: {e}")))?;
    }
    Ok(settings)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Analyze { analysis } = &cli.command {
        return analyze(analysis);
    }
    let mut settings = load_settings(&cli)?;
    match cli.command {
        Command::Analyze { .. } => unreachable!("handled above"),
        Command::Demo { keep } => {
            let default_url = Settings::default().database_url;
            if settings.database_url == default_url {
                settings.database_url = DatabaseUrl::parse(demo::DEMO_DATABASE_URL).expect("valid");
                if !keep {
                    demo::remove_sqlite_files(demo::DEMO_DATABASE_FILE)?;
                }
            }
            if settings.secret_key.is_none() {
                settings.secret_key = Some(SecretKey::generate());
            }
            telemetry::init(&settings);
            let db = db::connect(&settings.database_url, settings.database_max_connections).await?;
            db::migrate(&db).await?;
            let accounts = demo::seed(&db, &settings).await?;
            let app = Application::build(settings.clone(), db).await?;
            println!("hi-outreach demo");
            println!("  database: {}", settings.database_url.redacted());
            println!("  open:     {}", settings.base());
            for a in &accounts {
                println!("  {:<8} {}  password: {}", a.role, a.email, a.password);
            }
            println!(
                "  (use HIO_DATABASE_URL={} with `user create` or `token create` against this database)",
                settings.database_url.redacted()
            );
            app.run_until_stopped()
                .await
                .map_err(|e| Failure(1, e.to_string()))?;
        }
        Command::Worker => {
            telemetry::init(&settings);
            let db = db::connect(&settings.database_url, settings.database_max_connections).await?;
            db::migrate(&db).await?;
            hi_outreach::run_background(settings, db, true, false).await?;
        }
        Command::Scheduler => {
            telemetry::init(&settings);
            let db = db::connect(&settings.database_url, settings.database_max_connections).await?;
            db::migrate(&db).await?;
            hi_outreach::run_background(settings, db, false, true).await?;
        }
        Command::Serve {
            no_migrate,
            no_worker,
            no_scheduler,
        } => {
            if no_worker {
                settings.worker_enabled = false;
            }
            if no_scheduler {
                settings.scheduler_enabled = false;
            }
            if settings.secret_key.is_none() {
                return Err(Failure(
                    2,
                    "invalid configuration: setting `secret_key` (environment HIO_SECRET_KEY) is required to serve; \
                     generate one with `openssl rand -base64 48`"
                        .into(),
                ));
            }
            telemetry::init(&settings);
            let db = db::connect(&settings.database_url, settings.database_max_connections).await?;
            if !no_migrate {
                db::migrate(&db).await?;
            }
            let app = Application::build(settings.clone(), db).await?;
            tracing::info!(address = %settings.bind, port = app.port(), "serving");
            app.run_until_stopped()
                .await
                .map_err(|e| Failure(1, e.to_string()))?;
        }
        Command::Migrate => {
            let db = db::connect(&settings.database_url, 1).await?;
            db::migrate(&db).await?;
            println!("migrations applied to {}", settings.database_url.redacted());
        }
        Command::Generate { scale } => {
            let db = db::connect(&settings.database_url, 2).await?;
            db::migrate(&db).await?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} {msg:<22} [{bar:30}] {pos}/{len}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            let started = std::time::Instant::now();
            let made = hi_outreach::generate::generate(&db, scale, &mut |step, done, all| {
                bar.set_message(step.to_string());
                bar.set_length(all as u64);
                bar.set_position(done as u64);
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "generated in {:.1} s: {} communes, {} schools, {} students, {} parents, {} consent records, {} enrollment figures",
                started.elapsed().as_secs_f64(),
                made.communes,
                made.schools,
                made.students,
                made.guardians,
                made.consents,
                made.snapshots
            );
        }
        Command::User {
            action:
                UserAction::Create {
                    email,
                    role,
                    province,
                    schools,
                    name,
                    language,
                },
        } => {
            let db = db::connect(&settings.database_url, 2).await?;
            db::migrate(&db).await?;
            let school_codes: Vec<String> = if schools.is_empty() {
                Vec::new()
            } else {
                let found: Vec<(i64, String)> = hi_outreach::org::entity::school::Entity::find()
                    .select_only()
                    .column(hi_outreach::org::entity::school::Column::Id)
                    .column(hi_outreach::org::entity::school::Column::Code)
                    .filter(hi_outreach::org::entity::school::Column::Id.is_in(schools.clone()))
                    .into_tuple()
                    .all(&db.conn)
                    .await?;
                if let Some(missing) = schools
                    .iter()
                    .find(|id| !found.iter().any(|(f, _)| f == *id))
                {
                    return Err(Failure(2, format!("--school: no school with id {missing}")));
                }
                found.into_iter().map(|(_, code)| code).collect()
            };
            let display =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
            let draft = users::UserDraft {
                email,
                display_name: display,
                role,
                province_code: province,
                school_codes,
                language: Some(language),
                active: true,
            };
            let input = users::validate(&db.conn, &draft).await?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                Failure(
                    1,
                    format!("cannot read the password from standard input: {e}"),
                )
            })?;
            let password = NewPassword::parse(line.trim_end_matches(['\r', '\n']))
                .map_err(|m| Failure(2, format!("password: {}", english(&m))))?;
            let created = users::create(&db, &Actor::cli(), input, password).await?;
            println!(
                "created user {} ({}, id {})",
                created.email,
                created.role.as_str(),
                created.id
            );
        }
        Command::Token {
            action: TokenAction::Create { user, name },
        } => {
            let db = db::connect(&settings.database_url, 2).await?;
            db::migrate(&db).await?;
            let email =
                Email::parse(&user).map_err(|m| Failure(2, format!("--user: {}", english(&m))))?;
            let owner = users::find_by_email(&db, &email)
                .await?
                .ok_or_else(|| Failure(2, format!("--user: no user with e-mail {email}")))?;
            let (secret, info) = tokens::create(&db, &Actor::cli(), owner.id, &name).await?;
            eprintln!("token {} created for {email}; it is shown once:", info.id);
            println!("{secret}");
        }
    }
    Ok(())
}

fn analyze(analysis: &Analysis) -> Result<(), Failure> {
    use hi_outreach::analytics::{
        read_panel_csv, staggered_did, ControlGroup, PanelCsvOptions, StaggeredOptions,
    };
    match analysis {
        Analysis::Did {
            panel,
            control,
            cluster,
        } => {
            let file = std::fs::File::open(panel).map_err(|e| {
                Failure(2, format!("--panel: cannot open {}: {e}", panel.display()))
            })?;
            let options = PanelCsvOptions {
                cluster_column: cluster.clone(),
                ..Default::default()
            };
            let build = read_panel_csv(std::io::BufReader::new(file), &options)
                .map_err(|e| Failure(2, format!("--panel {}: {e}", panel.display())))?;
            let control_group = if control == "notyet" {
                ControlGroup::NotYetTreated
            } else {
                ControlGroup::NeverTreated
            };
            let analysis = staggered_did(
                &build.panel,
                &StaggeredOptions {
                    control_group,
                    cluster: cluster.is_some(),
                },
            )
            .map_err(|e| Failure(1, e.to_string()))?;
            // The JSON contract goes to standard output; caveats in plain words to standard error.
            for w in build.warnings.iter().chain(&analysis.warnings) {
                eprintln!("warning: {}", w.message);
            }
            println!("{}", analysis.result_json());
            Ok(())
        }
    }
}

fn english(msg: &hi_outreach::error::Msg) -> String {
    match hi_outreach::web::i18n::I18n::load() {
        Ok(i18n) => i18n.msg(hi_outreach::web::i18n::Lang::En, msg),
        Err(_) => msg.key.to_string(),
    }
}
