//! Where a run's rows go: one Parquet file, a directory of part files
//! (Hive-partitioned or not), or nowhere (`check`'s dry run counts them).

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;

use crate::dataset::{commit_generation, commit_replacing, generation_dir};
use crate::error::Result;
use crate::io::output::{commit, Staged};
use crate::io::parquet_writer::{DatasetSink, ParquetSink, PartInfo, WriterSettings};

/// The kind of output a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<'a> {
    /// Nothing: rows are counted and dropped.
    Null,
    /// One file at this path.
    File(&'a Path),
    /// A directory at this path, partitioned by a column or not, each part
    /// file holding at most `max_file_rows` rows.
    Directory {
        /// The directory.
        path: &'a Path,
        /// Output column whose values name the partitions.
        partition_by: Option<&'a str>,
        /// Rows per part file before a new one starts.
        max_file_rows: Option<u64>,
        /// The generation an append adds to the existing dataset at `path`
        /// (its files go to `gNNNNN/`, see crate::dataset); `None` for a new
        /// dataset.
        generation: Option<u64>,
    },
}

/// An open output.
#[derive(Debug)]
pub enum Sink {
    /// Nothing is written; `rows` counts what would have been.
    Null {
        /// Rows received.
        rows: u64,
    },
    /// One file.
    File(ParquetSink),
    /// A directory of part files with `_manifest.json`.
    Dataset(DatasetSink),
}

/// What [`Sink::finish`] writes besides the rows.
pub struct Finish<'a, F> {
    /// `txanon.privacy.*` footer metadata, added when the file is closed
    /// (single-file outputs).
    pub footer: Vec<(String, String)>,
    /// Also write the manifest here.
    pub manifest_path: Option<&'a Path>,
    /// Permission bits of the manifest file.
    pub mode: u32,
    /// The manifest's bytes, for the rows written and the part files.
    pub manifest: F,
    /// The dataset a directory output appends a generation to.
    pub append: Option<&'a crate::dataset::Current>,
    /// Part files of the dataset the append removes (`--replace-changed`):
    /// the generation is then committed by swapping the whole dataset.
    pub remove: &'a [String],
}

impl Sink {
    /// Open `output` (under its temporary name: nothing appears at the
    /// target until [`Sink::finish`]).
    pub fn create(
        output: Output<'_>,
        schema: Arc<ArrowSchema>,
        settings: &WriterSettings,
    ) -> Result<Sink> {
        Ok(match output {
            Output::Null => Sink::Null { rows: 0 },
            Output::File(path) => Sink::File(ParquetSink::create(path, schema, settings)?),
            Output::Directory {
                path,
                partition_by,
                max_file_rows,
                generation,
            } => {
                let sink =
                    DatasetSink::create(path, schema, settings, partition_by, max_file_rows)?;
                Sink::Dataset(match generation {
                    Some(g) => sink.in_subdir(&generation_dir(g))?,
                    None => sink,
                })
            }
        })
    }

    /// Whether rows are dropped rather than written.
    pub fn is_null(&self) -> bool {
        matches!(self, Sink::Null { .. })
    }

    /// Write (or count) `batch`.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        match self {
            Sink::Null { rows } => {
                *rows += batch.num_rows() as u64;
                Ok(())
            }
            Sink::File(s) => s.write(batch),
            Sink::Dataset(s) => s.write(batch),
        }
    }

    /// Close the output and put it in place with its manifest; the rows
    /// written and, for a directory, its part files.
    ///
    /// The data is closed and fsync'd first, the manifest staged after it,
    /// and both renamed into place together, data first: a failure before
    /// the data's rename (a full disk) leaves neither, and no manifest ever
    /// describes rows that are not in place (io::output::commit). A file output gets a manifest only when
    /// `manifest_path` asks for one.
    pub fn finish<F>(self, finish: Finish<'_, F>) -> Result<(u64, Vec<PartInfo>)>
    where
        F: Fn(u64, &[PartInfo]) -> Result<Vec<u8>>,
    {
        match self {
            Sink::Null { rows } => Ok((rows, Vec::new())),
            Sink::File(sink) => {
                let rows = sink.rows();
                let (_, data) = sink.close(finish.footer)?;
                let mut staged = vec![data];
                if let Some(m) = finish.manifest_path {
                    let bytes = (finish.manifest)(rows, &[])?;
                    staged.push(Staged::file(m, &bytes, finish.mode)?);
                }
                commit(staged)?;
                Ok((rows, Vec::new()))
            }
            Sink::Dataset(sink) => {
                let rows = sink.rows();
                // The dataset's _manifest.json and `--manifest PATH` hold the
                // same bytes: build them once.
                let mut built = Vec::new();
                let (files, data) = sink.close(|files| {
                    built = (finish.manifest)(rows, files)?;
                    Ok(built.clone())
                })?;
                let extra = match finish.manifest_path {
                    Some(m) => Some(Staged::file(m, &built, finish.mode)?),
                    None => None,
                };
                match finish.append {
                    None => commit(std::iter::once(data).chain(extra).collect())?,
                    // The generation's directory, then the dataset's manifest,
                    // then `--manifest PATH`.
                    Some(current) if !finish.remove.is_empty() => {
                        commit_replacing(current, data, &built, finish.mode, finish.remove)?;
                        if let Some(extra) = extra {
                            commit(vec![extra])?;
                        }
                    }
                    Some(current) => {
                        let sub = generation_dir(current.generation + 1);
                        commit_generation(current, data, &sub, &built, finish.mode)?;
                        if let Some(extra) = extra {
                            commit(vec![extra])?;
                        }
                    }
                }
                Ok((rows, files))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::output::DEFAULT_MODE;
    use arrow_array::{ArrayRef, StringArray};

    fn batch(values: &[&str]) -> RecordBatch {
        let c: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        let v: ArrayRef = Arc::new(StringArray::from(vec!["v"; values.len()]));
        RecordBatch::try_from_iter([("c", c), ("v", v)]).unwrap()
    }

    fn settings() -> WriterSettings {
        WriterSettings {
            output: Default::default(),
            row_group_rows: 1000,
            token_columns: Vec::new(),
            metadata: vec![("txanon.label".into(), "test".into())],
            pool: None,
            mode: DEFAULT_MODE,
        }
    }

    fn finish<'a>(
        manifest_path: Option<&'a Path>,
    ) -> Finish<'a, impl Fn(u64, &[PartInfo]) -> Result<Vec<u8>>> {
        Finish {
            footer: Vec::new(),
            manifest_path,
            mode: DEFAULT_MODE,
            manifest: |rows: u64, files: &[PartInfo]| {
                Ok(format!("{rows} rows in {} files\n", files.len()).into_bytes())
            },
            append: None,
            remove: &[],
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_null_sink_counts_rows_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch(&["a", "b"]);
        let mut sink = Sink::create(Output::Null, b.schema(), &settings()).unwrap();
        assert!(sink.is_null());
        sink.write(b.clone()).unwrap();
        sink.write(b).unwrap();
        let m = dir.path().join("m.json");
        let (rows, files) = sink.finish(finish(Some(&m))).unwrap();
        assert_eq!((rows, files.len()), (4, 0));
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_file_output_appears_with_its_manifest_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.parquet");
        let m = dir.path().join("m.json");
        let b = batch(&["a", "b", "c"]);
        let mut sink = Sink::create(Output::File(&out), b.schema(), &settings()).unwrap();
        sink.write(b).unwrap();
        assert!(!out.exists() && !m.exists());
        let (rows, files) = sink.finish(finish(Some(&m))).unwrap();
        assert_eq!((rows, files.len()), (3, 0));
        assert_eq!(entries(dir.path()), ["m.json", "out.parquet"]);
        assert_eq!(std::fs::read(&m).unwrap(), b"3 rows in 0 files\n");
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&out).unwrap())
                .unwrap();
        let rows = parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows();
        assert_eq!(rows, 3);
    }

    #[test]
    fn a_partitioned_directory_gets_one_manifest_for_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ds");
        let m = dir.path().join("m.json");
        let output = Output::Directory {
            path: &out,
            partition_by: Some("c"),
            max_file_rows: None,
            generation: None,
        };
        let b = batch(&["x", "y", "x"]);
        let mut sink = Sink::create(output, b.schema(), &settings()).unwrap();
        sink.write(b).unwrap();
        let (rows, files) = sink.finish(finish(Some(&m))).unwrap();
        assert_eq!((rows, files.len()), (3, 2));
        assert_eq!(entries(&out), ["_manifest.json", "c=x", "c=y"]);
        let inside = std::fs::read(out.join("_manifest.json")).unwrap();
        assert_eq!(inside, b"3 rows in 2 files\n");
        assert_eq!(std::fs::read(&m).unwrap(), inside);
    }
}
