//! fetch-verified end to end: a real HTTP server on 127.0.0.1, keys and
//! signatures made with sequoia at test time. Every failing case asserts the
//! exit code and that no unverified file is left in the directory. A module
//! per concern: what a download is verified with (signatures), decompress,
//! network faults, transport (TLS, redirects, proxies), the output directory
//! (files), the command line (cli), stock packages (packages).

use crate::common;
use common::http::{Reply, Server, Socks5, TestCa};
use common::*;
use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation};
use sequoia_openpgp::Cert;
use std::path::Path;
use std::process::{Command, Output};

mod cli;
mod decompress;
mod faults;
mod files;
mod packages;
mod signatures;
mod transport;

const BIN: &str = env!("CARGO_BIN_EXE_fetch-verified");

const PROXY_VARS: [&str; 9] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
];

struct Env {
    dir: tempfile::TempDir,
    server: Server,
    key: Cert,
    keyring: std::path::PathBuf,
    data: Vec<u8>,
}

fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let key = gen_key("Upstream <up@example.org>");
    let keyring = write_keyring(&dir.path().join("upstream.asc"), &[&key]);
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    Env {
        dir,
        server: Server::start(),
        key,
        keyring,
        data,
    }
}

impl Env {
    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(RUN_FLAGS, args, &[])
    }

    /// Run in the output directory with `flags` then `args`, a clean
    /// environment (no mirror or proxy from the machine) plus `env`.
    fn run_env(&self, flags: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
        self.cmd(flags, args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// The tool with `flags` then `args`, in the output directory, with a
    /// clean environment.
    fn cmd(&self, flags: &[&str], args: &[&str]) -> Command {
        let mut cmd = tool_in(&self.out(), flags);
        cmd.args(args);
        cmd
    }

    /// A quiet fetch of `url` checked against `sha256`, left running.
    fn spawn(&self, sha256: &str, url: &str) -> std::process::Child {
        self.cmd(
            &["--allow-http", "--retries", "0", "--quiet"],
            &["--sha256", sha256, url],
        )
        .spawn()
        .unwrap()
    }

    /// `--keyring KEYS --uncompress EXTRA... URL SIG`.
    fn run_uncompress(&self, extra: &[&str], url: &str, sig: &Path) -> Output {
        let mut args = vec!["--keyring", self.keyring(), "--uncompress"];
        args.extend_from_slice(extra);
        args.extend([url, sig.to_str().unwrap()]);
        self.run(&args)
    }

    fn keyring(&self) -> &str {
        self.keyring.to_str().unwrap()
    }
}

/// The tool in `dir` (made if missing) with `flags`, and a clean
/// environment (no mirror or proxy from the machine).
fn tool_in(dir: &Path, flags: &[&str]) -> Command {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(flags).current_dir(dir);
    for var in PROXY_VARS.iter().chain(&["DISTFILES_MIRROR"]) {
        cmd.env_remove(var);
    }
    cmd
}

/// [`Env::run`]'s flags: plain HTTP to the test server, no retries.
const RUN_FLAGS: &[&str] = &["--allow-http", "--retries", "0", "--read-timeout", "2"];

/// Poll `cond` for up to 10 s; fail the test with `what` if it never holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_nothing_left(e: &Env, o: &Output, want: i32) {
    assert_eq!(code(o), want, "stderr: {}", stderr(o));
    assert_eq!(
        listing(&e.out()),
        Vec::<String>::new(),
        "left behind after: {}",
        stderr(o)
    );
}

fn sha2_256(data: &[u8]) -> Vec<u8> {
    build_verify::digest::hash_reader(data, &[build_verify::digest::Algo::Sha256])
        .unwrap()
        .get(build_verify::digest::Algo::Sha256)
        .unwrap()
        .to_vec()
}

fn compress(prog: &str, data: &[u8]) -> Vec<u8> {
    pipe(prog, &["-c"], data)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2_256(data))
}

/// Run `cmd` with its output captured; a run longer than `secs` is killed
/// and fails the test (a hang is what these cases guard against).
fn run_bounded(cmd: &mut Command, secs: u64) -> Output {
    run_deadline(cmd, secs).unwrap_or_else(|o| panic!("hung for {secs}s: {cmd:?}: {}", stderr(&o)))
}

impl Env {
    /// [`Env::run`] under a time bound.
    fn run_bounded(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.cmd(RUN_FLAGS, args), 20)
    }
}
