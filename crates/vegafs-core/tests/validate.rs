//! validate() on real temporary files: each format passing and failing at an exact line and
//! column with an exact message, compressed streams checked to their end (and their content),
//! a schema compiled once and applied to JSON and to each JSON line, what is skipped.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::thread;

use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::{
    validate, Control, CoreError, Format, Schema, Selection, ValidateOptions, ValidateRow,
    ValidateSummary,
};

fn options() -> ValidateOptions {
    ValidateOptions { format: None, header: false, schema: None, max_errors: 100 }
}

fn run(root: &Path, opts: ValidateOptions) -> (ValidateSummary, Vec<ValidateRow>) {
    let sel = Selection::new(vec![root.to_path_buf()]);
    let control = Control::default();
    let (sink, rx) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
    let (summary, batches): (Result<ValidateSummary, CoreError>, Vec<Vec<ValidateRow>>) =
        thread::scope(|s| {
            let call = s.spawn(|| validate(&sel, opts, &control, sink));
            let batches: Vec<_> = rx.collect();
            (call.join().unwrap(), batches)
        });
    let mut rows = batches.concat();
    rows.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    (summary.unwrap(), rows)
}

type Seen = (String, &'static str, Option<u64>, Option<u64>, String);

/// Validates one file named `name` holding `content`: its rows as (name, format, line,
/// column, message).
fn one(name: &str, content: &[u8], opts: ValidateOptions) -> Vec<Seen> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), content).unwrap();
    let (summary, rows) = run(dir.path(), opts);
    assert_eq!(summary.error_count, 0, "{:?}", summary.errors);
    assert_eq!(summary.files, 1);
    assert_eq!(summary.failed, u64::from(!rows.is_empty()));
    rows.into_iter()
        .map(|r| {
            let name = r.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, r.format, r.line, r.column, r.message)
        })
        .collect()
}

fn fails(name: &str, content: &[u8]) -> (Option<u64>, Option<u64>, String) {
    let rows = one(name, content, options());
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (_, _, line, column, message) = rows.into_iter().next().unwrap();
    (line, column, message)
}

fn passes(name: &str, content: &[u8]) {
    assert_eq!(one(name, content, options()), vec![], "{name}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn the_extension_names_the_format() {
    assert_eq!(Format::of_name(b"a.JSON"), Some(Format::Json));
    assert_eq!(Format::of_name(b"a.ndjson"), Some(Format::Jsonl));
    assert_eq!(Format::of_name(b"a.yml"), Some(Format::Yaml));
    assert_eq!(Format::of_name(b"notes.txt"), Some(Format::Utf8));
    assert_eq!(Format::of_name(b"Makefile"), None);
    assert_eq!(Format::inner_of(b"data.json.gz", Format::Gzip), Some(Format::Json));
    assert_eq!(Format::inner_of(b"data.tar.gz", Format::Gzip), None);
    assert_eq!(Format::inner_of(b"x.csv.gz.zst", Format::Zstd), None);
}

#[test]
fn json() {
    passes("ok.json", b"{\"a\": [1, 2, {\"b\": null}]}\n");
    assert_eq!(
        fails("bad.json", b"{\n  \"a\": 1,\n  \"b\": tru\n}\n"),
        (Some(4), Some(1), "expected ident".to_string())
    );
    assert_eq!(
        fails("two.json", b"{}\n{}\n"),
        (Some(2), Some(1), "trailing characters".to_string())
    );
    assert_eq!(
        fails("empty.json", b""),
        (Some(1), Some(1), "EOF while parsing a value".to_string())
    );
}

#[test]
fn json_lines_each_bad_line_is_a_row() {
    passes("ok.jsonl", b"{\"a\": 1}\n\n[2]\n\"three\"");
    let rows = one("bad.ndjson", b"{\"a\": 1}\n{\"a\": \n[1,]\n", options());
    let seen: Vec<_> = rows.iter().map(|r| (r.2, r.3, r.4.as_str())).collect();
    assert_eq!(
        seen,
        vec![(Some(2), Some(6), "EOF while parsing a value"), (Some(3), Some(4), "expected value"),]
    );
}

#[test]
fn csv_and_tsv() {
    passes("ok.csv", b"a,b,c\r\n1,\"x,\"\"y\"\"\nz\",3\r\n4,5,6");
    passes("ok.tsv", b"a\tb\n1\t2\n");
    assert_eq!(
        fails("ragged.csv", b"a,b,c\n1,2,3\n4,5\n"),
        (Some(3), Some(1), "2 fields where the first record has 3".to_string())
    );
    assert_eq!(
        fails("stray.csv", b"a,b\n1,x\"y\n"),
        (Some(2), Some(4), "a quote in an unquoted field".to_string())
    );
    assert_eq!(
        fails("open.csv", b"a,b\n1,\"never\nclosed\n"),
        (Some(2), Some(3), "a quoted field is never closed".to_string())
    );
    assert_eq!(
        fails("after.csv", b"a,b\n\"x\"y,2\n"),
        (Some(2), Some(4), "a character after the closing quote of a field".to_string())
    );
    assert_eq!(
        fails("ragged.tsv", b"a\tb\n1\t2\t3\n"),
        (Some(2), Some(1), "3 fields where the first record has 2".to_string())
    );
}

#[test]
fn csv_header() {
    let header = ValidateOptions { header: true, ..options() };
    assert_eq!(one("h.csv", b"id,\"na,me\"\n1,2\n", header.clone()), vec![]);
    let rows = one("dup.csv", b"id,name,id\n1,2,3\n", header.clone());
    assert_eq!(rows[0].4, "header: field 3 repeats the name \"id\" of field 1");
    let rows = one("blank.csv", b"id,,x\n", header.clone());
    assert_eq!((rows[0].2, rows[0].4.as_str()), (Some(1), "header: field 2 has no name"));
    let rows = one("none.csv", b"", header);
    assert_eq!((rows[0].2, rows[0].4.as_str()), (None, "no header: the file is empty"));
    assert_eq!(one("dup.csv", b"id,id\n", options()), vec![]); // without --header
}

#[test]
fn utf8_names_the_first_bad_byte() {
    passes("ok.txt", "héllo\nwörld\n".as_bytes());
    assert_eq!(
        fails("bad.txt", b"one\ntw\xffo\n"),
        (Some(2), Some(3), "invalid UTF-8: byte 0xff at byte offset 6".to_string())
    );
    assert_eq!(
        fails("cut.txt", b"ab\xc3"),
        (
            Some(1),
            Some(3),
            "invalid UTF-8: a sequence cut short by the end of the file at byte offset 2"
                .to_string()
        )
    );
}

#[test]
fn utf8_across_read_boundaries() {
    // A two-byte character split by the 64 KiB reads, and a bad byte far into a big file.
    let mut data = vec![b'a'; 64 * 1024 - 1];
    data.extend_from_slice("é\n".as_bytes());
    data.extend_from_slice(&vec![b'b'; 17 * 1024 * 1024]);
    data.push(0xfe);
    let rows = one("big.txt", &data, options());
    let offset = data.len() - 1;
    assert_eq!(
        (rows[0].2, rows[0].3, rows[0].4.clone()),
        (
            Some(2),
            Some(17 * 1024 * 1024 + 1),
            format!("invalid UTF-8: byte 0xfe at byte offset {offset}")
        )
    );
}

#[test]
fn xml_toml_yaml() {
    passes("ok.xml", b"<?xml version=\"1.0\"?>\n<a x=\"1\"><b>&amp;</b><c/></a>\n");
    assert_eq!(
        fails("bad.xml", b"<a>\n  <b></c>\n</a>\n"),
        (
            Some(2),
            Some(6),
            "ill-formed document: expected `</b>`, but `</c>` was found".to_string()
        )
    );
    assert_eq!(
        fails("open.xml", b"<a>\n <b>\n</b>\n"),
        (Some(1), Some(1), "an element is never closed".to_string())
    );
    assert_eq!(
        fails("two.xml", b"<a/>\n<b/>\n"),
        (Some(2), Some(1), "a second root element".to_string())
    );
    passes("ok.toml", b"[server]\nport = 80\nname = \"x\"\n");
    assert_eq!(
        fails("bad.toml", b"a = 1\na = 2\n"),
        (Some(2), Some(1), "duplicate key".to_string())
    );
    passes("ok.yaml", b"a: 1\nb:\n  - x\n  - y\n---\nc: d\n");
    assert_eq!(
        fails("bad.yml", b"a: 1\nb: [1, 2\nc: 3\n"),
        (Some(3), Some(2), "illegal placement of ':' indicator".to_string())
    );
}

#[test]
fn gzip_is_checked_to_its_end_and_its_content_too() {
    let good = gzip(b"{\"a\": 1}");
    passes("data.json.gz", &good);
    passes("data.bin.gz", &gzip(b"\x00\x01 anything"));
    // Cut short: the CRC and length are missing.
    assert_eq!(
        fails("cut.json.gz", &good[..good.len() - 6]),
        (None, None, "truncated: the stream ends early".to_string())
    );
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 8] ^= 0xff; // the CRC-32
    assert_eq!(
        fails("crc.bin.gz", &flipped),
        (None, None, "corrupt gzip stream does not have a matching checksum".to_string())
    );
    assert_eq!(fails("empty.gz", b""), (None, None, "no gzip member (empty file)".to_string()));
    let rows = one("bad.json.gz", &gzip(b"{\"a\": }"), options());
    assert_eq!(
        rows,
        vec![("bad.json.gz".into(), "json", Some(1), Some(7), "expected value".into())]
    );
}

#[test]
fn zstd_is_checked_to_its_end_and_its_content_too() {
    let good = ruzstd::encoding::compress_to_vec(
        &b"a,b\n1,2\n"[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    passes("t.csv.zst", &good);
    assert_eq!(
        fails("cut.csv.zst", &good[..good.len() - 3]),
        (None, None, "truncated: the stream ends early".to_string())
    );
    assert_eq!(
        fails("junk.zst", b"garbage"),
        (None, None, "not a zstd stream (bad magic number)".to_string())
    );
    let rows = one(
        "bad.csv.zst",
        &ruzstd::encoding::compress_to_vec(
            &b"a,b\n1\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
        options(),
    );
    assert_eq!(rows[0].1, "csv");
    assert_eq!(fails("empty.zst", b""), (None, None, "no zstd frame (empty file)".to_string()));
}

#[test]
fn a_schema_is_applied_to_json_and_each_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let schema_path = dir.path().join("schema.json");
    fs::write(
        &schema_path,
        br#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}"#,
    )
    .unwrap();
    let schema = Schema::from_file(&schema_path).unwrap();
    let opts = ValidateOptions { schema: Some(schema), ..options() };
    assert_eq!(one("ok.json", br#"{"id": 3}"#, opts.clone()), vec![]);
    let rows = one("bad.json", br#"{"id": "x"}"#, opts.clone());
    assert_eq!(
        rows,
        vec![(
            "bad.json".into(),
            "json",
            None,
            None,
            "schema: /id: \"x\" is not of type \"integer\"".into()
        )]
    );
    let rows = one("bad.jsonl", b"{\"id\": 1}\n{}\n", opts);
    assert_eq!(
        rows,
        vec![(
            "bad.jsonl".into(),
            "jsonl",
            Some(2),
            None,
            "schema: /: \"id\" is a required property".into()
        )]
    );
}

#[test]
fn a_malformed_schema_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    fs::write(&path, b"{\"type\": 12}").unwrap();
    let err = Schema::from_file(&path).unwrap_err();
    assert!(matches!(err, CoreError::InvalidSchema { .. }));
    assert!(err.to_string().starts_with(&format!("{}: not a valid JSON Schema: ", path.display())));
    fs::write(&path, b"{").unwrap();
    assert_eq!(
        Schema::from_file(&path).unwrap_err().to_string(),
        format!("{}: not JSON: EOF while parsing an object at line 1 column 1", path.display())
    );
    let fifo = dir.path().join("fifo.json");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert_eq!(
        Schema::from_file(&fifo).unwrap_err().to_string(),
        format!("{}: not a regular file", fifo.display())
    );
    let missing = dir.path().join("nope.json");
    assert!(matches!(Schema::from_file(&missing), Err(CoreError::Io { .. })));
}

#[test]
fn unknown_formats_are_skipped_and_links_and_fifos_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("Makefile"), b"all:\n").unwrap();
    fs::write(root.join("a.json"), b"[]").unwrap();
    fs::write(root.join("b.json"), b"[").unwrap();
    symlink("b.json", root.join("link.json")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo.json"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let (summary, rows) = run(root, options());
    assert_eq!((summary.files, summary.ok, summary.failed, summary.skipped), (2, 1, 1, 1));
    assert_eq!(summary.by_format[0].ok, 1);
    assert_eq!(summary.by_format[0].failed, 1);
    assert_eq!(summary.error_count, 0);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].path, root.join("b.json"));
    // Forced: every file is that format, known extension or not.
    let (summary, _) = run(root, ValidateOptions { format: Some(Format::Utf8), ..options() });
    assert_eq!((summary.files, summary.ok, summary.skipped), (3, 3, 0));
}
