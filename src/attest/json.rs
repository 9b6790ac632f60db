//! Strict JSON for attestations, and securesystemslib's canonical form.
//!
//! Parsing goes through serde_json (its grammar, escapes, surrogate pairs
//! and recursion limit) into [`Json`], a tree whose objects refuse a
//! duplicate key: serde_json's own `Value`, like Python's `json`, keeps the
//! last one, so two readers of one signed document could see two different
//! claims. Numbers must be integers within 64 bits (canonical JSON has no
//! floats; a larger integer is refused rather than rounded).
//!
//! [`Json::canonical`] writes securesystemslib's `encode_canonical`
//! exactly: no whitespace, object keys sorted by code point, integers in
//! decimal, and in strings only `"` and `\` escaped, every other character
//! (control characters included) written as its UTF-8 bytes. The
//! olpc-cjson crate (tough's) was measured against it and differs: it
//! NFC-normalizes strings and sorts keys by their escaped, quoted bytes
//! (`"a"` after `"a!"`), so a document signed by securesystemslib with
//! such a key or a decomposed character would not verify through it.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// A JSON value as attestations may hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Any integer of i64 or u64.
    Int(i128),
    Str(String),
    Array(Vec<Json>),
    /// Keys in code-point order (UTF-8 byte order), each once.
    Object(BTreeMap<String, Json>),
}

/// Why a document is not strict JSON.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

impl Json {
    /// Parse `bytes` (UTF-8 JSON, nothing after the value but whitespace).
    pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
        serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
    }

    /// securesystemslib's canonical JSON of this value.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Json::Str(s) => canonical_string(s, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_canonical(out);
                }
                out.push(b']');
            }
            Json::Object(map) => {
                out.push(b'{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    canonical_string(k, out);
                    out.push(b':');
                    v.write_canonical(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Standard JSON (RFC 8259: control characters escaped), compact,
    /// keys sorted: what is written to files.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serializing our own tree cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// `"` and `\` escaped, nothing else: both are ASCII, so no byte of a
/// multi-byte UTF-8 sequence can be mistaken for them.
fn canonical_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Err(E::custom(format!(
            "number {v} refused: canonical JSON allows only integers within 64 bits"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Json::Object(out))
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Int(i) => match i64::try_from(*i) {
                Ok(v) => s.serialize_i64(v),
                Err(_) => s.serialize_u64(u64::try_from(*i).unwrap_or(u64::MAX)),
            },
            Json::Str(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// Build an object from pairs (for documents we write).
pub fn object<const N: usize>(pairs: [(&str, Json); N]) -> Json {
    Json::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A string value.
pub fn string(s: impl Into<String>) -> Json {
    Json::Str(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        String::from_utf8(Json::parse(text.as_bytes()).unwrap().canonical()).unwrap()
    }

    #[test]
    fn canonical_form_is_securesystemslibs() {
        assert_eq!(
            canon(r#"{"y": 2, "x" : [1, true, null]}"#),
            r#"{"x":[1,true,null],"y":2}"#
        );
        // Only quote and backslash are escaped; a newline is written raw.
        assert_eq!(
            canon(r#"["a\"b\\c\nd\u00e9"]"#),
            "[\"a\\\"b\\\\c\nd\u{e9}\"]"
        );
        // Keys by code point: a prefix first, whatever follows it.
        assert_eq!(
            canon(r#"{"a!": 1, "a": 2, "a\"b": 3, "a#": 4}"#),
            "{\"a\":2,\"a!\":1,\"a\\\"b\":3,\"a#\":4}"
        );
        // No normalization: e + combining acute stays two characters.
        assert_eq!(canon("[\"e\\u0301\"]"), "[\"e\u{301}\"]");
        assert_eq!(
            canon("[0, 18446744073709551615, -9223372036854775808]"),
            "[0,18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn refuses_duplicates_floats_and_junk() {
        for bad in [
            r#"{"a": 1, "a": 1}"#,
            r#"{"x": {"a": 1, "b": 2, "a": 3}}"#,
            "[1.0]",
            "[1e3]",
            "[18446744073709551616]",
            "[NaN]",
            // Python reads -0 as the integer 0; serde_json hands it over as
            // the float -0.0, which cannot be told from "-0.0": refused.
            "[-0]",
            "[\"\\ud800\"]",
            "{} {}",
            "",
        ] {
            assert!(Json::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn standard_output_escapes_controls() {
        let v = Json::parse(b"{\"b\":\"x\\u0001\",\"a\":1}").unwrap();
        assert_eq!(v.to_json_bytes(), br#"{"a":1,"b":"x\u0001"}"#);
        assert_eq!(Json::parse(&v.to_json_bytes()).unwrap(), v);
    }
}
