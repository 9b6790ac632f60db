//! sign-log's c2sp.org/tlog-tiles and tlog-witness commands, `publish`,
//! `monitor`, `submit` and `witness`: their flags and how their outcomes
//! are rendered. The work is in `build_verify::log::{publish, monitor,
//! submit, tlogwitness}`.

use crate::cli::NoteArgs;
use crate::common::{self, Exit};
use crate::outln;
use build_verify::exit::Code;
use build_verify::log::http::HttpSource;
use build_verify::log::keys::{self, NoteKeys};
use build_verify::log::quorum::Quorum;
use build_verify::log::record::terminal_safe;
use build_verify::log::{monitor as mon, publish as publ, submit, tlogwitness};
use build_verify::net::{serve, Transport, TransportOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Publish the log as static c2sp.org/tlog-tiles up to its newest checkpoint, which must carry \
an Ed25519 note signature (`seal --note-key`)",
    after_help = build_verify::exit::HELP,
    long_about = "Publish the log as static c2sp.org/tlog-tiles in WWW, up to its newest checkpoint: the \
records as entries (tile/entries/N), the hash tiles (tile/L/N), partial tiles for every sealed size, and \
the checkpoint as sealed (its note, never re-signed) as WWW/checkpoint, written last. The checkpoint must \
carry an Ed25519 note signature (`seal --note-key`); any web server or object store then serves WWW as \
the log, and any tlog-tiles client reads it (`sign-log monitor`). Only what is new is written; a WWW \
holding another log, or tiles that do not hash to its checkpoint, is refused. Files are renamed into \
place; one syncfs makes them durable before the checkpoint is replaced.\n\n\
Examples:\n  \
sign-log publish --log /var/lib/build-logs/core-admin \\\n      \
--out /var/lib/build-logs-www/core-admin"
)]
pub struct PublishArgs {
    /// The log directory (log.jsonl and checkpoints/).
    #[arg(long, value_name = "DIR")]
    log: PathBuf,
    /// The directory served at the log's URL prefix (created if needed).
    #[arg(long, value_name = "WWW")]
    out: PathBuf,
    /// Check the checkpoint's note signature with this verifier key
    /// (NAME+HASH+KEY, or a file holding it) first.
    #[arg(long = "note-key", value_name = "VKEY")]
    note_key: Option<String>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Read any c2sp.org/tlog-tiles log: verify its checkpoint's signatures, its tiles, consistency \
with the last accepted checkpoint (--state), and with --entries every entry",
    after_help = build_verify::exit::HELP,
    mut_arg("note_key", |a| a.required(true)),
    long_about = "Read a c2sp.org/tlog-tiles log served at URL (ours, Tessera's, any): fetch its checkpoint, \
verify the log's Ed25519 note signature (--note-key) and witness cosignatures (--witness, \
--min-witnesses; a witness counts once per public key), fetch the right edge of its tree and check that \
it hashes to the checkpoint's root. With --state, the checkpoint must extend the one accepted last \
(fetching at most two tiles per level): a smaller one (rollback) or one that does not extend it (fork) is \
exit 1 with both checkpoints kept as STATE.conflict-*; on success the state is replaced. With --entries \
every entry bundle and tile is fetched and the tree re-derived from the entries.\n\n\
Examples:\n  \
sign-log monitor --url https://logs.example.org/core-admin/ \\\n      \
--note-key LOG-VKEY --state core-admin.state --entries"
)]
pub struct MonitorArgs {
    /// The log's URL prefix (https://, http:// with --allow-http, or file://).
    #[arg(long, value_name = "URL")]
    url: String,
    #[command(flatten)]
    notes: NoteArgs,
    /// Require this checkpoint origin (default: the note key's name).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// The last accepted checkpoint (created at the first success).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Fetch every entry bundle and tile, and re-derive the tree.
    #[arg(long)]
    entries: bool,
    /// Resources fetched at a time with --entries.
    #[arg(long, value_name = "N", default_value_t = 8)]
    parallel: usize,
    #[command(flatten)]
    net: NetArgs,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

/// How the tools reach an HTTP server.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NetArgs {
    /// Allow plain http:// (what is read is verified either way).
    #[arg(long)]
    allow_http: bool,
    /// Extra trusted CA certificates (PEM) for https.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Proxy for every request (http://, socks5://, socks5h://).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
}

impl NetArgs {
    pub fn transport(&self) -> anyhow::Result<Transport> {
        Transport::new(TransportOptions {
            allow_http: self.allow_http,
            ca_file: self.ca_file.clone(),
            proxy: self.proxy.clone(),
            ..Default::default()
        })
    }
}

/// A success object as every tool prints it: `status` and `exit`.
pub fn ok_json(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), "ok".into());
        o.insert("exit".into(), 0.into());
    }
    v
}

/// With --json, the failure as an object too (the reason also goes to
/// stderr).
pub fn json_failure(json: bool, fields: serde_json::Value, e: anyhow::Error) -> anyhow::Error {
    if json {
        common::print_json(&common::json_failure(fields, &e));
    }
    e
}

pub fn publish(a: PublishArgs) -> anyhow::Result<Exit> {
    let key = a.note_key.as_deref().map(keys::verifier_arg).transpose()?;
    let p = publ::publish(&a.log, &a.out, key.as_ref())
        .map_err(|e| json_failure(a.json, serde_json::json!({"path": a.log}), e))?;
    let origin = terminal_safe(p.origin.as_bytes());
    if a.json {
        common::print_json(&ok_json(serde_json::to_value(&p)?));
    } else if p.size == p.previous {
        let replaced = if p.checkpoint {
            " (checkpoint replaced: new signatures)"
        } else {
            ""
        };
        outln!("published {origin} {}: up to date{replaced}", p.size);
    } else {
        outln!(
            "published {origin} {}: {} new records, {} files",
            p.size,
            p.size - p.previous,
            p.files
        );
    }
    Ok(Code::Ok.into())
}

pub fn monitor(a: MonitorArgs) -> anyhow::Result<Exit> {
    let nk = NoteKeys::load(
        a.notes.note_key.as_deref(),
        &a.notes.witnesses,
        a.notes.min_witnesses,
    )?;
    let src = HttpSource::new(a.net.transport()?, &a.url);
    let opts = mon::Options {
        notes: nk.policy(),
        origin: a.origin.as_deref(),
        state: a.state.as_deref(),
        entries: a.entries,
        parallel: a.parallel,
    };
    let o = mon::monitor(&src, &opts)
        .map_err(|e| json_failure(a.json, serde_json::json!({"url": a.url}), e))?;
    o.notes.iter().for_each(common::note);
    if a.json {
        common::print_json(&ok_json(serde_json::to_value(&o)?));
        return Ok(Code::Ok.into());
    }
    outln!(
        "checkpoint {}: {} size {} root {}",
        o.checkpoint,
        terminal_safe(o.origin.as_bytes()),
        o.size,
        o.root
    );
    for v in &o.note_signatures {
        match v.timestamp {
            Some(t) => outln!("cosigned by {} ({}) at {t}", v.name, v.key_id),
            None => outln!("signed by {} ({})", v.name, v.key_id),
        }
    }
    match o.previous {
        Some(p) => outln!("consistent with the accepted tree of {p}"),
        None => outln!("tree verified"),
    }
    if let Some(n) = o.entries {
        outln!("entries: {n} fetched, the tree re-derived");
    }
    outln!("fetched {} resources", o.fetched.len());
    Ok(Code::Ok.into())
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Submit the log's newest checkpoint to witnesses (c2sp.org/tlog-witness add-checkpoint) \
and store their cosignatures on it",
    after_help = build_verify::exit::HELP,
    long_about = "Submit the log's newest checkpoint, which must carry the log's Ed25519 note signature \
(`seal --note-key`), to each witness's add-checkpoint (c2sp.org/tlog-witness): `old N` with N the last \
checkpoint of this log the witness is seen to have cosigned (else 0) and the consistency proof from N, \
from the published tiles (--out) when they hold the checkpoint, else from the log. A 409 names the \
witness's size: the request is sent once more from it. The cosignature lines each witness returns \
are verified with its keys (lines by other keys are ignored) and stored on the checkpoint, next to its \
OpenPGP signature, which stays valid; with --out the log is published again so the served checkpoint \
carries them. Exit 0 once the stored checkpoint meets the quorum (--min-witnesses of the --witness \
witnesses, all by default, or --policy's, whose witnesses with a URL are asked); otherwise the worst \
of the witnesses' failures: 404 (the witness does not know the log) is 2; 403, 422 (a fork, or a bad \
proof) and 400 are 1; a network failure, a 5xx or a second 409 is 4.\n\n\
Examples:\n  \
sign-log submit --log /var/lib/build-logs/core-admin \\\n      \
--witness W1-VKEY https://w1.example/witness \\\n      \
--out /var/lib/build-logs-www/core-admin"
)]
pub struct SubmitArgs {
    /// The log directory (log.jsonl and checkpoints/).
    #[arg(long, value_name = "DIR")]
    log: PathBuf,
    /// A witness: its cosignature verifier key (NAME+HASH+KEY, or a file
    /// holding it) and its submission prefix. Repeatable; keys under one
    /// name, or one key under two names, are one witness.
    #[arg(long = "witness", value_names = ["VKEY", "URL"], num_args = 2, action = clap::ArgAction::Append)]
    witnesses: Vec<String>,
    /// Cosignatures by distinct witnesses the checkpoint needs (default: all given).
    #[arg(long, value_name = "K")]
    min_witnesses: Option<usize>,
    /// A c2sp.org/tlog-policy file: its witnesses with a URL are asked,
    /// and its quorum must be met.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["witnesses", "min_witnesses"])]
    policy: Option<PathBuf>,
    /// The log's published directory: its tiles give the proofs, and it
    /// is published again with the new cosignatures.
    #[arg(long, value_name = "WWW")]
    out: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The quorum of `submit`: a policy, or the --witness pairs.
fn submit_quorum(a: &SubmitArgs) -> anyhow::Result<Quorum> {
    if let Some(p) = &a.policy {
        return Quorum::read(p);
    }
    let pairs: Vec<(&String, &String)> = a
        .witnesses
        .chunks(2)
        .filter_map(|c| Some((c.first()?, c.get(1)?)))
        .collect();
    let keys = pairs
        .iter()
        .map(|(k, _)| keys::verifier_arg(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut q = Quorum::from_keys(None, keys.clone(), a.min_witnesses)?;
    for (k, (_, url)) in keys.iter().zip(&pairs) {
        if let Some(w) = q.witnesses.iter_mut().find(|w| w.keys.contains(k)) {
            if w.url.as_ref().is_some_and(|u| u != *url) {
                return Err(build_verify::exit::fail(
                    Code::Usage,
                    format!("witness {} is given two URLs", w.name),
                ));
            }
            w.url = Some(url.to_string());
        }
    }
    Ok(q)
}

pub fn submit(a: SubmitArgs) -> anyhow::Result<Exit> {
    let q = submit_quorum(&a)?;
    let transport = a.net.transport()?;
    let s = submit::submit(&transport, &a.log, &q, a.out.as_deref())
        .map_err(|e| json_failure(a.json, serde_json::json!({"path": a.log}), e))?;
    let republished = match (&a.out, s.added) {
        (Some(out), n) if n > 0 => Some(publ::publish(&a.log, out, None)?),
        _ => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "status".into(),
                if s.quorum { "ok" } else { "failed" }.into(),
            );
            o.insert("exit".into(), s.code().as_u8().into());
        }
        common::print_json(&v);
    } else {
        for w in &s.witnesses {
            match (w.status, &w.reason) {
                ("failed", Some(why)) => {
                    common::error(format_args!("witness {}: {why}", w.witness))
                }
                (status, _) => outln!("witness {}: {status}", w.witness),
            }
        }
        outln!(
            "checkpoint {} of {}: {} cosignature(s) added{}",
            s.size,
            terminal_safe(s.origin.as_bytes()),
            s.added,
            if republished.is_some() {
                ", published"
            } else {
                ""
            }
        );
    }
    if let Some(why) = &s.shortfall {
        common::error(why);
    }
    Ok(s.code().into())
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Be a witness (c2sp.org/tlog-witness): answer one add-checkpoint request read on standard \
input, on standard output",
    after_help = build_verify::exit::HELP,
    long_about = "Be a witness (c2sp.org/tlog-witness) for the logs whose Ed25519 note keys are given \
(--log-key, or --policy's log lines; a log is known by its key's name, its origin): answer one request \
read on standard input, on standard output, so a web server's CGI, systemd socket activation (--http, \
Accept=yes) or a qrexec service (the bare request body) runs it. POST add-checkpoint: the checkpoint must \
carry a valid signature by the log's key (else 403; an unknown origin is 404), `old` must be the size \
of the last checkpoint this witness cosigned for the log (else 409 with that size), the consistency proof \
must take that tree to the new one, and a checkpoint of the same size must have the same root (else \
422, and a checkpoint signed but inconsistent is kept as STATE/HASH/conflict-*). Then the new \
checkpoint is stored and its cosignatures (--key, `keygen --witness`) are the answer. Per log, \
STATE/HASH/checkpoint (HASH the hex SHA-256 of the origin) holds the last cosigned checkpoint with the \
log's signature and the witness's, checked and replaced under a lock (checkpoint.lock), and is what GET \
HASH/checkpoint answers (the spec's monitoring API). Exit 0 on a 200, 1 on a refusal, 4 when the \
witness's own state or disk failed (answered 500).\n\n\
Examples:\n  \
sign-log witness --key witness.key --log-key LOG-VKEY \\\n      \
--state /var/lib/witness --http"
)]
pub struct WitnessArgs {
    /// The witness's cosignature secret key (`keygen --witness`). Repeatable.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// A log's Ed25519 note verifier key (NAME+HASH+KEY, or a file
    /// holding it), named by the log's origin. Repeatable.
    #[arg(
        long = "log-key",
        value_name = "VKEY",
        required_unless_present = "policy"
    )]
    log_keys: Vec<String>,
    /// A c2sp.org/tlog-policy file whose log lines are the logs witnessed.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The witness's state directory.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Read one HTTP/1.1 request (socket activation) instead of a CGI
    /// request or a bare body.
    #[arg(long)]
    http: bool,
    /// Give up on a request not read whole within SECONDS (answered
    /// 408): a client that sends slowly or not at all holds no process
    /// for longer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
}

fn witness_config(a: &WitnessArgs) -> anyhow::Result<tlogwitness::Witness> {
    let keys = a
        .keys
        .iter()
        .map(|k| keys::read_signer(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut logs = a
        .log_keys
        .iter()
        .map(|k| keys::verifier_arg(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(p) = &a.policy {
        logs.extend(Quorum::read(p)?.logs.into_iter().map(|(k, _)| k));
    }
    tlogwitness::Witness::new(keys, logs, a.state.clone())
}

pub fn witness(a: WitnessArgs) -> anyhow::Result<Exit> {
    use std::io::Write as _;
    use std::os::fd::AsFd as _;
    let http = a.http;
    let answer = |r: &tlogwitness::Response| {
        let bytes = if http {
            serve::http_answer(r.status, r.reason(), r.content_type, &r.body)
        } else {
            serve::cgi_answer(r.status, r.reason(), r.content_type, &r.body)
        };
        common::note_write(common::Stdout.write_all(&bytes));
        common::note_write(common::Stdout.flush());
    };
    let failed = |e: anyhow::Error| {
        answer(&tlogwitness::Response::text(500, "the witness failed"));
        Err(e)
    };
    let w = match witness_config(&a) {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    // Standard input as a file of its own, unbuffered, so the deadline's
    // poll sees every byte not yet read.
    let stdin = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => return failed(anyhow::Error::new(e).context("standard input")),
    };
    let mut input = std::io::BufReader::new(serve::Deadline::new(
        stdin,
        std::time::Duration::from_secs(a.request_timeout),
    ));
    let read = if http {
        serve::read_http(&mut input, tlogwitness::MAX_REQUEST)
    } else {
        serve::read_cgi(
            |k| std::env::var(k).ok(),
            &mut input,
            tlogwitness::MAX_REQUEST,
        )
    };
    let req = match read {
        Ok(r) => r,
        Err((status, why)) => {
            common::note(format_args!("{status}: {why}"));
            answer(&tlogwitness::Response::text(status, why));
            return Ok(Code::Failed.into());
        }
    };
    match w.serve(&req, build_verify::time::now_secs()) {
        Ok(r) => {
            common::note(format_args!("{} {}: {}", r.status, r.reason(), r.log));
            answer(&r);
            Ok(if r.status == 200 {
                Code::Ok
            } else {
                Code::Failed
            }
            .into())
        }
        Err(e) => failed(e),
    }
}
