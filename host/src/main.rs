//! The `ikanos` binary: all behaviour lives in the library's `cli` module.

// mimalloc instead of glibc malloc: a request allocates and frees many small buffers
// on several threads, where glibc's arena locks showed up in profiles (see README,
// "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ikanos::cli::main()
}
