//! The `tessera` command line.

mod banner;
mod check;
mod clients;
mod commands;
mod factors;
mod format;
mod grants;
mod resources;
mod sessions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use banner::dev_banner;

use crate::config::{self, ConfigError};

/// Tessera: an OpenID Connect and OAuth 2.x token service.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without one, built-in defaults and TESSERA_* variables apply.
    #[arg(
        long,
        short,
        global = true,
        env = "TESSERA_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Add the demo configuration (clients, an API, a user) as `serve --dev` does: with `serve`,
    /// run it and print how to try it; with any other command, act on what that server uses.
    #[arg(long, global = true)]
    pub dev: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (with `--dev`, the demo configuration too).
    Serve,
    /// Apply pending database schema migrations and exit.
    Migrate,
    /// Validate the configuration and exit (non-zero when invalid; with `--dev`, as
    /// `serve --dev` would use it).
    CheckConfig,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage local user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// List and end single sign-on sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// List what a user allowed applications, and revoke it.
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// List, make and remove API scopes, APIs and identity resources.
    #[command(subcommand)]
    Resources(ResourcesCommand),
}

/// A kind of resource.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResourceKind {
    /// An API scope.
    ApiScope,
    /// An API (the audience of access tokens).
    ApiResource,
    /// A scope that releases user claims.
    IdentityResource,
}

impl ResourceKind {
    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiScope => "api-scope",
            Self::ApiResource => "api-resource",
            Self::IdentityResource => "identity-resource",
        }
    }

    /// The audit action of `verb` (`create`, `remove`) on it.
    pub fn action(self, verb: &str) -> &'static str {
        match (self, verb) {
            (Self::ApiScope, "create") => "api_scope.create",
            (Self::ApiScope, _) => "api_scope.remove",
            (Self::ApiResource, "create") => "api_resource.create",
            (Self::ApiResource, _) => "api_resource.remove",
            (Self::IdentityResource, "create") => "identity_resource.create",
            (Self::IdentityResource, _) => "identity_resource.remove",
        }
    }
}

/// `tessera resources ...`
#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// The scopes, APIs and identity resources in force, with where each comes from.
    List,
    /// Make one from a JSON file in the admin API's names (`-`: standard input); an API gets
    /// a generated secret for /introspect, printed once.
    Add {
        /// What to make.
        kind: ResourceKind,
        /// The JSON file.
        file: PathBuf,
    },
    /// Remove one made by the admin API or the CLI (a scope still used is kept).
    Remove {
        /// What to remove.
        kind: ResourceKind,
        /// Its name.
        name: String,
    },
}

/// `tessera grants ...`
#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// The applications a user's consent is remembered for, with their scopes.
    List {
        /// The user (login name).
        #[arg(long)]
        user: String,
    },
    /// End what a user allowed a client: the remembered consent and every code and token the
    /// user holds for it.
    Revoke {
        /// The user (login name).
        #[arg(long)]
        user: String,
        /// The client.
        #[arg(long)]
        client: String,
    },
}

/// `tessera sessions ...`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List live sessions, optionally of one user or one client.
    List {
        /// Only this user's sessions (login name).
        #[arg(long)]
        user: Option<String>,
        /// Only sessions a client signed in through.
        #[arg(long)]
        client: Option<String>,
    },
    /// End sessions: what belongs to them is revoked (refresh tokens of offline_access
    /// grants excepted) and their clients get back-channel logout.
    End {
        /// The session with this `sid`.
        #[arg(long)]
        sid: Option<String>,
        /// Every session of this user (login name).
        #[arg(long)]
        user: Option<String>,
        /// Every session a client signed in through.
        #[arg(long)]
        client: Option<String>,
    },
}

/// `tessera keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their status.
    List,
    /// Create new signing keys. They are published in JWKS at once and sign after the
    /// propagation time (`keys.propagation`), so relying parties learn them first.
    Rotate {
        /// Algorithm to rotate (repeatable); default: every configured algorithm.
        #[arg(long = "alg", value_name = "ALG")]
        algorithms: Vec<String>,
        /// Seconds until the new keys sign, instead of `keys.propagation`.
        #[arg(long, value_name = "SECONDS")]
        activate_in: Option<u32>,
        /// Allow an `--activate-in` shorter than the refresh interval plus the JWKS cache time
        /// (after a key compromise): relying parties may briefly fail to verify new tokens.
        #[arg(long)]
        force: bool,
    },
    /// Retire a key at once: it leaves JWKS, so nothing it signed verifies any more (after a
    /// compromise). The key that signs now is refused: rotate first (`--activate-in 0
    /// --force` makes the new key sign at once).
    Retire {
        /// The key's id (`tessera keys list`).
        kid: String,
    },
    /// Store every private key under the configured key-encryption key (or in clear when none
    /// is configured), opening those sealed under the previous one with `--from-key-file`.
    Reencrypt {
        /// A file holding the previous key-encryption key.
        #[arg(long, value_name = "FILE")]
        from_key_file: Option<PathBuf>,
    },
}

/// `tessera clients ...`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List registered clients.
    List,
    /// Print a client's registration as JSON (secrets never), ready to edit for `update`.
    Show {
        /// The client's id.
        client_id: String,
    },
    /// Register a client from a file in the names of `[[clients]]` (TOML by its `.toml`
    /// extension, JSON otherwise; `-` reads JSON from standard input). A client that
    /// authenticates with `client_secret_basic` or `client_secret_post` gets a generated
    /// secret, printed once.
    Add {
        /// The registration.
        file: PathBuf,
    },
    /// Replace a client's registration from a file, keeping its secrets.
    Update {
        /// The registration.
        file: PathBuf,
    },
    /// Remove a client: its tokens stop working.
    Remove {
        /// The client's id.
        client_id: String,
        /// Confirm the removal (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
    /// Give a client a new secret in place of its others, printed once.
    Secret {
        /// The client's id.
        client_id: String,
    },
}

/// `tessera users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (the password is asked for, or read from standard input).
    Add {
        /// Login name.
        username: String,
        /// A profile claim, NAME=VALUE; VALUE is JSON if it parses, else a string (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password.
    Passwd {
        /// Login name.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot sign in, and their sessions and tokens end now.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user again (what ended when they were disabled stays ended).
    Enable {
        /// Login name.
        username: String,
    },
    /// Delete a user with their sessions, tokens, consent, factors and links.
    Delete {
        /// Login name.
        username: String,
        /// Confirm the deletion (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
    /// List a user's second factors (never their secrets), or remove one (a lost phone or key).
    Factors {
        /// Login name.
        username: String,
        /// Remove the factor with this id.
        #[arg(long, value_name = "ID")]
        remove: Option<String>,
    },
    /// List a user's links to external identity providers, or remove one.
    Links {
        /// Login name.
        username: String,
        /// Remove the link to this provider (PROVIDER, or PROVIDER:UPSTREAM_SUBJECT when there
        /// are several).
        #[arg(long, value_name = "PROVIDER[:SUBJECT]")]
        remove: Option<String>,
    },
}

/// Exit status for an invalid configuration.
const EXIT_CONFIG: u8 = 2;

/// Parses the command line, runs the command, and turns failures into messages and exit codes:
/// 2 for configuration errors (and usage errors, from clap), 1 for everything else.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let dev = cli.dev;
    let config = match config::load(cli.config.as_deref(), dev) {
        Ok(c) => c,
        Err(e) => {
            report_config_error(cli.config.as_deref(), &e);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Command::CheckConfig = cli.command {
        check::report(&config);
        return ExitCode::SUCCESS;
    }
    let _telemetry = crate::telemetry::init(
        config.log_format,
        &config.log_level,
        config.operations.tracing.as_ref(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => crate::serve::run(config).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::CheckConfig => Ok(()),
            Command::Keys(cmd) => commands::keys(&config, cmd).await,
            Command::Clients(cmd) => clients::clients(&config, cmd).await,
            Command::Users(cmd) => commands::users(&config, cmd).await,
            Command::Sessions(cmd) => sessions::sessions(&config, cmd).await,
            Command::Grants(cmd) => grants::grants(&config, cmd).await,
            Command::Resources(cmd) => resources::resources(&config, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report_config_error(path: Option<&std::path::Path>, e: &ConfigError) {
    let origin = path.map_or_else(
        || "the configuration".to_string(),
        |p| p.display().to_string(),
    );
    match e {
        ConfigError::Read { .. } => eprintln!("tessera: {e}"),
        _ => eprintln!("tessera: {origin} is invalid:\n{e}"),
    }
}
