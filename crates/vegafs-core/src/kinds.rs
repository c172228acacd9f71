//! The extension -> kind table. docs/cli.md prints the same table; keep them together.

/// What a file is, judged by its extension alone (VegaFS never opens a file to analyze it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Text,
    Code,
    Image,
    Audio,
    Video,
    Archive,
    Document,
    Data,
    Binary,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Text,
        Kind::Code,
        Kind::Image,
        Kind::Audio,
        Kind::Video,
        Kind::Archive,
        Kind::Document,
        Kind::Data,
        Kind::Binary,
        Kind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Code => "code",
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Archive => "archive",
            Kind::Document => "document",
            Kind::Data => "data",
            Kind::Binary => "binary",
            Kind::Other => "other",
        }
    }

    /// The kind of a lower-case extension without its dot ("" for none).
    pub fn of_extension(ext: &str) -> Kind {
        match ext {
            "txt" | "log" | "md" | "rst" | "text" | "out" | "err" | "nfo" | "srt" | "vtt" => {
                Kind::Text
            }
            "rs" | "py" | "pyi" | "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "go"
            | "java" | "kt" | "kts" | "scala" | "js" | "mjs" | "cjs" | "ts" | "tsx" | "jsx"
            | "rb" | "php" | "pl" | "pm" | "sh" | "bash" | "zsh" | "fish" | "ps1" | "lua"
            | "swift" | "m" | "mm" | "cs" | "fs" | "hs" | "ml" | "ex" | "exs" | "erl" | "clj"
            | "r" | "jl" | "f90" | "f" | "sql" | "html" | "htm" | "css" | "scss" | "vue"
            | "svelte" | "dart" | "zig" | "nim" | "asm" | "s" | "cmake" | "mk" | "proto"
            | "ipynb" => Kind::Code,
            "jpg" | "jpeg" | "png" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "svg" | "ico"
            | "heic" | "heif" | "raw" | "cr2" | "nef" | "dng" | "psd" | "avif" | "exr" => {
                Kind::Image
            }
            "mp3" | "wav" | "flac" | "aac" | "ogg" | "oga" | "opus" | "m4a" | "wma" | "aiff"
            | "mid" | "midi" => Kind::Audio,
            "mp4" | "mkv" | "mov" | "avi" | "webm" | "wmv" | "flv" | "m4v" | "mpg" | "mpeg"
            | "ts2" | "3gp" | "ogv" => Kind::Video,
            "zip" | "gz" | "tgz" | "bz2" | "xz" | "zst" | "lz4" | "7z" | "rar" | "tar" | "lz"
            | "lzma" | "z" | "cab" | "iso" | "dmg" | "jar" | "whl" | "deb" | "rpm" => Kind::Archive,
            "pdf" | "doc" | "docx" | "odt" | "rtf" | "xls" | "xlsx" | "ods" | "ppt" | "pptx"
            | "odp" | "epub" | "tex" | "pages" | "key" | "numbers" => Kind::Document,
            "csv" | "tsv" | "json" | "jsonl" | "ndjson" | "xml" | "yaml" | "yml" | "toml"
            | "ini" | "cfg" | "conf" | "parquet" | "arrow" | "feather" | "avro" | "orc" | "h5"
            | "hdf5" | "nc" | "npy" | "npz" | "db" | "sqlite" | "sqlite3" | "pkl" | "pickle"
            | "mat" | "dat" => Kind::Data,
            "bin" | "exe" | "dll" | "so" | "dylib" | "o" | "a" | "lib" | "obj" | "class"
            | "pyc" | "wasm" | "elf" | "img" | "qcow2" | "vmdk" => Kind::Binary,
            _ => Kind::Other,
        }
    }
}

/// Longest extension VegaFS treats as one; a longer tail after the last dot is no extension.
pub const MAX_EXTENSION_LEN: usize = 16;

/// The lower-cased extension of a file name: the bytes after the last dot, if that dot is not the
/// first byte (".bashrc" has none) nor the last.
pub fn extension_of(name: &[u8], buf: &mut [u8; MAX_EXTENSION_LEN]) -> usize {
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else { return 0 };
    if dot == 0 || dot + 1 == name.len() || name.len() - dot - 1 > MAX_EXTENSION_LEN {
        return 0;
    }
    let ext = &name[dot + 1..];
    for (d, s) in buf.iter_mut().zip(ext) {
        *d = s.to_ascii_lowercase();
    }
    ext.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str) -> String {
        let mut buf = [0u8; MAX_EXTENSION_LEN];
        let n = extension_of(name.as_bytes(), &mut buf);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn extensions() {
        assert_eq!(ext("a.TXT"), "txt");
        assert_eq!(ext("archive.tar.gz"), "gz");
        assert_eq!(ext(".bashrc"), "");
        assert_eq!(ext("noext"), "");
        assert_eq!(ext("trailing."), "");
        assert_eq!(ext("x.abcdefghijklmnopq"), "");
        assert_eq!(Kind::of_extension("rs"), Kind::Code);
        assert_eq!(Kind::of_extension(""), Kind::Other);
    }
}
