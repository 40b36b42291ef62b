//! `Value`: a sysctl value in canonical form, so that a profile's `010`,
//! the kernel's `10`, and a pair printed with a tab compare as they should.
//!
//! Parsing here follows what the kernel accepts; turning a YAML node into a
//! value (with profile-level wording for errors) lives in `profile.rs`.

use std::fmt;

use crate::catalog::{Kind, Param};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Pair(i64, i64),
    /// A key outside the catalog: whitespace-separated tokens, integers in
    /// canonical decimal.
    Text(String),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Parses what the kernel prints for `param` (or, with `None`, for a key
    /// outside the catalog). The kernel always prints decimal.
    pub fn from_kernel(text: &str, param: Option<&Param>) -> Option<Value> {
        match param.map(|p| p.kind) {
            None => Some(Value::Text(normalize_text(text))),
            Some(Kind::Pair) => {
                let mut it = text.split_whitespace().map(|t| t.parse::<i64>().ok());
                match (it.next(), it.next(), it.next()) {
                    (Some(Some(lo)), Some(Some(hi)), None) => Some(Value::Pair(lo, hi)),
                    _ => None,
                }
            }
            Some(_) => text.trim().parse().ok().map(Value::Int),
        }
    }

    /// What the kernel stores when `text` is written to `param` (as a
    /// loader does from a sysctl.d line), by the kernel's own parser
    /// (`proc_get_long`): leading white space skipped, `010` octal, `0x10`
    /// hex, and the number must be followed by a space, a tab, a newline or
    /// the end (so `30 # note` stores 30, `100\r...` is refused). A scalar
    /// takes the first number. `None` when the kernel would refuse it.
    pub fn from_write(text: &str, param: Option<&Param>) -> Option<Value> {
        let Some(p) = param else {
            return Some(Value::Text(normalize_text(text)));
        };
        let mut rest = text;
        let mut next = || {
            let t = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            let end = t.find([' ', '\t', '\n']).unwrap_or(t.len());
            rest = &t[end..];
            let v = match parse_int(&t[..end]) {
                Ok(v) => Some(v),
                Err(IntError::LeadingZero { octal }) => octal,
                Err(IntError::NotANumber) => None,
            }?;
            p.range.contains(v).then_some(v)
        };
        match p.kind {
            // One number changes only the low end; not modelled.
            Kind::Pair => Some(Value::Pair(next()?, next()?)),
            _ => next().map(Value::Int),
        }
    }

    /// The text to write under /proc/sys and into sysctl.d files.
    pub fn to_kernel(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Pair(lo, hi) => write!(f, "{lo} {hi}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// Why a piece of text is not an integer the kernel would read as meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntError {
    NotANumber,
    /// `010` is octal 8 to the kernel; almost nobody means that.
    LeadingZero {
        octal: Option<i64>,
    },
}

/// Parses an integer as a profile author writes it: decimal, or `0x` hex.
pub fn parse_int(text: &str) -> Result<i64, IntError> {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).map_err(|_| IntError::NotANumber)?
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(IntError::LeadingZero {
            octal: i64::from_str_radix(digits, 8)
                .ok()
                .map(|v| if neg { -v } else { v }),
        });
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().map_err(|_| IntError::NotANumber)?
    } else {
        return Err(IntError::NotANumber);
    };
    Ok(if neg { -magnitude } else { magnitude })
}

/// Canonical form of a value outside the catalog: single spaces, integers
/// in decimal (so "1\t02" and "1 2" compare equal, as the kernel reads both).
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace()
        .map(|tok| match parse_int(tok) {
            Ok(v) => v.to_string(),
            Err(IntError::LeadingZero { octal: Some(v) }) => v.to_string(),
            Err(_) => tok.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn integers_as_authors_write_them() {
        assert_eq!(parse_int("42"), Ok(42));
        assert_eq!(parse_int(" -1 "), Ok(-1));
        assert_eq!(parse_int("0x10"), Ok(16));
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(
            parse_int("010"),
            Err(IntError::LeadingZero { octal: Some(8) })
        );
        assert_eq!(parse_int("1.5"), Err(IntError::NotANumber));
        assert_eq!(parse_int(""), Err(IntError::NotANumber));
        assert_eq!(parse_int("99999999999999999999"), Err(IntError::NotANumber));
    }

    #[test]
    fn kernel_pairs_read_with_tab() {
        let p = catalog::find("ip_local_port_range");
        assert_eq!(
            Value::from_kernel("32768\t60999\n", p),
            Some(Value::Pair(32768, 60999))
        );
        assert_eq!(Value::from_kernel("1 2 3", p), None);
        assert_eq!(Value::Pair(1024, 65000).to_kernel(), "1024 65000");
    }

    #[test]
    fn writes_as_the_kernel_reads_them() {
        let fin = catalog::find("tcp_fin_timeout");
        assert_eq!(Value::from_write("010", fin), Some(Value::Int(8)));
        assert_eq!(Value::from_write("30 # comment", fin), Some(Value::Int(30)));
        assert_eq!(Value::from_write("abc", fin), None);
        assert_eq!(Value::from_write("100\rnet.ipv4.x = 12", fin), None);
        assert_eq!(Value::from_write(" 7\n", fin), Some(Value::Int(7)));
        assert_eq!(
            Value::from_write("300", catalog::find("tcp_synack_retries")),
            None
        );
        assert_eq!(
            Value::from_write("1024\t65000", catalog::find("ip_local_port_range")),
            Some(Value::Pair(1024, 65000))
        );
    }

    #[test]
    fn unknown_keys_compare_normalized() {
        assert_eq!(
            Value::from_kernel("4096\t131072  6291456\n", None),
            Value::from_kernel("4096 131072 6291456", None)
        );
        assert_eq!(normalize_text("cubic"), "cubic");
    }
}
