//! Which logs and witnesses a checkpoint must be signed by: a
//! c2sp.org/tlog-policy file (logs, witnesses, groups with thresholds, one
//! quorum), or the command line's `--note-key`, `--witness` and
//! `--min-witnesses`, read as the same thing.
//!
//! A witness is one identity with its keys: keys given under one name are
//! one witness (an Ed25519 and, later, an ML-DSA-44 cosignature key of
//! `witness.example/w1` count once), and so are keys that are one public
//! key under two names (a name is a label anyone can put on a key, the key
//! ID recomputed to match). A policy file naming one identity twice is
//! refused: it would let one witness count twice.
//!
//! ML-DSA-44 cosignature keys (type 0x06) are refused for now. RustCrypto's
//! `ml-dsa` 0.1.2 (FIPS 204 final) builds here and verifies a signature in
//! some 60 µs, but its README says it was never independently audited, its
//! constant-time fixes are recent, and it brings a second generation of the
//! RustCrypto traits (signature 3, digest 0.11) beside ed25519-dalek's; when
//! it comes, a witness's ML-DSA key joins its Ed25519 one here.

use super::note::{self, Note, VerifierKey};
use crate::exit::{fail, Code};
use std::path::Path;

/// A policy file: a few hundred lines at most.
pub const MAX_POLICY: u64 = 256 * 1024;
/// Logs, witnesses and groups a policy may define (the spec asks
/// implementations to support at least 32 of each).
pub const MAX_ENTRIES: usize = 1024;
/// The most nodes a quorum rule may expand to, and its deepest nesting.
/// A group copies the rules it names, so groups naming earlier groups
/// twice over (`group g3 all g2 g1`) grow as Fibonacci: a policy of 90
/// lines would expand to 10^18 nodes. Real policies are a few dozen.
pub const MAX_RULE_NODES: usize = 1 << 16;
pub const MAX_RULE_DEPTH: usize = 32;

/// One witness: its keys (all cosignature keys of one identity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// How it is named in messages: the policy's name, else the key name.
    pub name: String,
    pub keys: Vec<VerifierKey>,
    /// Its submission prefix (c2sp.org/tlog-witness), when known.
    pub url: Option<String>,
}

/// A quorum rule over the witnesses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// No cosignature required (`quorum none`).
    None,
    /// This witness must have cosigned.
    Witness(usize),
    /// At least `k` of these must be satisfied.
    Group { k: usize, members: Vec<Rule> },
}

impl Rule {
    fn met(&self, cosigned: &[bool]) -> bool {
        match self {
            Rule::None => true,
            Rule::Witness(i) => cosigned.get(*i).copied().unwrap_or(false),
            Rule::Group { k, members } => members.iter().filter(|m| m.met(cosigned)).count() >= *k,
        }
    }

    /// The fewest witnesses that can meet the rule (0 for `none`).
    pub fn least(&self) -> usize {
        match self {
            Rule::None => 0,
            Rule::Witness(_) => 1,
            Rule::Group { k, members } => {
                let mut each: Vec<usize> = members.iter().map(Rule::least).collect();
                each.sort_unstable();
                each.iter().take(*k).sum()
            }
        }
    }

    fn describe(&self, witnesses: &[Witness]) -> String {
        match self {
            Rule::None => "none".into(),
            Rule::Witness(i) => witnesses.get(*i).map_or("?".into(), |w| w.name.clone()),
            Rule::Group { k, members } => format!(
                "{k} of ({})",
                members
                    .iter()
                    .map(|m| m.describe(witnesses))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Logs, witnesses and the quorum over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// The logs' Ed25519 note keys (named by their origin) and URLs.
    pub logs: Vec<(VerifierKey, Option<String>)>,
    pub witnesses: Vec<Witness>,
    pub rule: Rule,
}

/// What a checkpoint was found signed by.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Signed {
    /// The log key whose signature verified (none asked: `None`).
    pub log: Option<String>,
    /// The witnesses (by name) with a verified cosignature.
    pub witnesses: Vec<String>,
    pub signatures: Vec<note::Verified>,
}

fn usage(msg: String) -> anyhow::Error {
    fail(Code::Usage, msg)
}

/// Group cosignature keys into witnesses: one name, or one public key,
/// is one witness.
pub fn identities(keys: Vec<VerifierKey>) -> Vec<Witness> {
    let mut out: Vec<Witness> = Vec::new();
    for k in keys {
        let same = |w: &Witness| {
            w.keys
                .iter()
                .any(|o| o.name == k.name || o.public_key() == k.public_key())
        };
        // A key may join two witnesses formed so far (a name shared with
        // one, a public key with another): they are one witness, kept
        // where the first was.
        let mut at: Option<usize> = None;
        let mut i = 0;
        while i < out.len() {
            if !out.get(i).is_some_and(same) {
                i += 1;
                continue;
            }
            match at {
                None => {
                    at = Some(i);
                    i += 1;
                }
                Some(first) => {
                    let merged = out.remove(i);
                    if let Some(w) = out.get_mut(first) {
                        w.keys.extend(merged.keys);
                    }
                }
            }
        }
        match at.and_then(|i| out.get_mut(i)) {
            Some(w) => {
                if !w.keys.contains(&k) {
                    w.keys.push(k);
                }
            }
            None => out.push(Witness {
                name: k.name.clone(),
                keys: vec![k],
                url: None,
            }),
        }
    }
    out
}

impl Quorum {
    /// The command line's form: the log key, and `min` (default: all) of
    /// the witnesses the `--witness` keys make.
    pub fn from_keys(
        log: Option<VerifierKey>,
        witness_keys: Vec<VerifierKey>,
        min: Option<usize>,
    ) -> anyhow::Result<Quorum> {
        if let Some(k) = log.as_ref().filter(|k| k.kind != note::ED25519) {
            return Err(usage(format!(
                "--note-key {}: not an Ed25519 note (type 1) key",
                k.name
            )));
        }
        if let Some(k) = witness_keys.iter().find(|k| k.kind != note::COSIGNATURE) {
            return Err(usage(format!(
                "--witness {}: not a cosignature (type 4) key",
                k.name
            )));
        }
        let witnesses = identities(witness_keys);
        let n = witnesses.len();
        let k = min.unwrap_or(n);
        if k > n {
            return Err(usage(format!(
                "--min-witnesses {k} but the --witness keys are {n} distinct witness(es) (keys under one name, or one key under two names, are one witness)"
            )));
        }
        let rule = if k == 0 {
            Rule::None
        } else {
            Rule::Group {
                k,
                members: (0..n).map(Rule::Witness).collect(),
            }
        };
        Ok(Quorum {
            logs: log.map(|l| (l, None)).into_iter().collect(),
            witnesses,
            rule,
        })
    }

    /// Read a policy file (through the special-file rule, bounded).
    pub fn read(path: &Path) -> anyhow::Result<Quorum> {
        let bytes = crate::fsutil::input::read_regular(path, "policy", MAX_POLICY, Code::Usage)?;
        Quorum::parse(&bytes).map_err(|e| e.context(path.display().to_string()))
    }

    /// Parse a c2sp.org/tlog-policy file. Anything it does not allow (an
    /// unknown keyword, a name used before it is defined or defined twice,
    /// a threshold out of range, a duplicate key, a control character) is
    /// a usage error naming the line.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Quorum> {
        let mut p = Parser::default();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            p.line(line)
                .map_err(|e| usage(format!("policy line {}: {e}", i + 1)))?;
        }
        let rule = p
            .quorum
            .ok_or_else(|| usage("the policy has no quorum line".into()))?;
        Ok(Quorum {
            logs: p.logs,
            witnesses: p.witnesses,
            rule,
        })
    }

    /// Every cosignature key.
    pub fn witness_keys(&self) -> Vec<VerifierKey> {
        self.witnesses
            .iter()
            .flat_map(|w| w.keys.iter().cloned())
            .collect()
    }

    /// The log key for `origin` (a log's key is named by its origin).
    pub fn log_for(&self, origin: &str) -> Option<&VerifierKey> {
        self.logs.iter().map(|(k, _)| k).find(|k| k.name == origin)
    }

    /// Check `note` (a checkpoint of `origin`): every line a known key
    /// claims must verify (a bad one is exit 1, as the signed-note spec
    /// rejects such a note), a log key for the origin must have signed it
    /// (when the policy lists logs, or `require_log`), and the witnesses
    /// whose cosignatures verified must meet the rule.
    pub fn check(
        &self,
        note: &Note,
        origin: &str,
        require_log: bool,
        what: &str,
    ) -> anyhow::Result<Signed> {
        let mut known = self.witness_keys();
        let log = self.log_for(origin);
        known.extend(log.cloned());
        let verified =
            note::verify(note, &known).map_err(|e| fail(Code::Failed, format!("{what}: {e}")))?;
        let by = |k: &VerifierKey| {
            verified
                .iter()
                .any(|v| v.name == k.name && v.key_id == format!("{:08x}", k.key_id))
        };
        let log_signed = log.filter(|k| by(k)).map(|k| k.name.clone());
        if (require_log || !self.logs.is_empty()) && log_signed.is_none() {
            return Err(fail(
                Code::Failed,
                match log {
                    Some(k) => format!("{what} carries no valid note signature by the log key {k}"),
                    None => format!(
                        "{what} is of origin \"{}\", which no given log key signs",
                        super::record::terminal_safe(origin.as_bytes())
                    ),
                },
            ));
        }
        let cosigned: Vec<bool> = self
            .witnesses
            .iter()
            .map(|w| w.keys.iter().any(by))
            .collect();
        let names: Vec<String> = self
            .witnesses
            .iter()
            .zip(&cosigned)
            .filter(|(_, c)| **c)
            .map(|(w, _)| w.name.clone())
            .collect();
        if !self.rule.met(&cosigned) {
            return Err(fail(
                Code::Failed,
                format!(
                    "{what} does not meet the witness quorum {}: cosigned by {} of the {} known witnesses{}",
                    self.rule.describe(&self.witnesses),
                    names.len(),
                    self.witnesses.len(),
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", names.join(", "))
                    }
                ),
            ));
        }
        Ok(Signed {
            log: log_signed,
            witnesses: names,
            signatures: verified,
        })
    }
}

/// A policy being read, line by line.
#[derive(Default)]
struct Parser {
    logs: Vec<(VerifierKey, Option<String>)>,
    witnesses: Vec<Witness>,
    /// Names defined so far (witnesses and groups share one namespace),
    /// as bytes (the spec makes non-ASCII names opaque), with their rule
    /// and its size (nodes, depth).
    names: Vec<(Vec<u8>, Rule, (usize, usize))>,
    quorum: Option<Rule>,
}

fn text(tok: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(tok.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

impl Parser {
    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        if let Some(b) = line
            .iter()
            .find(|&&b| b != b'\t' && (b < 0x20 || b == 0x7f))
        {
            return Err(format!("control character 0x{b:02x}"));
        }
        let toks: Vec<&[u8]> = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty())
            .collect();
        let Some((&kw, args)) = toks.split_first() else {
            return Ok(());
        };
        if kw.first() == Some(&b'#') {
            return Ok(());
        }
        if self.logs.len() + self.witnesses.len() + self.names.len() > 3 * MAX_ENTRIES {
            return Err("too many definitions".into());
        }
        match (kw, args) {
            (b"log", [vkey]) => self.log(vkey, None),
            (b"log", [vkey, url]) => self.log(vkey, Some(url)),
            (b"witness", [name, vkey]) => self.witness(name, vkey, None),
            (b"witness", [name, vkey, url]) => self.witness(name, vkey, Some(url)),
            (b"group", [name, k, members @ ..]) if !members.is_empty() => {
                self.group(name, k, members)
            }
            (b"quorum", [name]) => {
                if self.quorum.is_some() {
                    return Err("a second quorum line".into());
                }
                self.quorum = Some(self.lookup(name)?.0);
                Ok(())
            }
            (b"log" | b"witness" | b"group" | b"quorum", _) => {
                Err(format!("malformed {} line", String::from_utf8_lossy(kw)))
            }
            _ => Err(format!("unknown keyword {:?}", String::from_utf8_lossy(kw))),
        }
    }

    fn key(vkey: &[u8], kind: u8, what: &str) -> Result<VerifierKey, String> {
        let k = VerifierKey::parse(&text(vkey, "a key")?).map_err(|e| e.to_string())?;
        if k.kind != kind {
            return Err(format!(
                "{} is not {what} key (ML-DSA-44 cosignatures are not supported yet)",
                k.name
            ));
        }
        Ok(k)
    }

    fn url(url: Option<&&[u8]>) -> Result<Option<String>, String> {
        url.map(|u| text(u, "a URL")).transpose()
    }

    fn log(&mut self, vkey: &[u8], url: Option<&&[u8]>) -> Result<(), String> {
        let k = Parser::key(vkey, note::ED25519, "an Ed25519 note (type 1)")?;
        if self
            .logs
            .iter()
            .any(|(o, _)| o.public_key() == k.public_key())
        {
            return Err(format!("log {} is listed twice", k.name));
        }
        self.logs.push((k, Parser::url(url)?));
        Ok(())
    }

    fn define(&mut self, name: &[u8], rule: Rule, size: (usize, usize)) -> Result<(), String> {
        if name == b"none" {
            return Err("\"none\" is predefined".into());
        }
        if self.names.iter().any(|(n, _, _)| n == name) {
            return Err(format!(
                "{:?} is defined twice",
                String::from_utf8_lossy(name)
            ));
        }
        self.names.push((name.to_vec(), rule, size));
        Ok(())
    }

    fn witness(&mut self, name: &[u8], vkey: &[u8], url: Option<&&[u8]>) -> Result<(), String> {
        let k = Parser::key(vkey, note::COSIGNATURE, "a cosignature (type 4)")?;
        if let Some(w) = self.witnesses.iter().find(|w| {
            w.keys
                .iter()
                .any(|o| o.public_key() == k.public_key() || o.name == k.name)
        }) {
            return Err(format!(
                "witness {:?} is witness {:?} again (the same key, or the same key name): one witness counts once, list it once",
                String::from_utf8_lossy(name),
                w.name
            ));
        }
        self.define(name, Rule::Witness(self.witnesses.len()), (1, 1))?;
        self.witnesses.push(Witness {
            name: String::from_utf8_lossy(name).into_owned(),
            keys: vec![k],
            url: Parser::url(url)?,
        });
        Ok(())
    }

    /// The rule `name` defines and its size (nodes, depth).
    fn lookup(&self, name: &[u8]) -> Result<(Rule, (usize, usize)), String> {
        if name == b"none" {
            return Ok((Rule::None, (1, 1)));
        }
        self.names
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, r, size)| (r.clone(), *size))
            .ok_or_else(|| {
                format!(
                    "{:?} is not defined on an earlier line",
                    String::from_utf8_lossy(name)
                )
            })
    }

    fn group(&mut self, name: &[u8], k: &[u8], members: &[&[u8]]) -> Result<(), String> {
        let mut rules = Vec::new();
        let (mut nodes, mut depth) = (1usize, 1usize);
        for (i, m) in members.iter().enumerate() {
            if *m == b"none" {
                return Err("\"none\" cannot be a group member".into());
            }
            if members.get(..i).is_some_and(|before| before.contains(m)) {
                return Err(format!(
                    "{:?} is listed twice in the group",
                    String::from_utf8_lossy(m)
                ));
            }
            // Sized before it is copied: an exploding rule is never built.
            let (rule, (n, d)) = self.lookup(m)?;
            nodes = nodes.saturating_add(n);
            depth = depth.max(d.saturating_add(1));
            if nodes > MAX_RULE_NODES || depth > MAX_RULE_DEPTH {
                return Err(format!(
                    "group {:?} expands to more than {MAX_RULE_NODES} rules or {MAX_RULE_DEPTH} levels of groups",
                    String::from_utf8_lossy(name)
                ));
            }
            rules.push(rule);
        }
        let n = rules.len();
        let k = match k {
            b"all" => n,
            b"any" => 1,
            digits => std::str::from_utf8(digits)
                .ok()
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
                .and_then(|d| d.parse::<usize>().ok())
                .filter(|k| (1..=n).contains(k))
                .ok_or_else(|| {
                    format!(
                        "the threshold {:?} is not all, any or 1 to {n}",
                        String::from_utf8_lossy(digits)
                    )
                })?,
        };
        self.define(name, Rule::Group { k, members: rules }, (nodes, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::{SignerKey, COSIGNATURE, ED25519};

    fn key(name: &str, kind: u8) -> (SignerKey, VerifierKey) {
        let s = SignerKey::generate(name, kind).unwrap();
        let v = s.verifier();
        (s, v)
    }

    /// The example of c2sp.org/tlog-policy, with keys made here (the
    /// spec elides them).
    #[test]
    fn the_spec_example_policy_reads_and_counts_groups() {
        let (ls, log) = key("example.com/log", ED25519);
        let ws: Vec<_> = ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
            .iter()
            .map(|n| key(&format!("{n}.example"), COSIGNATURE))
            .collect();
        let policy = format!(
            "log {log}\n\n# comment\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\n\
witness Y1 {}\n\twitness Y2 {} https://y2.example/\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\n\
group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
            ws[0].1, ws[1].1, ws[2].1, ws[3].1, ws[4].1, ws[5].1
        );
        let q = Quorum::parse(policy.as_bytes()).unwrap();
        assert_eq!(q.witnesses.len(), 6);
        assert_eq!(q.rule.least(), 3);
        assert_eq!(q.witnesses[4].url.as_deref(), Some("https://y2.example/"));
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = |logged: bool, who: &[usize]| {
            let mut n = Note::parse(text.as_bytes()).unwrap();
            if logged {
                n.add(ls.sign(text, 0));
            }
            for &i in who {
                n.add(ws[i].0.sign(text, 1_700_000_000));
            }
            n
        };
        let ok = |logged, who: &[usize]| {
            q.check(&note(logged, who), "example.com/log", true, "cp")
                .is_ok()
        };
        assert!(ok(true, &[0, 1, 3]));
        assert!(ok(true, &[0, 2, 5]));
        assert!(!ok(true, &[0, 3, 4]), "one X witness");
        assert!(!ok(true, &[0, 1, 2]), "no Y witness");
        assert!(!ok(false, &[0, 1, 3]), "no log signature");
    }

    #[test]
    fn quorum_needs_its_groups() {
        let (ls, log) = key("example.com/log", ED25519);
        let ws: Vec<_> = (0..4)
            .map(|i| key(&format!("w{i}.example"), COSIGNATURE))
            .collect();
        let policy = format!(
            "log {log}\nwitness A {}\nwitness B {}\nwitness C {}\nwitness D {}\ngroup AB 2 A B\ngroup CD any C D\ngroup Q all AB CD\nquorum Q\n",
            ws[0].1, ws[1].1, ws[2].1, ws[3].1
        );
        let q = Quorum::parse(policy.as_bytes()).unwrap();
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = |who: &[usize]| {
            let mut n = Note::parse(text.as_bytes()).unwrap();
            n.add(ls.sign(text, 0));
            for &i in who {
                n.add(ws[i].0.sign(text, 1_700_000_000));
            }
            n
        };
        let ok = |who: &[usize]| q.check(&note(who), "example.com/log", true, "cp").is_ok();
        assert!(ok(&[0, 1, 2]));
        assert!(ok(&[0, 1, 3]));
        assert!(!ok(&[0, 1]));
        assert!(!ok(&[0, 2, 3]));
        // A cosignature line that a known key claims but fails: exit 1.
        let mut bad = note(&[0, 1, 2]);
        bad.signatures[1].sig[20] ^= 1;
        let e = q.check(&bad, "example.com/log", true, "cp").unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Failed);
        // Another origin: no log key for it.
        assert!(q.check(&note(&[0, 1, 2]), "other", true, "cp").is_err());
    }

    #[test]
    fn malformed_policies_are_usage_errors() {
        let (_, log) = key("example.com/log", ED25519);
        let (_, w) = key("w.example", COSIGNATURE);
        let (_, w2) = key("w.example", COSIGNATURE);
        let alias = {
            // The same public key under another name.
            let raw = [[COSIGNATURE].as_slice(), w.public_key()].concat();
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
            let id = note::key_id("alias.example", COSIGNATURE, w.public_key());
            VerifierKey::parse(&format!("alias.example+{id:08x}+{b64}")).unwrap()
        };
        for bad in [
            String::new(),
            format!("witness A {w}\n"),
            format!("witness A {w}\nquorum B\n"),
            format!("witness A {w}\nquorum A\nquorum A\n"),
            format!("witness A {w}\nwitness A {w2}\nquorum A\n"),
            format!("witness A {w}\nwitness B {w2}\nquorum A\n"),
            format!("witness A {w}\nwitness B {alias}\nquorum A\n"),
            format!("witness A {log}\nquorum A\n"),
            format!("log {w}\nquorum none\n"),
            format!("log {log}\nlog {log}\nquorum none\n"),
            format!("witness A {w}\ngroup G 0 A\nquorum G\n"),
            format!("witness A {w}\ngroup G 2 A\nquorum G\n"),
            format!("witness A {w}\ngroup G 01 A\nquorum G\n"),
            format!("witness A {w}\ngroup G any A A\nquorum G\n"),
            format!("witness A {w}\ngroup G any none\nquorum G\n"),
            format!("witness none {w}\nquorum none\n"),
            format!("witness A {w}\r\nquorum A\n"),
            format!("witnesses A {w}\nquorum A\n"),
            format!("group G any A\nwitness A {w}\nquorum G\n"),
        ] {
            let e = Quorum::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(crate::exit::code_of(&e), Code::Usage, "{bad:?}: {e:#}");
        }
        assert_eq!(Quorum::parse(b"quorum none\n").unwrap().rule, Rule::None);
    }

    #[test]
    fn command_line_witnesses_are_identities() {
        let (_, a) = key("w1.example", COSIGNATURE);
        let (_, a2) = key("w1.example", COSIGNATURE);
        let (_, b) = key("w2.example", COSIGNATURE);
        let ids = identities(vec![a.clone(), a2, b.clone(), a.clone()]);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].keys.len(), 2);
        let e = Quorum::from_keys(None, vec![a.clone(), a, b], Some(3)).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
    }
}
