//! sign-log's c2sp.org/tlog-tiles commands, `publish` and `monitor`: their
//! flags and how their outcomes are rendered. The work is in
//! `build_verify::log::{publish, monitor}`.

use crate::cli::NoteArgs;
use crate::common::{self, Exit};
use crate::outln;
use build_verify::exit::Code;
use build_verify::log::http::HttpSource;
use build_verify::log::keys::{self, NoteKeys};
use build_verify::log::record::terminal_safe;
use build_verify::log::{monitor as mon, publish as publ};
use build_verify::net::{Transport, TransportOptions};
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
