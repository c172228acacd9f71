//! Name templates of the writing operations: `{stem|lower}-{n:03}.{ext}`,
//! `{mtime:%Y}/{mtime:%m}/{name}`, `{1}_{year}{ext}`.
//!
//! A template is text with fields in braces (`{{` and `}}` are literal braces). A field is a
//! name, an optional argument after `:`, and filters after `|`:
//!
//! | field | value |
//! | --- | --- |
//! | `name` | the entry's name (`report.tar.gz`) |
//! | `stem`, `ext` | the name without / after its last dot (`report.tar`, `gz`; no dot: the name, empty) |
//! | `parent` | the name of the directory the entry is in |
//! | `path` | the entry's path below its root (`2024/report.tar.gz`) |
//! | `1`, `2`... `year` | a capture group of the match regex, by number or name (empty if it did not take part) |
//! | `n`, `n:03` | the counter (`--start`, `--step`), zero-padded to the given width |
//! | `mtime`, `mtime:%Y-%m-%d` | the modification time in local time, strftime format (default `%Y-%m-%d`) |
//! | `size` | the size in bytes |
//! | `hash`, `hash:8` | the BLAKE3 digest in hex, its first N digits (1 to 64; default 64) |
//!
//! Filters: `lower`, `upper`, `title` (first letter of each word upper, the rest lower), `slug`
//! (lower-case ASCII letters and digits, other runs as one `-`), `replace:FROM:TO`. Names are
//! bytes: a part that is not UTF-8 is kept as it is, filters change only the UTF-8 parts.
//! Errors name the position (1-based, in characters) of what is wrong.

use std::fmt::Write as _;

use regex::bytes::{Captures, Regex};

/// A template that does not parse, or names a capture the regex does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}, at character {position}: {message}")]
pub struct TemplateError {
    pub template: String,
    /// 1-based, in characters.
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Name,
    Stem,
    Ext,
    Parent,
    Path,
    Capture(usize),
    NamedCapture(String),
    /// The counter, zero-padded to `width` digits.
    Counter {
        width: usize,
    },
    /// strftime format, local time.
    Mtime(String),
    Size,
    /// The first `digits` hex digits of the BLAKE3 digest.
    Hash(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Lower,
    Upper,
    Title,
    Slug,
    Replace(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `at`: the 1-based character position of its `{`, for messages.
    Field {
        field: Field,
        filters: Vec<Filter>,
        at: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// What a template's fields are filled from, for one entry.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub name: &'a [u8],
    pub parent: &'a [u8],
    pub path: &'a [u8],
    pub captures: Option<&'a Captures<'a>>,
    pub counter: i64,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub size: u64,
    /// Lower-case hex BLAKE3 digest; required when [`Template::needs_hash`].
    pub hash: Option<&'a str>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let fail = |at: usize, message: String| TemplateError {
            template: source.to_string(),
            position: source[..at].chars().count() + 1,
            message,
        };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|p| p.1) == Some('{') => {
                    rest.next();
                    text.push('{');
                }
                '}' if rest.peek().map(|p| p.1) == Some('}') => {
                    rest.next();
                    text.push('}');
                }
                '}' => {
                    return Err(fail(i, "a '}' without its '{' (write '}}' for a brace)".into()))
                }
                '{' => {
                    let end = source[i..]
                        .find('}')
                        .map(|e| i + e)
                        .ok_or_else(|| fail(i, "a '{' without its '}'".into()))?;
                    let inner = &source[i + 1..end];
                    if let Some(nested) = inner.find('{') {
                        return Err(fail(i + 1 + nested, "a '{' inside a field".into()));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    let (field, filters) =
                        parse_field(inner).map_err(|(at, m)| fail(i + 1 + at, m))?;
                    let at = source[..i].chars().count() + 1;
                    parts.push(Part::Field { field, filters, at });
                    while rest.peek().is_some_and(|p| p.0 < end + 1) {
                        rest.next();
                    }
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { source: source.to_string(), parts })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether rendering needs the file's digest (`{hash}`): the caller reads the file first.
    pub fn needs_hash(&self) -> bool {
        self.fields().any(|f| matches!(f, Field::Hash(_)))
    }

    /// Whether it uses the counter (`{n}`): the caller numbers the entries in its sort order.
    pub fn uses_counter(&self) -> bool {
        self.fields().any(|f| matches!(f, Field::Counter { .. }))
    }

    /// Checks that every capture the template names exists in `regex` (None: no regex, so a
    /// capture is an error).
    pub fn check_captures(&self, regex: Option<&Regex>) -> Result<(), TemplateError> {
        for (field, at) in self.fields_at() {
            let missing = match (field, regex) {
                (Field::Capture(i), Some(r)) if *i < r.captures_len() => None,
                (Field::NamedCapture(n), Some(r)) if r.capture_names().any(|c| c == Some(n)) => {
                    None
                }
                (Field::Capture(i), _) => Some(format!("no capture group {i} in the match regex")),
                (Field::NamedCapture(n), _) => {
                    Some(format!("no field or capture group named {n:?} in the match regex"))
                }
                _ => None,
            };
            if let Some(message) = missing {
                return Err(TemplateError { template: self.source.clone(), position: at, message });
            }
        }
        Ok(())
    }

    fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields_at().map(|(field, _)| field)
    }

    fn fields_at(&self) -> impl Iterator<Item = (&Field, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field { field, at, .. } => Some((field, *at)),
            Part::Text(_) => None,
        })
    }

    /// The rendered bytes for one entry.
    pub fn render(&self, vars: &Vars<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(vars.name.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Field { field, filters, .. } => {
                    let mut value = field_value(field, vars);
                    for filter in filters {
                        value = apply(filter, &value);
                    }
                    out.extend_from_slice(&value);
                }
            }
        }
        out
    }
}

fn parse_field(inner: &str) -> Result<(Field, Vec<Filter>), (usize, String)> {
    let mut pieces = inner.split('|');
    let spec = pieces.next().unwrap_or_default();
    let (name, arg) = match spec.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (spec, None),
    };
    let no_arg = |field: Field| match arg {
        None => Ok(field),
        Some(_) => Err((name.len(), format!("{{{name}}} takes no argument"))),
    };
    let field = match name {
        "" => return Err((0, "an empty field (write '{{' for a brace)".into())),
        "name" => no_arg(Field::Name)?,
        "stem" => no_arg(Field::Stem)?,
        "ext" => no_arg(Field::Ext)?,
        "parent" => no_arg(Field::Parent)?,
        "path" => no_arg(Field::Path)?,
        "size" => no_arg(Field::Size)?,
        "n" => match arg {
            None => Field::Counter { width: 0 },
            Some(a)
                if a.len() >= 2 && a.starts_with('0') && a.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let width = a[1..].parse().map_err(|_| (2, "a width too large".to_string()))?;
                if width > 32 {
                    return Err((2, "a counter width of at most 32".into()));
                }
                Field::Counter { width }
            }
            Some(a) => {
                return Err((2, format!("the counter's format is 0 and a width (n:03), not {a:?}")))
            }
        },
        "mtime" => Field::Mtime(arg.unwrap_or("%Y-%m-%d").to_string()),
        "hash" => match arg {
            None => Field::Hash(64),
            Some(a) => match a.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Field::Hash(n),
                _ => return Err((5, format!("hash takes 1 to 64 digits, not {a:?}"))),
            },
        },
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let index =
                digits.parse().map_err(|_| (0, "a capture number too large".to_string()))?;
            no_arg(Field::Capture(index))?
        }
        ident if ident.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            no_arg(Field::NamedCapture(ident.to_string()))?
        }
        other => return Err((0, format!("unknown field {other:?}"))),
    };
    if let Field::Mtime(format) = &field {
        check_strftime(format).map_err(|m| (name.len() + 1, m))?;
    }
    let mut filters = Vec::new();
    let mut at = spec.len() + 1;
    for piece in pieces {
        let mut args = piece.split(':');
        let filter = match (args.next().unwrap_or_default(), args.next(), args.next(), args.next())
        {
            ("lower", None, ..) => Filter::Lower,
            ("upper", None, ..) => Filter::Upper,
            ("title", None, ..) => Filter::Title,
            ("slug", None, ..) => Filter::Slug,
            ("replace", Some(from), Some(to), None) if !from.is_empty() => {
                Filter::Replace(from.into(), to.into())
            }
            ("replace", ..) => {
                return Err((
                    at,
                    "replace takes two arguments, replace:FROM:TO (FROM not empty)".into(),
                ))
            }
            (other, ..) => {
                return Err((
                    at,
                    format!(
                        "unknown filter {other:?} (lower, upper, title, slug, replace:FROM:TO)"
                    ),
                ))
            }
        };
        filters.push(filter);
        at += piece.len() + 1;
    }
    Ok((field, filters))
}

/// Formats a fixed time with `format`, to find bad directives when the template is parsed.
fn check_strftime(format: &str) -> Result<(), String> {
    let mut out = String::new();
    let zoned = jiff::Timestamp::UNIX_EPOCH.to_zoned(jiff::tz::TimeZone::UTC);
    write!(out, "{}", zoned.strftime(format))
        .map_err(|_| format!("a time format jiff cannot write: {format:?}"))
}

fn field_value(field: &Field, v: &Vars<'_>) -> Vec<u8> {
    match field {
        Field::Name => v.name.to_vec(),
        Field::Stem => split_ext(v.name).0.to_vec(),
        Field::Ext => split_ext(v.name).1.to_vec(),
        Field::Parent => v.parent.to_vec(),
        Field::Path => v.path.to_vec(),
        Field::Capture(i) => capture(v, |c| c.get(*i)),
        Field::NamedCapture(n) => capture(v, |c| c.name(n)),
        Field::Counter { width } => format!("{:0width$}", v.counter, width = *width).into_bytes(),
        Field::Mtime(format) => local_time(v.mtime, format).into_bytes(),
        Field::Size => v.size.to_string().into_bytes(),
        Field::Hash(n) => {
            v.hash.map(|h| h.as_bytes()[..(*n).min(h.len())].to_vec()).unwrap_or_default()
        }
    }
}

fn capture<'a>(
    v: &Vars<'a>,
    get: impl FnOnce(&Captures<'a>) -> Option<regex::bytes::Match<'a>>,
) -> Vec<u8> {
    v.captures.and_then(get).map(|m| m.as_bytes().to_vec()).unwrap_or_default()
}

/// (stem, extension) around the last dot; a leading dot does not start an extension.
pub fn split_ext(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == b'.') {
        Some(0) | None => (name, b""),
        Some(i) => (&name[..i], &name[i + 1..]),
    }
}

fn local_time(seconds: i64, format: &str) -> String {
    let Ok(t) = jiff::Timestamp::from_second(seconds) else {
        return String::new();
    };
    let mut out = String::new();
    let zoned = t.to_zoned(jiff::tz::TimeZone::system());
    let _ = write!(out, "{}", zoned.strftime(format));
    out
}

/// `value` with `f` applied to its UTF-8 parts; bytes that are not UTF-8 stay as they are.
fn map_utf8(value: &[u8], mut f: impl FnMut(&str, &mut String)) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut buf = String::new();
    for chunk in value.utf8_chunks() {
        buf.clear();
        f(chunk.valid(), &mut buf);
        out.extend_from_slice(buf.as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
    out
}

fn apply(filter: &Filter, value: &[u8]) -> Vec<u8> {
    match filter {
        Filter::Lower => map_utf8(value, |s, out| out.push_str(&s.to_lowercase())),
        Filter::Upper => map_utf8(value, |s, out| out.push_str(&s.to_uppercase())),
        Filter::Title => {
            let mut start = true;
            map_utf8(value, |s, out| {
                for c in s.chars() {
                    if c.is_alphanumeric() {
                        if start {
                            out.extend(c.to_uppercase());
                        } else {
                            out.extend(c.to_lowercase());
                        }
                        start = false;
                    } else {
                        out.push(c);
                        start = true;
                    }
                }
            })
        }
        Filter::Slug => {
            let mut out = Vec::with_capacity(value.len());
            let mut dash = false;
            for &b in value {
                if b.is_ascii_alphanumeric() {
                    if dash && !out.is_empty() {
                        out.push(b'-');
                    }
                    dash = false;
                    out.push(b.to_ascii_lowercase());
                } else {
                    dash = true;
                }
            }
            out
        }
        Filter::Replace(from, to) => {
            let from = from.as_bytes();
            let mut out = Vec::with_capacity(value.len());
            let mut i = 0;
            while i < value.len() {
                if value[i..].starts_with(from) {
                    out.extend_from_slice(to.as_bytes());
                    i += from.len();
                } else {
                    out.push(value[i]);
                    i += 1;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(name: &'a [u8], captures: Option<&'a Captures<'a>>) -> Vars<'a> {
        Vars {
            name,
            parent: b"photos",
            path: b"2024/x",
            captures,
            counter: 7,
            mtime: 1_700_000_000,
            size: 1234,
            hash: Some("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
        }
    }

    fn render(template: &str, name: &[u8]) -> Vec<u8> {
        Template::parse(template).unwrap().render(&vars(name, None))
    }

    #[test]
    fn fields_and_filters() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("{stem|upper}-{n:03}.{ext}", b"My File.TXT", b"MY FILE-007.TXT"),
            ("{name|slug}", b"  My File (2).TXT", b"my-file-2-txt"),
            ("{stem|title}", b"the QUICK brown-fox", b"The Quick Brown-Fox"),
            ("{stem|replace:_: }{{x}}", b"a_b_c.d", b"a b c{x}"),
            ("{parent}/{path}/{size}/{hash:8}/{n}", b"x", b"photos/2024/x/1234/af1349b9/7"),
            ("{stem}|{ext}", b".bashrc", b".bashrc|"),
            ("{stem}|{ext}", b"a.tar.gz", b"a.tar|gz"),
            ("{name|upper}", b"caf\xe9.txt", b"CAF\xe9.TXT"),
        ];
        for (template, name, want) in cases {
            assert_eq!(render(template, name), want.to_vec(), "{template}");
        }
    }

    #[test]
    fn captures_by_number_and_name() {
        let re = Regex::new(r"^IMG_(?<year>\d{4})(\d\d)").unwrap();
        let t = Template::parse("{year}-{2}-{1}").unwrap();
        t.check_captures(Some(&re)).unwrap();
        let caps = re.captures(b"IMG_202403.jpg").unwrap();
        assert_eq!(t.render(&vars(b"IMG_202403.jpg", Some(&caps))), b"2024-03-2024".to_vec());
        let bad = Template::parse("x{3}").unwrap().check_captures(Some(&re)).unwrap_err();
        assert_eq!(
            (bad.position, bad.message.as_str()),
            (2, "no capture group 3 in the match regex")
        );
        let bad = Template::parse("ab{nme}").unwrap().check_captures(None).unwrap_err();
        let message = "no field or capture group named \"nme\" in the match regex";
        assert_eq!((bad.position, bad.message.as_str()), (3, message));
    }

    #[test]
    fn errors_name_their_position() {
        let cases = [
            ("ab{n-m}", 4, "unknown field \"n-m\""),
            ("ab{", 3, "a '{' without its '}'"),
            ("a}b", 2, "a '}' without its '{' (write '}}' for a brace)"),
            ("{}", 2, "an empty field (write '{{' for a brace)"),
            (
                "x{stem|lowr}",
                8,
                "unknown filter \"lowr\" (lower, upper, title, slug, replace:FROM:TO)",
            ),
            ("{n:3}", 4, "the counter's format is 0 and a width (n:03), not \"3\""),
            ("{hash:99}", 7, "hash takes 1 to 64 digits, not \"99\""),
            ("é{name:x}", 7, "{name} takes no argument"),
        ];
        for (template, position, message) in cases {
            let e = Template::parse(template).unwrap_err();
            assert_eq!((e.position, e.message.as_str()), (position, message), "{template}");
        }
    }

    #[test]
    fn mtime_is_formatted() {
        let t = Template::parse("{mtime:%Y}").unwrap();
        assert_eq!(t.render(&vars(b"x", None)), b"2023".to_vec());
        let t = Template::parse("{mtime:%Y/%m}/{name}").unwrap();
        // 1,700,000,000 s is 2023-11-14 22:13 UTC: November in every time zone.
        assert_eq!(t.render(&vars(b"x", None)), b"2023/11/x".to_vec());
    }
}
