//! Opening input files as byte streams: what kind of file it is (from its
//! content, not its name), transparent decompression (gzip including
//! multi-member files, zstd including multi-frame files), transcoding from
//! the declared text encoding to UTF-8, and expanding the command line's
//! inputs (files, directories, glob patterns) into a sorted list of files.
//!
//! Transcoding never replaces bad bytes silently: a byte sequence that is
//! invalid in the declared encoding becomes the byte `0xFF`, which is never
//! valid UTF-8, so the record that holds it is reported by the CSV or JSON
//! decoder as a bad record with its line and column, exactly like invalid
//! UTF-8 in a UTF-8 file. Line structure is preserved: GB18030 and GBK never
//! use ASCII bytes inside multi-byte characters, and the WHATWG decoder puts
//! an ASCII byte that interrupts a malformed sequence back into the stream.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// How a file's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (RFC 1952), possibly several members concatenated.
    Gzip,
    /// Zstandard, possibly several frames concatenated.
    Zstd,
}

impl Compression {
    /// Name used in messages and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// What a file holds, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A Parquet file (`PAR1` magic).
    Parquet,
    /// A text file, possibly compressed.
    Text(Compression),
}

/// Declared text encodings of CSV and NDJSON inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-8 (a leading BOM is tolerated).
    #[default]
    Utf8,
    /// GB18030 (WHATWG), the superset of GBK used by older Chinese systems.
    Gb18030,
    /// GBK; decoded with the GB18030 decoder as the WHATWG Encoding Standard specifies.
    Gbk,
}

impl TextEncoding {
    /// Parse a schema value.
    pub fn parse(text: &str) -> Option<TextEncoding> {
        match text.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(TextEncoding::Utf8),
            "gb18030" => Some(TextEncoding::Gb18030),
            "gbk" => Some(TextEncoding::Gbk),
            _ => None,
        }
    }

    /// Name used in messages and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gb18030 => "gb18030",
            TextEncoding::Gbk => "gbk",
        }
    }
}

/// Tell a file's kind from its first bytes.
///
/// Only regular files are read: every input is opened more than once (this
/// sniffing, the header, then the records), so a pipe, socket or device
/// (`-`, `/dev/stdin`, a FIFO) would lose the bytes the first read consumed.
/// Such an input is refused here, before anything reads it.
pub fn detect(path: &Path) -> Result<Detected> {
    refuse_non_regular(path)?;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let magic = &magic[..n];
    Ok(if magic == b"PAR1" {
        Detected::Parquet
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Detected::Text(Compression::Gzip)
    } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Detected::Text(Compression::Zstd)
    } else {
        Detected::Text(Compression::None)
    })
}

/// Refuse an input that is not a regular file (see [`detect`]).
pub fn refuse_non_regular(path: &Path) -> Result<()> {
    let refuse = || {
        Err(Error::Usage(format!(
            "input {}: not a regular file (standard input, a pipe or a device); txanon reads \
             an input more than once (its format, its header, then its records), so write \
             it to a file first and give that file",
            path.display()
        )))
    };
    if path.as_os_str() == "-" {
        return refuse();
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Usage(format!(
            "input {} is a directory",
            path.display()
        )));
    }
    if !meta.is_file() {
        return refuse();
    }
    Ok(())
}

/// Counts the bytes read from the underlying file (compressed bytes), for
/// progress reporting.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A text input stream: decompressed and transcoded to UTF-8.
pub type TextStream = Box<dyn Read + Send>;

/// Open `path` as UTF-8 text: decompress per its magic bytes and transcode
/// from `encoding`. `raw_bytes` counts the file bytes consumed.
pub fn open_text(
    path: &Path,
    encoding: TextEncoding,
    raw_bytes: Arc<AtomicU64>,
) -> Result<(TextStream, Compression)> {
    let compression = match detect(path)? {
        Detected::Text(c) => c,
        Detected::Parquet => {
            return Err(Error::Usage(format!(
                "{} is a Parquet file, but [input].format declares a text format",
                path.display()
            )))
        }
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let counted = Counting {
        inner: file,
        count: raw_bytes,
    };
    let decompressed: TextStream = match compression {
        Compression::None => Box::new(counted),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            counted,
        ))),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(counted).map_err(|e| Error::io(path, e))?)
        }
    };
    let stream: TextStream = match encoding {
        TextEncoding::Utf8 => decompressed,
        TextEncoding::Gb18030 | TextEncoding::Gbk => {
            Box::new(Transcoder::new(decompressed, encoding_rs::GB18030))
        }
    };
    Ok((stream, compression))
}

/// Decodes a stream in a legacy encoding into UTF-8, writing `0xFF` for
/// every malformed sequence (see the module documentation).
pub struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    output: Vec<u8>,
    out_start: usize,
    eof: bool,
    done: bool,
}

impl<R: Read> Transcoder<R> {
    /// Wrap `inner`, decoding `encoding` (no BOM sniffing).
    pub fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Transcoder<R> {
        Transcoder {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 1 << 16],
            start: 0,
            end: 0,
            output: Vec::with_capacity(1 << 17),
            out_start: 0,
            eof: false,
            done: false,
        }
    }

    /// Decode more input into `output`; false at the end of the stream.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.output.clear();
        self.out_start = 0;
        while self.output.is_empty() {
            if self.done {
                return Ok(false);
            }
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = loop {
                    match self.inner.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if self.end == 0 {
                    self.eof = true;
                }
            }
            let last = self.eof;
            // Room for the worst case: every input byte becoming 3 UTF-8 bytes.
            let need = self
                .decoder
                .max_utf8_buffer_length_without_replacement(self.end - self.start)
                .unwrap_or((self.end - self.start) * 4 + 16)
                .max(16);
            // Reuse the output buffer's allocation from one refill to the next.
            let mut buf = std::mem::take(&mut self.output);
            buf.clear();
            buf.resize(need, 0);
            let mut written_total = 0;
            loop {
                let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                    &self.input[self.start..self.end],
                    &mut buf[written_total..],
                    last,
                );
                self.start += read;
                written_total += written;
                match result {
                    encoding_rs::DecoderResult::InputEmpty => break,
                    encoding_rs::DecoderResult::OutputFull => {
                        buf.resize(buf.len() * 2 + 16, 0);
                    }
                    encoding_rs::DecoderResult::Malformed(_, _) => {
                        if written_total >= buf.len() {
                            buf.resize(buf.len() * 2 + 16, 0);
                        }
                        buf[written_total] = 0xFF;
                        written_total += 1;
                    }
                }
            }
            buf.truncate(written_total);
            self.output = buf;
            if last && self.start == self.end {
                self.done = true;
            }
        }
        Ok(true)
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.out_start == self.output.len() && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.output.len() - self.out_start);
        out[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// NDJSON by name: `.ndjson`/`.jsonl`/`.json`, also before `.gz`/`.zst`.
pub fn looks_like_ndjson(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    name.ends_with(".ndjson") || name.ends_with(".jsonl") || name.ends_with(".json")
}

/// Whether a directory entry is skipped when a directory is given as input:
/// hidden files (`.name`, including txanon's temporary files) and files whose
/// name starts with `_` (`_SUCCESS`, `_manifest.json`, Hive conventions).
fn skipped_in_directory(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Expand the command line's inputs, in the order given: a file is taken as
/// is; a directory contributes every file below it (recursively, sorted by
/// path, hidden and `_`-prefixed names skipped); anything else containing
/// `*`, `?` or `[` is a glob pattern whose matches are sorted by path. A
/// pattern matching nothing, an empty directory or a missing file is an error.
pub fn expand_inputs(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            refuse_non_regular(arg)?;
        }
        let before = out.len();
        match std::fs::metadata(arg) {
            Ok(meta) if meta.is_dir() => walk(arg, &mut out)?,
            Ok(_) => out.push(arg.clone()),
            Err(e) => {
                let text = arg.to_string_lossy();
                if text.contains(['*', '?', '[']) {
                    let paths = glob::glob(&text).map_err(|g| {
                        Error::Usage(format!("input pattern {text:?} is not a valid glob: {g}"))
                    })?;
                    let mut matched = Vec::new();
                    for p in paths {
                        let p = p.map_err(|g| {
                            let path = g.path().to_path_buf();
                            Error::io(&path, g.into())
                        })?;
                        if p.is_file() {
                            matched.push(p);
                        }
                    }
                    matched.sort();
                    out.extend(matched);
                } else {
                    return Err(Error::io(arg, e));
                }
            }
        }
        if out.len() == before {
            return Err(Error::Usage(format!(
                "input {} matches no files",
                arg.display()
            )));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        let skip = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(skipped_in_directory);
        if skip {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcode(bytes: &[u8]) -> Vec<u8> {
        let mut t = Transcoder::new(bytes, encoding_rs::GB18030);
        let mut out = Vec::new();
        t.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn gb18030_decodes_and_marks_malformed_bytes() {
        let (text, _, _) = encoding_rs::GB18030.encode("北京市,+86 138\n上海\n");
        assert_eq!(transcode(&text), "北京市,+86 138\n上海\n".as_bytes());
        // A lone lead byte before a comma: the comma survives, the lead becomes 0xFF.
        let out = transcode(b"a,\x81,b\n");
        assert_eq!(out, b"a,\xFF,b\n");
        assert!(std::str::from_utf8(&out).is_err());
    }

    #[test]
    fn lines_survive_malformed_sequences() {
        let out = transcode(b"x\x81\ny\n");
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
    }

    #[test]
    fn encodings_parse() {
        assert_eq!(TextEncoding::parse("UTF-8"), Some(TextEncoding::Utf8));
        assert_eq!(TextEncoding::parse("gbk"), Some(TextEncoding::Gbk));
        assert_eq!(TextEncoding::parse("latin1"), None);
    }
}
