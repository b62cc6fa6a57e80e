//! Where trials run: in the search's own process, in a pool of local worker processes, or as
//! Slurm job arrays. Every worker is the same command, `inas trial --run DIR --trial N`, which
//! needs only the run directory and the dataset cache; an executor only starts that command
//! and says when it ended. Whether a trial finished is decided by its result file, never by
//! the executor, so a new scheduler (HyperQueue, Kubernetes indexed jobs) is a thin wrapper:
//! implement [`Executor`] over its submit and status commands.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// `--executor`: where trials run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutorSpec {
    /// `local:N`. `local:1`, the default, trains in the search's own process (today's search,
    /// epoch progress included); N ≥ 2 runs N worker processes.
    Local(usize),
    /// Each batch is one `sbatch --array` of `inas trial` tasks.
    Slurm,
}

impl Default for ExecutorSpec {
    fn default() -> Self {
        ExecutorSpec::Local(1)
    }
}

impl fmt::Display for ExecutorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutorSpec::Local(n) => write!(f, "local:{n}"),
            ExecutorSpec::Slurm => f.write_str("slurm"),
        }
    }
}

impl FromStr for ExecutorSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "slurm" {
            return Ok(ExecutorSpec::Slurm);
        }
        if s == "local" {
            return Ok(ExecutorSpec::Local(1));
        }
        match s.strip_prefix("local:").map(str::parse::<usize>) {
            Some(Ok(n)) if (1..=1024).contains(&n) => Ok(ExecutorSpec::Local(n)),
            Some(_) => Err(format!(
                "'{s}': local:N needs a worker count N from 1 to 1024"
            )),
            None => Err(format!(
                "unknown executor '{s}' (expected local, local:N or slurm)"
            )),
        }
    }
}

/// The `[slurm]` settings: what `sbatch` gets besides the array and the command.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Time limit per trial, in Slurm's format (`30`, `1:00:00`, `1-0`).
    pub time: Option<String>,
    /// Generic resources per trial, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// CPUs per trial (`--cpus-per-task`).
    pub cpus_per_task: Option<u32>,
    /// Further `sbatch` arguments, passed as they are (`--qos=short`, `--mem=4G`).
    #[serde(default)]
    pub extra: Vec<String>,
    /// Seconds between `squeue` polls [default: 2].
    pub poll_s: Option<f64>,
}

impl SlurmOptions {
    fn sbatch_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut opt = |flag: &str, value: &Option<String>| {
            if let Some(x) = value {
                v.push(format!("--{flag}={x}"));
            }
        };
        opt("partition", &self.partition);
        opt("account", &self.account);
        opt("time", &self.time);
        opt("gres", &self.gres);
        opt("cpus-per-task", &self.cpus_per_task.map(|c| c.to_string()));
        v.extend(self.extra.iter().cloned());
        v
    }

    fn poll(&self) -> Duration {
        Duration::from_secs_f64(self.poll_s.unwrap_or(2.0).clamp(0.05, 600.0))
    }
}

/// A task that ended, as its executor saw it. `how` is the executor's word for it ("exit
/// status 0", "CANCELLED by 0"); the result file says whether the trial finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub trial: u32,
    pub how: String,
}

/// Tasks waiting for a worker and tasks running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
}

/// Starts `inas trial` tasks and reports when they end.
pub trait Executor {
    /// Starts (or queues) one task per trial.
    fn submit(&mut self, trials: &[u32]) -> Result<()>;
    /// Waits until some task ended, or a poll interval passed; returns those that ended.
    fn wait(&mut self) -> Result<Vec<Ended>>;
    fn counts(&self) -> Counts;
}

/// `logs/trial-N.log` in the run directory: every attempt of trial N appends there.
pub fn log_file(root: &Path, trial: u32) -> PathBuf {
    root.join("logs").join(format!("trial-{trial}.log"))
}

/// `local:N` for N ≥ 2: N worker processes on this machine, each `inas trial --serve`, which
/// loads the data once and then runs the trials it is sent one at a time. Each gets an equal
/// share of the cores for libtorch (OMP_NUM_THREADS, unless the environment sets it). A worker
/// that dies takes only its current trial with it; the next trial starts a new one.
pub struct LocalPool {
    exe: PathBuf,
    root: PathBuf,
    workers: usize,
    threads: usize,
    queue: VecDeque<u32>,
    pool: Vec<Option<Worker>>,
    events: mpsc::Receiver<(usize, Option<String>)>,
    sender: mpsc::Sender<(usize, Option<String>)>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    /// The trial it runs.
    current: Option<u32>,
}

impl LocalPool {
    pub fn new(exe: PathBuf, root: &Path, workers: usize) -> Result<LocalPool> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        fs::create_dir_all(root.join("logs"))
            .with_context(|| format!("creating {}", root.join("logs").display()))?;
        let (sender, events) = mpsc::channel();
        let workers = workers.max(1);
        Ok(LocalPool {
            exe,
            root: root.to_owned(),
            workers,
            threads: (cores / workers).max(1),
            queue: VecDeque::new(),
            pool: (0..workers).map(|_| None).collect(),
            events,
            sender,
        })
    }

    fn spawn(&self, slot: usize) -> Result<Worker> {
        let log = append(&self.root.join("logs").join(format!("worker-{slot}.log")))?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["trial", "--serve", "--run"])
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        if std::env::var_os("OMP_NUM_THREADS").is_none() {
            cmd.env("OMP_NUM_THREADS", self.threads.to_string());
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("worker {slot}: no pipes");
        };
        // Its answers, line by line, then None when it is gone.
        let tx = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send((slot, Some(l))).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send((slot, None));
        });
        Ok(Worker {
            child,
            stdin,
            current: None,
        })
    }

    /// Gives queued trials to idle workers, starting workers as needed.
    fn start(&mut self) -> Result<()> {
        for slot in 0..self.workers {
            if self.queue.is_empty() {
                break;
            }
            if self.pool[slot]
                .as_ref()
                .is_some_and(|w| w.current.is_some())
            {
                continue;
            }
            if self.pool[slot].is_none() {
                self.pool[slot] = Some(self.spawn(slot)?);
            }
            let trial = self.queue.pop_front().expect("not empty");
            let w = self.pool[slot].as_mut().expect("just made");
            w.current = Some(trial);
            // A worker that died already is seen as its pipe closes.
            let _ = writeln!(w.stdin, "{trial}").and_then(|()| w.stdin.flush());
        }
        Ok(())
    }
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

impl Executor for LocalPool {
    fn submit(&mut self, trials: &[u32]) -> Result<()> {
        self.queue.extend(trials);
        self.start()
    }

    fn wait(&mut self) -> Result<Vec<Ended>> {
        let mut ended = Vec::new();
        let busy = self.pool.iter().flatten().any(|w| w.current.is_some());
        if !busy {
            return Ok(ended);
        }
        let Ok(first) = self.events.recv() else {
            bail!("the local workers' answers stopped");
        };
        let mut next = Some(first);
        while let Some((slot, line)) = next {
            match line {
                Some(l) => {
                    let mut f = l.splitn(3, ' ');
                    let (word, trial) = (f.next(), f.next().and_then(|t| t.parse::<u32>().ok()));
                    let w = self.pool[slot].as_mut();
                    if let (Some(w), Some(word @ ("done" | "failed")), Some(t)) = (w, word, trial) {
                        if w.current == Some(t) {
                            w.current = None;
                            ended.push(Ended {
                                trial: t,
                                how: match word {
                                    "done" => "worker done".into(),
                                    _ => format!("worker failed: {}", f.next().unwrap_or("")),
                                },
                            });
                        }
                    }
                }
                None => {
                    if let Some(mut w) = self.pool[slot].take() {
                        let status = w.child.wait()?;
                        if let Some(t) = w.current {
                            ended.push(Ended {
                                trial: t,
                                how: format!("worker ended ({status})"),
                            });
                        }
                    }
                }
            }
            next = self.events.try_recv().ok();
        }
        self.start()?;
        ended.sort_by_key(|e| e.trial);
        Ok(ended)
    }

    fn counts(&self) -> Counts {
        Counts {
            queued: self.queue.len(),
            running: self
                .pool
                .iter()
                .flatten()
                .filter(|w| w.current.is_some())
                .count(),
        }
    }
}

impl Drop for LocalPool {
    /// A search that stops on an error takes its workers with it; their trials run again (or
    /// are adopted, if they finished) on `--resume`.
    fn drop(&mut self) {
        for w in self.pool.iter_mut().flatten() {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}

/// `slurm`: each [`Executor::submit`] is one `sbatch --parsable --array=0-(n-1)` of a script
/// that maps the array index to its trial; `squeue` says which tasks are still queued or
/// running, and `sacct` (where accounting exists) how the others ended.
pub struct Slurm {
    exe: PathBuf,
    root: PathBuf,
    options: SlurmOptions,
    /// Job id → its trials by array index, and the indices not yet seen to end.
    jobs: HashMap<String, (Vec<u32>, Vec<usize>)>,
    counts: Counts,
    scripts: usize,
}

impl Slurm {
    pub fn new(exe: PathBuf, root: &Path, options: SlurmOptions) -> Result<Slurm> {
        for dir in ["logs", "slurm"] {
            fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        // Tasks run on other nodes, in other directories: every path they get is absolute.
        let root = std::path::absolute(root)?;
        Ok(Slurm {
            exe,
            root,
            options,
            jobs: HashMap::new(),
            counts: Counts::default(),
            scripts: 0,
        })
    }

    fn script(&self, trials: &[u32]) -> String {
        let list: Vec<String> = trials.iter().map(u32::to_string).collect();
        let root = quote(&self.root.display().to_string());
        format!(
            "#!/bin/sh\n# inas trials of one batch: array index i runs the i-th trial listed.\n\
             set -- {}\nshift \"$SLURM_ARRAY_TASK_ID\"\n\
             # libtorch uses the CPUs Slurm gave the task, not every core of the node.\n\
             : \"${{OMP_NUM_THREADS:=${{SLURM_CPUS_PER_TASK:-1}}}}\"\nexport OMP_NUM_THREADS\n\
             exec {} 'trial' '--run' {root} '--trial' \"$1\" >> {root}/logs/trial-\"$1\".log 2>&1\n",
            list.join(" "),
            quote(&self.exe.display().to_string()),
        )
    }
}

/// A word for `sh`, in single quotes.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Executor for Slurm {
    fn submit(&mut self, trials: &[u32]) -> Result<()> {
        if trials.is_empty() {
            return Ok(());
        }
        self.scripts += 1;
        let script = self
            .root
            .join("slurm")
            .join(format!("trials-{}-{}.sh", trials[0], self.scripts));
        fs::write(&script, self.script(trials))
            .with_context(|| format!("writing {}", script.display()))?;
        let out = run(Command::new("sbatch")
            .arg("--parsable")
            .arg(format!("--array=0-{}", trials.len() - 1))
            .arg("--job-name=inas-trial")
            .arg(format!(
                "--output={}/logs/slurm-%A_%a.out",
                self.root.display()
            ))
            .args(self.options.sbatch_args())
            .arg(&script))?;
        // `--parsable` prints "jobid" or "jobid;cluster".
        let id = out.trim().split(';').next().unwrap_or("").to_owned();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("sbatch answered '{}', not a job id", out.trim());
        }
        self.jobs
            .insert(id, (trials.to_vec(), (0..trials.len()).collect()));
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<Ended>> {
        std::thread::sleep(self.options.poll());
        let mut ended = Vec::new();
        let mut counts = Counts::default();
        for (id, (trials, live)) in &mut self.jobs {
            // One line per array task still queued or running: "index state".
            let out = Command::new("squeue")
                .args(["-h", "-r", "-j", id, "-o", "%K %T"])
                .output()
                .context("running squeue")?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                // A job that left the controller's memory has ended, every task of it.
                if !err.contains("Invalid job id") {
                    bail!("squeue -j {id} failed: {}", err.trim());
                }
            }
            let mut listed = Vec::new();
            for line in text.lines() {
                let mut f = line.split_whitespace();
                let (Some(idx), Some(state)) = (f.next(), f.next()) else {
                    continue;
                };
                let Ok(idx) = idx.parse::<usize>() else {
                    continue;
                };
                listed.push(idx);
                if state == "RUNNING" || state == "COMPLETING" {
                    counts.running += 1;
                } else {
                    counts.queued += 1;
                }
            }
            live.retain(|&i| {
                if listed.contains(&i) {
                    return true;
                }
                ended.push(Ended {
                    trial: trials[i],
                    how: how_it_ended(id, i),
                });
                false
            });
        }
        self.jobs.retain(|_, (_, live)| !live.is_empty());
        self.counts = counts;
        ended.sort_by_key(|e| e.trial);
        Ok(ended)
    }

    fn counts(&self) -> Counts {
        self.counts
    }
}

/// `sacct`'s state and exit code of an array task, or a plain word where the cluster keeps no
/// accounting.
fn how_it_ended(job: &str, index: usize) -> String {
    let task = format!("{job}_{index}");
    let out = Command::new("sacct")
        .args(["-n", "-P", "-X", "-j", &task, "-o", "State,ExitCode"])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            match text.lines().next().map(str::trim) {
                Some(line) if !line.is_empty() => format!("slurm task {task}: {line}"),
                _ => format!("slurm task {task} ended"),
            }
        }
        _ => format!("slurm task {task} ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_names_parse() {
        assert_eq!("local".parse(), Ok(ExecutorSpec::Local(1)));
        assert_eq!("local:4".parse(), Ok(ExecutorSpec::Local(4)));
        assert_eq!("SLURM".parse(), Ok(ExecutorSpec::Slurm));
        for bad in ["local:0", "local:x", "local:", "pbs", ""] {
            assert!(bad.parse::<ExecutorSpec>().is_err(), "{bad}");
        }
        assert_eq!(ExecutorSpec::Local(3).to_string(), "local:3");
    }

    #[test]
    fn sbatch_gets_the_options_and_the_script_maps_indices_to_trials() {
        let o = SlurmOptions {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            time: Some("1:00:00".into()),
            gres: Some("gpu:1".into()),
            cpus_per_task: Some(4),
            extra: vec!["--qos=short".into()],
            poll_s: None,
        };
        assert_eq!(
            o.sbatch_args(),
            [
                "--partition=gpu",
                "--account=lab",
                "--time=1:00:00",
                "--gres=gpu:1",
                "--cpus-per-task=4",
                "--qos=short"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let s = Slurm::new("/opt/inas".into(), dir.path(), o).unwrap();
        let text = s.script(&[7, 9, 12]);
        assert!(text.contains("set -- 7 9 12\n"), "{text}");
        assert!(
            text.contains("exec '/opt/inas' 'trial' '--run' '"),
            "{text}"
        );
        // Run the script's mapping with a stand-in for inas: index 1 is trial 9.
        let fake = text.replace("exec '/opt/inas'", "echo");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&fake)
            .env("SLURM_ARRAY_TASK_ID", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        let log = fs::read_to_string(log_file(&s.root, 9)).unwrap();
        assert!(log.trim().ends_with("--trial 9"), "{log}");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
