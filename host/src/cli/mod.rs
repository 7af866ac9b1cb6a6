//! The `ikanos` command line: `validate`, `lint`, `new`, `run` and `serve`.
//!
//! Owns: arguments, exit codes and what a person sees on the terminal. Must not touch:
//! the work itself, which lives in the library modules it calls.

mod lint;
mod new;
mod package;
mod run;
mod serve;
mod signals;
mod validate;
#[cfg(feature = "ziti")]
mod ziti;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "ikanos",
    version,
    about = "Run Ikanos capabilities as sandboxed WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check capability files: structure, references, binds and paths, and
    /// upstream's JSON Schema (`ikanos-schema.json`, built in).
    ///
    /// Prints every problem as `file:line:col: message`; exits 0 when all files are
    /// clean (warnings allowed), 1 otherwise. Upstream schema violations are warnings
    /// (this host runs files the schema does not allow: older `ikanos` versions, SSH
    /// tunnels) unless --strict-schema makes them errors, as upstream's `validate`.
    ///
    /// As upstream's `validate FILE [VERSION]`, a last argument that looks like a
    /// version (digits first, not a file) selects the schema `ikanos-schema-vVERSION.json`;
    /// this build has only the default one, so a version is refused (exit 1).
    #[command(verbatim_doc_comment)]
    Validate {
        /// Report upstream JSON Schema violations as errors (exit 1), as upstream's
        /// `ikanos validate` does.
        #[arg(long)]
        strict_schema: bool,
        /// Capability files to check, optionally followed by upstream's schema VERSION.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check capability files against upstream's lint rules (Spectral's
    /// `ikanos-rules.yml`: same names, severities and verdicts) and two of this host's.
    ///
    /// The rules read each file's YAML document as written, as Spectral does, so a
    /// file that does not load is linted too; its load problems are printed with the
    /// findings as `file:line:col: error validate: message`. The tunnels of consumes
    /// entries imported from other files are checked in those files. Load warnings of a
    /// file that loads are `ikanos validate`'s to show, not repeated here.
    ///
    /// Output: one finding per line on stdout, sorted by file, line and column,
    ///   file:line:col: SEVERITY RULE: message
    /// (SEVERITY is error, warning, info or hint), and one summary line per file
    /// on stderr.
    ///
    /// Exit status: 0 when no finding is an error (warnings and infos allowed);
    /// 1 when a finding is an error or a file does not load.
    #[command(verbatim_doc_comment, after_long_help = lint::rules_help())]
    Lint {
        /// Also run the rules upstream marks `recommended: false` (as Spectral does with
        /// `extends: [[ikanos-rules.yml, all]]`).
        #[arg(long)]
        all: bool,
        /// Capability files to lint.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Create a capability project: a capability file, its component's source in the
    /// chosen language with that language's guest SDK and the WIT contract copied in,
    /// secrets.yaml and an executable `./build` that writes NAME.wasm beside the file.
    ///
    ///   ikanos new crm --lang python && cd crm && ./build && ikanos run crm.ikanos.yaml
    ///
    /// The folder NAME (under --dir, default the working directory) must not exist.
    #[command(verbatim_doc_comment)]
    New {
        /// The capability's name: lowercase letters, digits and '-'.
        name: String,
        /// The language of its component.
        #[arg(long, value_enum, default_value = "rust")]
        lang: new::Lang,
        /// Where to create the NAME folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Push a capability to an OCI registry as an artifact: its file, its component
    /// and its other files, never a file a bind reads.
    ///
    ///   ikanos push crm/ oci://registry.example/team/crm:1.2
    ///
    /// What travels: every file under the capability file's folder except hidden ones,
    /// those `.ikanosignore` (gitignore syntax) leaves out, and bind files; the component
    /// (found as `ikanos run` finds it, or --component) travels as NAME.wasm. The list is
    /// printed; the capability must load from exactly those files. Prints the digest.
    #[command(verbatim_doc_comment)]
    Push {
        /// The capability file, or the folder holding it.
        path: PathBuf,
        /// Where to: oci://REGISTRY/NAME:TAG.
        reference: String,
        /// The component (.wasm), when it is not NAME.wasm beside the file.
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
        /// Print what would travel; contact no registry.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pull a capability artifact into a folder (its digest checked), ready for
    /// `ikanos run`; files beside it (bind files) are left as they are.
    Pull {
        /// oci://REGISTRY/NAME:TAG or oci://REGISTRY/NAME@sha256:DIGEST.
        reference: String,
        /// Where to write it. Default: ./NAME.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Make one file of a capability: its component with the capability file (and its
    /// other travelling files, as `ikanos push` picks them) in custom sections.
    ///
    ///   ikanos pack crm/ -o crm.ikanos.wasm && ikanos run crm.ikanos.wasm
    ///
    /// Bind files stay out; `ikanos run` reads relative bind files beside the .wasm.
    #[command(verbatim_doc_comment)]
    Pack {
        /// The capability file, or the folder holding it.
        path: PathBuf,
        /// The file to write. Default: NAME.ikanos.wasm in the working directory.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The component (.wasm), when it is not NAME.wasm beside the file.
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
    },
    /// Serve a capability until Ctrl-C or SIGTERM, then drain in-flight requests.
    ///
    /// FILE may be a single-file capability (`ikanos pack`): a .wasm carrying its
    /// capability file; its relative bind files are read beside the .wasm.
    ///
    /// An `exposes` entry of `type: mcp` with `transport: stdio` speaks MCP on this
    /// process's stdin/stdout (logs stay on stderr); the host then also stops when
    /// stdin closes, which is how MCP clients end the servers they launch.
    Run(Box<RunArgs>),
    /// Serve one capability file as upstream's `ikanos serve [FILE]` does, or host many
    /// capabilities in one process (multi-tenant).
    ///
    /// Three forms:
    ///
    /// `ikanos serve FILE [run options]` serves one file exactly as `ikanos run FILE`
    /// (every `ikanos run` option applies). `ikanos serve` with neither FILE nor
    /// --dir/--config serves `ikanos.yaml` in the working directory, as upstream does.
    /// `ikanos serve --dir DIR` and/or `--config FILE` is the multi-tenant host:
    ///
    /// Capabilities come from `--dir` (or `capabilitiesDir` in the configuration):
    /// `NAME.ikanos.yaml` files, and `NAME/` folders holding one capability file with its
    /// component and bind files; and from registries (`--from oci://…`, or
    /// `capabilities.NAME.from`), pulled, checked against their digest and pulled again
    /// when their tag moves. The folder is watched; the control port also takes
    /// changes (PUT/DELETE /capabilities/NAME with the admin token). Every capability is
    /// served on the shared listener as /NAME/… (--listen) and, unless configured off,
    /// on the ports its file declares. See README, "Hosting many capabilities".
    #[command(visible_alias = "s")]
    Serve(Box<ServeArgs>),
    /// OpenZiti identities (`tunnel.type: ziti`).
    #[cfg(feature = "ziti")]
    #[command(subcommand)]
    Ziti(ZitiCommand),
}

#[derive(Args)]
pub struct ServeArgs {
    /// One capability file to serve as `ikanos run FILE` does (upstream's form). Not
    /// with --dir/--config, --listen, --admin-token-file or --no-watch.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,

    /// The host configuration file (YAML). Flags given here override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The capabilities folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// A capability artifact to serve (repeatable): oci://REGISTRY/NAME:TAG, served as
    /// NAME. Same as `capabilities.NAME.from` in the configuration.
    #[arg(long = "from", value_name = "oci://REF")]
    from: Vec<String>,

    /// Where the bind files of --from capabilities are: DIR/NAME/ for capability NAME.
    #[arg(long, value_name = "DIR")]
    binds: Option<PathBuf>,

    /// The shared listener: every capability at /NAME/…. Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,

    /// Control port (health, metrics, status, admin API). Default 127.0.0.1:9090.
    #[arg(long, value_name = "HOST:PORT")]
    control: Option<String>,

    /// Read the admin token from this file (else the configuration's control.token).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,

    /// Do not watch the capabilities folder (changes then come through the admin API
    /// or SIGHUP).
    #[arg(long)]
    no_watch: bool,

    /// Folder for compiled components. Default: $IKANOS_CACHE_DIR or ~/.cache/ikanos/components.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile components every time; write nothing to the cache.
    #[arg(long)]
    no_cache: bool,

    /// How long to let in-flight requests finish on Ctrl-C/SIGTERM, and a replaced
    /// capability finish its own.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    drain_timeout: Option<Duration>,

    #[command(flatten)]
    process: ProcessArgs,
}

#[cfg(feature = "ziti")]
#[derive(Subcommand)]
enum ZitiCommand {
    /// Enroll with a one-time token: make a key and a CSR, get the certificate signed by
    /// the controller, and write the identity file (JSON with ztAPI and id.cert/key/ca).
    ///
    /// The token's signature is checked against the controller's TLS certificate before
    /// anything is sent. Only the `ott` method is supported.
    Enroll {
        /// The enrollment token (a JWT file, as the controller hands it out).
        #[arg(long, value_name = "FILE")]
        jwt: PathBuf,
        /// Where to write the identity (created with mode 0600; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Args)]
pub struct RunArgs {
    /// The capability file.
    file: PathBuf,

    /// The component (.wasm). Default: NAME.wasm beside the capability file, where
    /// NAME is the file name without `.ikanos.yaml` (dashes may be underscores).
    #[arg(long, value_name = "PATH")]
    component: Option<PathBuf>,

    /// Control port address (health, metrics, status). Default: the file's
    /// `exposes: type: control` entry, else 127.0.0.1:9090. Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    control: Option<String>,

    /// Name used in metrics, logs and /status. Default: the file name's stem.
    #[arg(long)]
    name: Option<String>,

    #[command(flatten)]
    limits: LimitArgs,

    /// Trust this PEM CA bundle for one consumed namespace (private PKI): NAMESPACE=PATH.
    /// Repeatable.
    #[arg(long = "ca-bundle", value_name = "NAMESPACE=PATH")]
    ca_bundles: Vec<String>,

    /// Do not trust the operating system's certificate store (webpki roots and
    /// --ca-bundle only).
    #[arg(long)]
    no_system_roots: bool,

    /// Folder for compiled components. Default: $IKANOS_CACHE_DIR or ~/.cache/ikanos/components.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile the component every time; write nothing to the cache.
    #[arg(long)]
    no_cache: bool,

    /// How long to let in-flight requests finish after Ctrl-C or SIGTERM.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,

    #[command(flatten)]
    process: ProcessArgs,
}

/// How a serving process runs: threads and logs (`run` and `serve` alike).
#[derive(Args, Clone)]
struct ProcessArgs {
    /// Threads serving requests. Default: one per CPU core.
    #[arg(long, value_name = "N")]
    worker_threads: Option<usize>,

    /// How connections are served. `per-core`: each connection lives on one serving
    /// thread from accept to close, with its guest calls and outbound connections (no
    /// cross-core hand-off per request). `shared`: one work-stealing pool, for a few
    /// long connections of very uneven load.
    #[arg(long, value_enum, default_value = "per-core")]
    serving: Serving,

    /// With `--serving per-core`: how long a serving thread keeps polling its sockets
    /// after a request arrives, is answered or calls out, before it sleeps. Saves the
    /// wake-up of a sleeping thread (most of a lone request's added latency on a
    /// virtual machine) for at most this much CPU per activity; `0` turns it off.
    #[arg(long, value_name = "DURATION", default_value = "50us", value_parser = humantime::parse_duration)]
    busy_poll: Duration,

    /// Log level (overridden by RUST_LOG).
    #[arg(long, default_value = "info", env = "IKANOS_LOG")]
    log_level: String,

    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

impl ProcessArgs {
    /// Start logging and the async runtime, run `serve` to its end, and turn its
    /// outcome into the exit code (an error is printed as `error: …`).
    ///
    /// The stop and reload signals are listened for before `serve` starts loading
    /// anything (see [`signals`]).
    fn run<F, Fut>(&self, serve: F) -> ExitCode
    where
        F: FnOnce(signals::Signals) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let _telemetry = match crate::telemetry::init(&self.log_level, self.log_format) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let threads = self.worker_threads.map(|n| n.max(1)).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        if self.serving == Serving::PerCore {
            // Before anything is loaded: the outbound pools are made per serving thread.
            if let Err(e) = crate::workers::install(threads, self.busy_poll) {
                eprintln!("error: cannot start the serving threads: {e}");
                return ExitCode::from(1);
            }
        }
        let runtime = match builder.enable_all().thread_name("ikanos").build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::from(1);
            }
        };
        let outcome = runtime.block_on(async { serve(signals::Signals::install()).await });
        // A stop during start-up may leave a compile running on a blocking thread:
        // do not wait for it.
        runtime.shutdown_timeout(Duration::from_secs(1));
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
        }
    }
}

/// See [`ProcessArgs::serving`].
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Serving {
    PerCore,
    Shared,
}

/// Per-capability limits. Defaults are safe for untrusted components.
#[derive(Args)]
struct LimitArgs {
    /// Linear memory per instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_limit_mib: usize,

    /// CPU time the component may use per request (waiting on outbound calls excluded); 504 past it.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    cpu_limit: Duration,

    /// Wall time per request, outbound calls included; 504 past it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,

    /// Time for one outbound exchange with a consumed API.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    upstream_timeout: Duration,

    /// Connect timeout for consumed APIs.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,

    /// Outbound calls one request may make.
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_outbound_calls: u32,

    /// Requests handled at once; more wait within the request timeout.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_concurrency: usize,

    /// Largest inbound request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    max_request_body: usize,

    /// Largest response body (component's or upstream's), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_response_body: usize,

    /// Component instances alive at once (sizes the pooling allocator).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_instances: u32,
}

/// The file upstream's `ikanos serve` reads when it is given none.
const DEFAULT_FILE: &str = "ikanos.yaml";

/// `ikanos serve` in its one-file forms (`serve FILE`, or `serve` alone meaning
/// `ikanos.yaml`): the `run` arguments it stands for, or why the default file cannot be
/// served. None for every other command line, the multi-tenant form included.
fn serve_one_file(argv: &[OsString]) -> Option<Result<RunArgs, String>> {
    let verb = argv.get(1)?.to_str()?;
    if verb != "serve" && verb != "s" {
        return None;
    }
    let rest = &argv[2..];
    let as_run = |file: Option<&str>| {
        let head = ["ikanos", "run"].into_iter().map(OsString::from);
        let file = file.map(OsString::from);
        match Cli::try_parse_from(head.chain(file).chain(rest.iter().cloned())) {
            Ok(Cli {
                command: Command::Run(args),
            }) => Some(*args),
            _ => None,
        }
    };
    if let Some(args) = as_run(None) {
        return Some(Ok(args));
    }
    let multi_tenant = rest.iter().any(|a| {
        let a = a.to_string_lossy();
        ["--dir", "--config", "--from"]
            .iter()
            .any(|f| a == *f || a.starts_with(&format!("{f}=")))
    });
    if multi_tenant {
        return None;
    }
    let args = as_run(Some(DEFAULT_FILE))?;
    if !std::path::Path::new(DEFAULT_FILE).is_file() {
        return Some(Err(format!(
            "nothing to serve: no FILE was given and there is no {DEFAULT_FILE} in the working directory; give a capability file (`ikanos serve FILE`, the same as `ikanos run FILE`), or --dir/--config to host many capabilities"
        )));
    }
    Some(Ok(args))
}

pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match serve_one_file(&argv) {
        Some(Ok(args)) => return run::run(args),
        Some(Err(message)) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
        None => {}
    }
    let cli = Cli::parse_from(argv);
    match cli.command {
        Command::Validate {
            strict_schema,
            files,
        } => validate::run(&files, strict_schema),
        Command::Lint { all, files } => lint::run(&files, all),
        Command::New { name, lang, dir } => match new::create(&name, lang, &dir) {
            Ok(created) => {
                print!("{}", new::next_steps(&created, &name, lang));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Push {
            path,
            reference,
            component,
            dry_run,
        } => package::push(&path, &reference, component.as_deref(), dry_run),
        Command::Pull { reference, dir } => package::pull(&reference, dir.as_deref()),
        Command::Pack {
            path,
            output,
            component,
        } => package::pack(&path, output.as_deref(), component.as_deref()),
        Command::Run(args) => run::run(*args),
        Command::Serve(args) => serve::run(*args),
        #[cfg(feature = "ziti")]
        Command::Ziti(ZitiCommand::Enroll { jwt, out }) => ziti::enroll(&jwt, &out),
    }
}
