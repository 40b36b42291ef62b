//! `Profile`: one profile file, parsed and validated.
//!
//! Parsing only reads the text it is given. The single question it may ask
//! the outside world, "does the running kernel have this key?", comes in as
//! a closure, so `lint` can validate without touching the system. Every
//! problem is collected with its file, line, column and key; a profile that
//! has any problem is rejected whole.

use std::cell::LazyCell;
use std::path::PathBuf;

use rustc_hash::FxHashMap;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_yaml::Value as Node;

use crate::catalog::{self, Kind, Param};
use crate::error::{Diagnostic, Error, Location, Problem};
use crate::key;
use crate::locator::{self, Locator};
use crate::value::{self, IntError, Value};

/// Where a profile came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Builtin,
    File(PathBuf),
}

impl Source {
    /// "built-in", or the file's path.
    pub fn describe(&self) -> String {
        match self {
            Source::Builtin => "built-in".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// How errors name the profile's file.
    pub fn label(&self, name: &str) -> String {
        match self {
            Source::Builtin => format!("built-in:{name}"),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// What a profile asks of one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Exact(Value),
    /// Raise to `at_least`, lower to `at_most`; a value already within the
    /// bounds is left alone.
    Bounds {
        at_least: Option<i64>,
        at_most: Option<i64>,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// The full key, whether the file used it or the alias.
    pub key: String,
    pub param: Option<&'static Param>,
    pub target: Target,
    pub why: Option<String>,
    /// A key outside net.* that the profile opted in to (`allow_outside_net`).
    pub outside_net: bool,
    /// The profile that set this entry (differs from the profile's own name
    /// for entries inherited through `extends`).
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub source: Source,
    pub description: String,
    pub extends: Option<String>,
    /// Where `extends` stands, for errors about the parent.
    pub extends_at: Option<(usize, usize)>,
    pub entries: Vec<Entry>,
}

/// Limits that keep parsing linear and bounded, whatever a file holds.
pub const MAX_BYTES: usize = 256 * 1024;
pub const MAX_DEPTH: usize = 16;
pub const MAX_ENTRIES: usize = 4096;

/// How deeply `text` nests: flow brackets and block indentation levels.
fn nesting_depth(text: &str) -> usize {
    let mut deepest = 0;
    let mut flow: usize = 0;
    let mut indents: Vec<usize> = Vec::new();
    for line in text.lines() {
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        while indents.last().is_some_and(|i| *i > indent) {
            indents.pop();
        }
        if indents.last() != Some(&indent) {
            indents.push(indent);
        }
        // Bytes, not chars: every character that matters here is ASCII,
        // and no byte of a multi-byte UTF-8 character is.
        let mut quote: Option<u8> = None;
        for c in content.bytes() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(c),
                (None, b'#') => break,
                (None, b'[' | b'{') => {
                    flow += 1;
                    deepest = deepest.max(indents.len() + flow);
                }
                (None, b']' | b'}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        deepest = deepest.max(indents.len() + flow);
    }
    deepest
}

/// Answers "does the running kernel have this key?"; `None` in `lint`.
pub type KeyCheck<'a> = Option<&'a dyn Fn(&str) -> bool>;

/// The file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    description: Option<String>,
    extends: Option<String>,
    #[serde(default)]
    sysctls: RawEntries,
}

/// The `sysctls` mapping in file order, duplicates kept so they can be
/// reported (a derived map would keep the last one silently).
#[derive(Default)]
struct RawEntries(Vec<(String, Node)>);

impl<'de> Deserialize<'de> for RawEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of sysctl keys to values")
            }
            fn visit_unit<E>(self) -> Result<RawEntries, E> {
                Ok(RawEntries::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntries, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<Node>()?));
                }
                Ok(RawEntries(out))
            }
        }
        d.deserialize_any(EntriesVisitor)
    }
}

/// A profile name: no path separators, no leading dot, nothing that could
/// leave the profile directory.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.len() <= 128
}

// `PRECOMPILED`: each built-in profile's YAML as a JSON document, made by
// src/build.rs.
include!(concat!(env!("OUT_DIR"), "/builtin_profiles.rs"));

/// The profile file's text once it has passed the guards that keep the
/// YAML parser linear and bounded on any input: size, UTF-8, not empty,
/// nesting. On failure: line, column and the problem.
fn guarded_text(bytes: &[u8]) -> Result<&str, (Option<usize>, Option<usize>, Problem)> {
    if bytes.len() > MAX_BYTES {
        return Err((None, None, Problem::TooLarge { limit: MAX_BYTES }));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let line_start = bytes[..offset]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let line = bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        (
            Some(line),
            Some(offset - line_start + 1),
            Problem::NotUtf8 { offset },
        )
    })?;
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err((None, None, Problem::Empty));
    }
    if nesting_depth(text) > MAX_DEPTH {
        return Err((None, None, Problem::TooDeep { limit: MAX_DEPTH }));
    }
    Ok(text)
}

impl Profile {
    /// Parses and validates one profile file.
    pub fn parse(
        name: &str,
        source: Source,
        bytes: &[u8],
        known: KeyCheck,
    ) -> Result<Profile, Error> {
        Profile::parse_document(name, source, bytes, known, None)
    }

    /// Parses and validates the built-in profile `name` whose YAML is
    /// `text`, from the JSON document the build made of it: the same tree,
    /// without the YAML parser's cost, and the same validation.
    pub fn parse_builtin(name: &str, text: &str, known: KeyCheck) -> Result<Profile, Error> {
        let document = PRECOMPILED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, json)| *json);
        Profile::parse_document(name, Source::Builtin, text.as_bytes(), known, document)
    }

    /// `parse`, taking the raw form from `document` (JSON) when given and
    /// well formed, else from the YAML in `bytes`. Either way the limits
    /// and every check below apply to the same tree.
    fn parse_document(
        name: &str,
        source: Source,
        bytes: &[u8],
        known: KeyCheck,
        document: Option<&str>,
    ) -> Result<Profile, Error> {
        let file = source.label(name);
        let at = |line: Option<usize>, column: Option<usize>, key: Option<&str>| Location {
            file: file.clone(),
            line,
            column,
            key: key.map(str::to_string),
        };
        let fail =
            |at: Location, problem: Problem| Error::Invalid(vec![Diagnostic { at, problem }]);

        // A built-in's document was made from its YAML by the build and is
        // checked against it by the tests: the guards below, which keep the
        // YAML parser linear on hostile input, have nothing to guard.
        let precompiled = document.and_then(|json| serde_json::from_str::<RawProfile>(json).ok());
        let text = match &precompiled {
            Some(_) => std::str::from_utf8(bytes).unwrap_or_default(),
            None => guarded_text(bytes)
                .map_err(|(line, column, problem)| fail(at(line, column, None), problem))?,
        };
        // Positions are needed only to word a problem, and for `extends`:
        // the key scan runs when something is wrong.
        let locator = LazyCell::new(|| Locator::scan(text));
        let raw: RawProfile = match precompiled {
            Some(raw) => Ok(raw),
            None => serde_yaml::from_str(text),
        }
        .map_err(|e| {
            let (problem, field, key) = shape_problem(&e);
            let found = field
                .as_deref()
                .and_then(|f| locator.find(&[f], usize::from(problem_is_duplicate(&e))));
            let (line, column) = match found {
                Some(k) => (Some(k.line), Some(k.column)),
                None => (
                    e.location().map(|l| l.line()),
                    e.location().map(|l| l.column()),
                ),
            };
            fail(at(line, column, key.as_deref()), problem)
        })?;

        if raw.sysctls.0.len() > MAX_ENTRIES {
            let k = locator.find(&["sysctls"], 0);
            return Err(fail(
                at(k.map(|k| k.line), k.map(|k| k.column), Some("sysctls")),
                Problem::TooManyKeys { limit: MAX_ENTRIES },
            ));
        }
        let extends_at = raw
            .extends
            .as_ref()
            .and_then(|_| locator::top_level(text, "extends"));
        let mut problems = Vec::new();
        if let Some(parent) = &raw.extends
            && !is_valid_name(
                parent
                    .strip_prefix(crate::library::BUILTIN_PREFIX)
                    .unwrap_or(parent),
            )
        {
            problems.push(Diagnostic {
                at: at(
                    extends_at.map(|k| k.line),
                    extends_at.map(|k| k.column),
                    Some("extends"),
                ),
                problem: Problem::BadName {
                    name: parent.clone(),
                },
            });
        }

        let written = &raw.sysctls.0;
        // Where the `index`th entry stands: the nth occurrence of its
        // spelling (duplicates are kept, so count the earlier ones).
        let position = |index: usize| {
            let key = written[index].0.as_str();
            let nth = written[..index].iter().filter(|(k, _)| k == key).count();
            locator.find(&["sysctls", key], nth).copied()
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(written.len());
        // Each full key's first entry, to report a second one.
        let mut seen: FxHashMap<String, usize> = FxHashMap::default();
        for (index, (spelling, node)) in written.iter().enumerate() {
            let here = || {
                let k = position(index);
                at(k.map(|k| k.line), k.map(|k| k.column), Some(spelling))
            };
            match check_entry(spelling, node, known) {
                Err((problem, field)) => {
                    // At the sub-field when it is found, else at the entry.
                    let at = field
                        .and_then(|f| locator.find(&["sysctls", spelling, f], 0))
                        .map_or_else(here, |k| at(Some(k.line), Some(k.column), Some(spelling)));
                    problems.push(Diagnostic { at, problem });
                }
                Ok((key, param, target, why, outside_net)) => {
                    if let Some(&first) = seen.get(&key) {
                        let other = &written[first].0;
                        let other_line = position(first).map(|k| k.line);
                        let problem = if other == spelling {
                            Problem::DuplicateKey {
                                first_line: other_line,
                            }
                        } else {
                            Problem::SameParameterTwice {
                                other: other.clone(),
                                other_line,
                            }
                        };
                        problems.push(Diagnostic {
                            at: here(),
                            problem,
                        });
                        continue;
                    }
                    seen.insert(key.clone(), index);
                    entries.push(Entry {
                        key,
                        param,
                        target,
                        why,
                        outside_net,
                        origin: name.to_string(),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(Profile {
            name: name.to_string(),
            source,
            description: raw.description.unwrap_or_default().trim().to_string(),
            extends: raw.extends,
            extends_at: extends_at.map(|k| (k.line, k.column)),
            entries,
        })
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

fn problem_is_duplicate(e: &serde_yaml::Error) -> bool {
    e.to_string().starts_with("duplicate field")
}

/// Words a deserializer error. Returns the problem, the top-level field it
/// names (to locate it), and the sysctl key when the error is inside one.
fn shape_problem(e: &serde_yaml::Error) -> (Problem, Option<String>, Option<String>) {
    let full = e.to_string();
    let msg = full.split(" at line ").next().unwrap_or(&full);
    // Errors inside the sysctls mapping read "sysctls.KEY: ...".
    if let Some((key, rest)) = msg
        .strip_prefix("sysctls.")
        .and_then(|m| m.split_once(": "))
    {
        let problem = match rest.split('`').nth(1) {
            Some(n) if rest.contains("as u128") || rest.contains("as i128") => {
                Problem::Shape(format!("{n} is too large for any sysctl"))
            }
            _ => Problem::Shape(rest.to_string()),
        };
        return (problem, None, Some(key.to_string()));
    }
    let field = msg.split('`').nth(1).map(str::to_string);
    if msg.starts_with("duplicate field") {
        return (
            Problem::DuplicateKey { first_line: None },
            field.clone(),
            field,
        );
    }
    if msg.starts_with("unknown field") {
        return (Problem::Shape(msg.to_string()), field.clone(), field);
    }
    const SERDE: [&str; 5] = [
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown variant",
    ];
    if e.location().is_some() && !SERDE.iter().any(|p| msg.contains(p)) {
        // Keep libyaml's "while parsing ... at line N" context; the first
        // position is already in the location.
        let rest = full
            .split_once(" at line ")
            .and_then(|(_, r)| r.split_once(", "))
            .map_or(String::new(), |(_, r)| format!(", {r}"));
        return (Problem::Syntax(format!("{msg}{rest}")), None, None);
    }
    if let Some(found) = msg
        .strip_prefix("invalid type: ")
        .and_then(|m| m.strip_suffix(", expected struct RawProfile"))
    {
        return (
            Problem::Shape(format!(
                "a profile is a mapping with `description`, `extends` and `sysctls`; this file holds {}",
                shortened(found)
            )),
            None,
            None,
        );
    }
    (Problem::Shape(msg.to_string()), None, None)
}

/// serde's `string "whole text"` cut to its start: an error quotes enough
/// of a wrong file to recognise it (`diff /etc/passwd`), never all of it.
fn shortened(found: &str) -> String {
    const KEEP: usize = 40;
    match found
        .strip_prefix("string \"")
        .and_then(|t| t.strip_suffix('"'))
    {
        Some(text) if text.chars().count() > KEEP => {
            let head: String = text.chars().take(KEEP).collect();
            format!(
                "text of {} characters (\"{head}...\")",
                text.chars().count()
            )
        }
        Some(text) => format!("the text \"{text}\""),
        None => format!("a {found}"),
    }
}

type Checked = (String, Option<&'static Param>, Target, Option<String>, bool);
/// A problem in one entry, and the sub-field (`value`, `why`...) it is in.
type EntryError = (Problem, Option<&'static str>);

/// Validates one `key: node` entry. On error, also names the sub-field
/// (`value`, `at_least`...) to point at, if any.
fn check_entry(written: &str, node: &Node, known: KeyCheck) -> Result<Checked, EntryError> {
    if let Some(r) = catalog::find_removed(written) {
        return Err((
            Problem::Removed {
                since: r.since,
                why: r.why,
                instead: r.instead,
            },
            None,
        ));
    }
    let param = catalog::find(written);
    let key = match param {
        Some(p) => p.key.to_string(),
        None => {
            let unknown = |kernel_checked| {
                Err((
                    Problem::UnknownKey {
                        suggestion: catalog::suggest(written),
                        kernel_checked,
                    },
                    None,
                ))
            };
            let key = match key::canonical(written) {
                Ok(k) => k,
                Err(e) => return Err((Problem::BadKey(e), None)),
            };
            if let Some(p) = catalog::find(&key) {
                p.key.to_string()
            } else {
                match known {
                    // diff, check: the running kernel decides.
                    Some(has) if !has(&key) => return unknown(true),
                    Some(_) => key,
                    // lint: accept a plausible full key, unless it looks like a typo.
                    None if !key.contains('.') || catalog::suggest(written).is_some() => {
                        return unknown(false);
                    }
                    None => key,
                }
            }
        }
    };
    let param = param.or_else(|| catalog::find(&key));
    let (target, why, allow_outside) = match node {
        Node::Mapping(map) => check_mapping(map, param)?,
        plain => (
            Target::Exact(to_value(plain, param).map_err(|p| (p, None))?),
            None,
            false,
        ),
    };
    let outside_net = !key::is_net(&key);
    if outside_net && !allow_outside {
        return Err((Problem::OutsideNet { key }, None));
    }
    Ok((key, param, target, why, outside_net))
}

fn check_mapping(
    map: &serde_yaml::Mapping,
    param: Option<&Param>,
) -> Result<(Target, Option<String>, bool), EntryError> {
    const FIELDS: [&str; 5] = ["value", "at_least", "at_most", "why", "allow_outside_net"];
    let mut allow_outside = false;
    let mut value = None;
    let mut bounds = [None, None];
    let mut why = None;
    for (k, v) in map {
        let Some(field) = k.as_str().and_then(|k| FIELDS.iter().find(|f| **f == k)) else {
            let name = k.as_str().map_or_else(|| describe(k), |s| format!("`{s}`"));
            return Err((
                Problem::Shape(format!(
                    "unknown field {name} in this entry; expected one of value, at_least, at_most, why, allow_outside_net"
                )),
                None,
            ));
        };
        match *field {
            "allow_outside_net" => match v {
                Node::Bool(b) => allow_outside = *b,
                other => {
                    return Err((
                        Problem::WrongType {
                            expected: "true or false".into(),
                            found: describe(other),
                        },
                        Some("allow_outside_net"),
                    ));
                }
            },
            "why" => match v {
                Node::String(s) => why = Some(s.trim().to_string()),
                other => {
                    return Err((
                        Problem::WrongType {
                            expected: "a sentence (the reason for this value)".into(),
                            found: describe(other),
                        },
                        Some("why"),
                    ));
                }
            },
            "value" => value = Some(to_value(v, param).map_err(|p| (p, Some("value")))?),
            bound => {
                let Some(p) = param.filter(|p| p.kind != Kind::Pair) else {
                    let expected = "a plain `value`: at_least and at_most need a single-integer parameter from the catalog";
                    return Err((
                        Problem::WrongType {
                            expected: expected.into(),
                            found: format!("`{bound}`"),
                        },
                        Some(*field),
                    ));
                };
                let n = to_int(v, p).map_err(|e| (e, Some(*field)))?;
                bounds[usize::from(bound == "at_most")] = Some(n);
            }
        }
    }
    let target = match (value, bounds) {
        (Some(_), [Some(_), _] | [_, Some(_)]) => return Err((Problem::ValueAndBound, None)),
        (Some(v), _) => Target::Exact(v),
        (None, [None, None]) => return Err((Problem::NoTarget, None)),
        (None, [Some(lo), Some(hi)]) if lo > hi => {
            return Err((
                Problem::BoundsInverted {
                    at_least: lo,
                    at_most: hi,
                },
                Some("at_most"),
            ));
        }
        (None, [at_least, at_most]) => Target::Bounds { at_least, at_most },
    };
    Ok((target, why, allow_outside))
}

/// Converts a plain YAML node to a value of the parameter's kind.
fn to_value(node: &Node, param: Option<&Param>) -> Result<Value, Problem> {
    let Some(p) = param else {
        return match node {
            Node::Number(n) => Ok(Value::Text(n.to_string())),
            Node::String(s)
                if s.chars().any(|c| {
                    crate::render::sanitize::is_unsafe(c) && !matches!(c, ' ' | '\t' | '\n')
                }) =>
            {
                Err(Problem::UnsafeValue {
                    text: crate::render::sanitize::clean(s).into_owned(),
                })
            }
            Node::String(s) if !s.trim().is_empty() => Ok(Value::Text(value::normalize_text(s))),
            other => Err(Problem::WrongType {
                expected: "a number or a string".into(),
                found: describe(other),
            }),
        };
    };
    match p.kind {
        Kind::Pair => to_pair(node, p),
        _ => to_int(node, p).map(Value::Int),
    }
}

fn to_int(node: &Node, p: &Param) -> Result<i64, Problem> {
    let expected = || format!("an integer in {}", p.range);
    let v = match node {
        Node::Number(n) => match n.as_i64() {
            Some(v) => v,
            None if n.is_u64() => {
                return Err(Problem::OutOfRange {
                    value: n.to_string(),
                    range: p.range,
                    portable: p.kind == Kind::Seconds,
                });
            }
            None => {
                return Err(Problem::WrongType {
                    expected: expected(),
                    found: n.to_string(),
                });
            }
        },
        Node::String(s) => match value::parse_int(s) {
            Ok(v) => v,
            Err(IntError::LeadingZero { octal }) => {
                return Err(Problem::AmbiguousOctal {
                    text: s.clone(),
                    octal,
                });
            }
            Err(IntError::NotANumber) => {
                return Err(Problem::WrongType {
                    expected: expected(),
                    found: format!("\"{s}\""),
                });
            }
        },
        other => {
            return Err(Problem::WrongType {
                expected: expected(),
                found: describe(other),
            });
        }
    };
    if !p.range.contains(v) {
        return Err(Problem::OutOfRange {
            value: v.to_string(),
            range: p.range,
            portable: p.kind == Kind::Seconds,
        });
    }
    Ok(v)
}

fn to_pair(node: &Node, p: &Param) -> Result<Value, Problem> {
    let expected = || {
        format!(
            "two integers in {}, low then high, e.g. \"32768 60999\"",
            p.range
        )
    };
    let parts: Vec<Node> = match node {
        Node::String(s) => s
            .split_whitespace()
            .map(|t| Node::String(t.to_string()))
            .collect(),
        Node::Sequence(items) => items.clone(),
        other => {
            return Err(Problem::WrongType {
                expected: expected(),
                found: describe(other),
            });
        }
    };
    let [lo, hi] = parts.as_slice() else {
        return Err(Problem::WrongType {
            expected: expected(),
            found: describe(node),
        });
    };
    let (lo, hi) = (to_int(lo, p)?, to_int(hi, p)?);
    if lo > hi {
        return Err(Problem::PairOrder { low: lo, high: hi });
    }
    Ok(Value::Pair(lo, hi))
}

fn describe(node: &Node) -> String {
    match node {
        Node::Null => "nothing (null)".into(),
        Node::Bool(b) => format!("a boolean ({b}); write 1 or 0"),
        Node::Number(n) => n.to_string(),
        Node::String(s) => format!("\"{s}\""),
        Node::Sequence(s) => format!("a list of {} items", s.len()),
        Node::Mapping(_) => "a mapping".into(),
        Node::Tagged(_) => "a tagged value".into(),
    }
}

/// A profile's entries serialized as an ordered mapping (file order), the
/// shape `show` prints in YAML and JSON.
pub struct OrderedEntries<'a>(pub &'a [Entry]);

/// One entry as `show` gives it in JSON: values in kernel text, like
/// every value in tcptune's JSON.
#[derive(Serialize)]
struct ShownEntry<'a> {
    value: Option<String>,
    at_least: Option<String>,
    at_most: Option<String>,
    why: Option<&'a str>,
    allow_outside_net: bool,
    from: &'a str,
}

impl Serialize for OrderedEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for e in self.0 {
            let (value, at_least, at_most) = match &e.target {
                Target::Exact(v) => (Some(v.to_string()), None, None),
                Target::Bounds { at_least, at_most } => (
                    None,
                    at_least.map(|v| v.to_string()),
                    at_most.map(|v| v.to_string()),
                ),
            };
            map.serialize_entry(
                &e.key,
                &ShownEntry {
                    value,
                    at_least,
                    at_most,
                    why: e.why.as_deref(),
                    allow_outside_net: e.outside_net,
                    from: &e.origin,
                },
            )?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build's JSON documents give exactly what the YAML gives, for
    /// every built-in (and they exist: the fast path is taken).
    #[test]
    fn precompiled_builtins_match_their_yaml() {
        assert_eq!(PRECOMPILED.len(), crate::library::BUILTIN.len());
        for (name, text) in crate::library::BUILTIN {
            let json = PRECOMPILED.iter().find(|(n, _)| n == name).unwrap().1;
            assert!(serde_json::from_str::<RawProfile>(json).is_ok(), "{name}");
            let fast = Profile::parse_builtin(name, text, None).unwrap();
            let slow = Profile::parse(name, Source::Builtin, text.as_bytes(), None).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{name}");
            assert!(!fast.entries.is_empty());
        }
    }

    fn parse(text: &str) -> Result<Profile, Error> {
        Profile::parse("t", Source::File("t.yaml".into()), text.as_bytes(), None)
    }

    fn problems(text: &str) -> Vec<Diagnostic> {
        match parse(text) {
            Err(Error::Invalid(d)) => d,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn reads_every_form_of_the_contract() {
        let p = parse(
            "description: d\nextends: kernel-defaults\nsysctls:\n  net.core.somaxconn: 8192\n  tcp_synack_retries: 2\n  net.ipv4.tcp_max_syn_backlog: {at_least: 8192}\n  net.ipv4.tcp_keepalive_time: {value: 600, why: \"lb\"}\n  net.ipv4.ip_local_port_range: \"10240 65000\"\n",
        )
        .unwrap();
        assert_eq!(p.extends.as_deref(), Some("kernel-defaults"));
        let keys: Vec<_> = p.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "net.core.somaxconn",
                "net.ipv4.tcp_synack_retries",
                "net.ipv4.tcp_max_syn_backlog",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.ip_local_port_range"
            ]
        );
        assert_eq!(
            p.entries[2].target,
            Target::Bounds {
                at_least: Some(8192),
                at_most: None
            }
        );
        assert_eq!(p.entries[3].why.as_deref(), Some("lb"));
        assert_eq!(
            p.entries[4].target,
            Target::Exact(Value::Pair(10240, 65000))
        );
        assert_eq!(p.extends_at, Some((2, 1)));
    }

    #[test]
    fn collects_every_problem_with_its_line() {
        let d = problems(
            "sysctls:\n  tcp_synack_retries: 256\n  tcp_syn_retries: 0\n  tcp_fin_timeout: \"010\"\n",
        );
        let lines: Vec<_> = d.iter().map(|d| d.at.line).collect();
        assert_eq!(lines, [Some(2), Some(3), Some(4)]);
        assert!(matches!(d[0].problem, Problem::OutOfRange { .. }));
        assert!(matches!(
            d[2].problem,
            Problem::AmbiguousOctal { octal: Some(8), .. }
        ));
    }

    #[test]
    fn alias_and_full_key_together_are_one_parameter_twice() {
        let d = problems("sysctls:\n  tcp_synack_retries: 2\n  net.ipv4.tcp_synack_retries: 3\n");
        assert_eq!(d[0].at.line, Some(3));
        assert_eq!(
            d[0].problem,
            Problem::SameParameterTwice {
                other: "tcp_synack_retries".into(),
                other_line: Some(2)
            }
        );
    }

    #[test]
    fn names_cannot_leave_the_directory() {
        assert!(is_valid_name("web-server") && is_valid_name("a.b_c"));
        for bad in ["../x", ".hidden", "a/b", "", "..", "x\0"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
