//! The run directory's files: `run.json`, the append-only journal and the per-trial plans.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{RunHeader, TrialRecord, RUN_FORMAT};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path} already holds a search (journal.jsonl exists): pass --resume to continue it or choose another --out")]
    Exists { path: PathBuf },
    #[error("{path} holds no search (run.json is missing)")]
    Missing { path: PathBuf },
    #[error("{path} is in use: another search is writing it (it holds {LOCK}); wait for that search to end or stop it, then pass --resume")]
    Locked { path: PathBuf },
    #[error("{path}: not a run header: {error}")]
    Header {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path}: run format {found}, this inas reads format {RUN_FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("{path} line {line}: not a trial record: {error}")]
    Record {
        path: PathBuf,
        line: usize,
        error: serde_json::Error,
    },
    #[error("{path} line {line}: trial {found} where trial {expected} was due")]
    Sequence {
        path: PathBuf,
        line: usize,
        expected: u32,
        found: u32,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |error| JournalError::Io {
        path: path.to_owned(),
        error,
    }
}

/// The lock file of a run directory. Whoever holds an exclusive `flock` on it writes the
/// directory; the kernel releases it when that process ends, however it ends, so a killed
/// search never leaves a stale lock. Readers (`inas export`, reports) do not take it.
pub const LOCK: &str = ".lock";

/// Takes the run directory's lock without waiting, or says who has it.
fn lock(root: &Path) -> Result<File, JournalError> {
    let path = root.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(JournalError::Locked { path: root.into() }),
        Err(e) => Err(io_err(&path)(e.into())),
    }
}

/// An open run directory, positioned to append the next trial. It holds the directory's lock
/// for as long as it lives.
#[derive(Debug)]
pub struct Journal {
    root: PathBuf,
    file: File,
    next: u32,
    _lock: File,
}

impl Journal {
    fn journal_path(root: &Path) -> PathBuf {
        root.join("journal.jsonl")
    }

    /// Whether `root` holds a run (its journal), so a new search there is refused before any
    /// work.
    pub fn exists(root: &Path) -> Result<(), JournalError> {
        let path = Self::journal_path(root);
        if path.exists() {
            return Err(JournalError::Exists { path });
        }
        Ok(())
    }

    /// Starts a new run in `root` (created if needed). Refuses a directory that holds one.
    pub fn create(root: &Path, header: &RunHeader) -> Result<Journal, JournalError> {
        Self::exists(root)?;
        fs::create_dir_all(root.join("trials")).map_err(io_err(root))?;
        let lock = lock(root)?;
        // Another search may have started here between the check and the lock.
        Self::exists(root)?;
        let path = Self::journal_path(root);
        let text = serde_json::to_string_pretty(header).expect("a JSON value serialises");
        write_atomic(&root.join("run.json"), text.as_bytes())?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Journal {
            root: root.to_owned(),
            file,
            next: 0,
            _lock: lock,
        })
    }

    /// Reads a run: its header and every complete trial. A last line without its newline (the
    /// search was killed while writing it) is not a trial.
    pub fn read(root: &Path) -> Result<(RunHeader, Vec<TrialRecord>), JournalError> {
        let header_path = root.join("run.json");
        let text = match fs::read_to_string(&header_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JournalError::Missing { path: root.into() })
            }
            Err(e) => return Err(io_err(&header_path)(e)),
        };
        let header: RunHeader =
            serde_json::from_str(&text).map_err(|error| JournalError::Header {
                path: header_path.clone(),
                error,
            })?;
        if header.format != RUN_FORMAT {
            return Err(JournalError::Format {
                path: header_path,
                found: header.format,
            });
        }
        let path = Self::journal_path(root);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut records = Vec::new();
        for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let r: TrialRecord =
                serde_json::from_slice(line).map_err(|error| JournalError::Record {
                    path: path.clone(),
                    line: i + 1,
                    error,
                })?;
            let expected = records.len() as u32;
            if r.trial != expected {
                return Err(JournalError::Sequence {
                    path: path.clone(),
                    line: i + 1,
                    expected,
                    found: r.trial,
                });
            }
            records.push(r);
        }
        Ok((header, records))
    }

    /// Reopens a run to continue it: drops a torn last line and returns the trials so far.
    pub fn resume(root: &Path) -> Result<(Journal, RunHeader, Vec<TrialRecord>), JournalError> {
        // Only a run directory gets a lock file.
        Self::read(root)?;
        let lock = lock(root)?;
        let (header, records) = Self::read(root)?;
        let path = Self::journal_path(root);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // Cut whatever follows the last complete line, so the next record starts a line.
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete != bytes.len() {
            file.set_len(complete as u64).map_err(io_err(&path))?;
        }
        fs::create_dir_all(root.join("trials")).map_err(io_err(root))?;
        let next = records.len() as u32;
        Ok((
            Journal {
                root: root.to_owned(),
                file,
                next,
                _lock: lock,
            },
            header,
            records,
        ))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Rewrites `run.json` (whole or not at all): a resumed search records its new trial count.
    pub fn set_header(&self, header: &RunHeader) -> Result<(), JournalError> {
        let text = serde_json::to_string_pretty(header).expect("a JSON value serialises");
        write_atomic(&self.root.join("run.json"), text.as_bytes())
    }

    /// The number the next trial gets.
    pub fn next_trial(&self) -> u32 {
        self.next
    }

    /// Stores a trial's plan. Call before [`Journal::append`]: a journal line never names a
    /// plan that is not on disk.
    pub fn save_plan(&self, trial: u32, bytes: &[u8]) -> Result<PathBuf, JournalError> {
        save_plan(&self.root, trial, bytes)
    }

    /// Appends one finished trial and syncs it to disk.
    pub fn append(&mut self, record: &TrialRecord) -> Result<(), JournalError> {
        let path = Self::journal_path(&self.root);
        if record.trial != self.next {
            return Err(JournalError::Sequence {
                path,
                line: self.next as usize + 1,
                expected: self.next,
                found: record.trial,
            });
        }
        let mut line = serde_json::to_vec(record).expect("a trial record serialises");
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_err(&path))?;
        self.file.sync_data().map_err(io_err(&path))?;
        self.next += 1;
        Ok(())
    }
}

/// Stores a trial's plan in the run directory `root`, whole or not at all (a worker, which
/// does not hold the journal, stores its plans this way).
pub fn save_plan(root: &Path, trial: u32, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    let path = root.join(TrialRecord::plan_file(trial));
    write_atomic(&path, bytes)?;
    Ok(path)
}

/// Writes a file whole or not at all: a temporary file in the same directory, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // A temporary file is private (0600) by default; these files are ordinary results, made
    // with the mode `File::create` would give them (0666 less the umask), like the journal.
    let mut tmp = tempfile::Builder::new()
        .permissions(default_permissions())
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_data().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

fn default_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o666)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::tests::record;

    fn header() -> RunHeader {
        RunHeader {
            format: RUN_FORMAT,
            config: serde_json::json!({"dataset": "har", "seed": 1}),
        }
    }

    #[test]
    fn append_read_resume() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        let mut j = Journal::create(&root, &header()).unwrap();
        for t in 0..3 {
            j.append(&record(t, Some(0.5), Some(1.0), true)).unwrap();
        }
        assert!(matches!(
            Journal::create(&root, &header()),
            Err(JournalError::Exists { .. })
        ));
        // A record out of sequence is refused and leaves the journal as it was.
        assert!(j.append(&record(7, None, None, false)).is_err());
        drop(j);
        let (h, rs) = Journal::read(&root).unwrap();
        assert_eq!(h, header());
        assert_eq!(rs.iter().map(|r| r.trial).collect::<Vec<_>>(), [0, 1, 2]);
        let (mut j, _, rs) = Journal::resume(&root).unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(j.next_trial(), 3);
        j.append(&record(3, None, None, false)).unwrap();
        assert_eq!(Journal::read(&root).unwrap().1.len(), 4);
    }

    #[test]
    fn torn_last_line_is_dropped_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut j = Journal::create(root, &header()).unwrap();
        j.append(&record(0, Some(0.5), Some(1.0), true)).unwrap();
        drop(j);
        let line = serde_json::to_string(&record(1, Some(0.6), Some(1.0), true)).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(root.join("journal.jsonl"))
            .unwrap();
        f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        drop(f);
        assert_eq!(Journal::read(root).unwrap().1.len(), 1);
        let (mut j, _, rs) = Journal::resume(root).unwrap();
        assert_eq!(rs.len(), 1);
        j.append(&record(1, Some(0.6), Some(1.0), true)).unwrap();
        let (_, rs) = Journal::read(root).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1], record(1, Some(0.6), Some(1.0), true));
    }

    #[test]
    fn damaged_runs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(matches!(
            Journal::read(root),
            Err(JournalError::Missing { .. })
        ));
        fs::write(root.join("run.json"), "{not json").unwrap();
        let e = Journal::read(root).unwrap_err().to_string();
        assert!(
            e.contains("run.json") && e.contains("not a run header"),
            "{e}"
        );
        let h = RunHeader {
            format: 99,
            config: serde_json::Value::Null,
        };
        fs::write(root.join("run.json"), serde_json::to_string(&h).unwrap()).unwrap();
        assert!(matches!(
            Journal::read(root),
            Err(JournalError::Format { found: 99, .. })
        ));
        fs::write(
            root.join("run.json"),
            serde_json::to_string(&header()).unwrap(),
        )
        .unwrap();
        fs::write(root.join("journal.jsonl"), "{\"trial\":0}\n").unwrap();
        let e = Journal::read(root).unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("not a trial record"),
            "{e}"
        );
        let r1 = serde_json::to_string(&record(1, None, None, false)).unwrap();
        fs::write(root.join("journal.jsonl"), format!("{r1}\n")).unwrap();
        assert!(matches!(
            Journal::read(root),
            Err(JournalError::Sequence {
                expected: 0,
                found: 1,
                ..
            })
        ));
    }

    #[test]
    fn plans_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), &header()).unwrap();
        let p = j.save_plan(4, b"plan bytes").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"plan bytes");
        assert!(p.ends_with("trials/4.plan"));
        j.save_plan(4, b"other").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"other");
    }
}
