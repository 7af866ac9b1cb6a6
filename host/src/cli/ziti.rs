//! `ikanos ziti enroll`: the terminal side of enrollment (files, messages, exit codes).
//! The protocol lives in the `ikanos-ziti` crate (`ikanos_ziti::enroll`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn enroll(jwt: &Path, out: &Path) -> ExitCode {
    let token = match std::fs::read_to_string(jwt) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", jwt.display());
            return ExitCode::FAILURE;
        }
    };
    if out.exists() {
        eprintln!(
            "error: {} already exists; enrollment never overwrites an identity",
            out.display()
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let identity = match runtime.block_on(ikanos_ziti::enroll::enroll(&token)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", jwt.display());
            return ExitCode::FAILURE;
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(out)
        .and_then(|mut f| f.write_all(identity.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!("enrolled: identity written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
