//! Every command writes its output through [`outln!`] and [`out!`] (stdout) and its messages
//! through [`errln!`] (stderr), never through `println!`, which panics when the stream fails.
//!
//! A reader that goes away (`inas plan show P | head -1`) is not an error of ours: the rest of
//! the output is dropped and the command finishes with its own exit code, as if it had been
//! read. Any other failure to write the output (a full disk, `> /dev/full`) is an error the
//! command returns, since its result is lost. Messages on stderr have nowhere else to go, so
//! failing to write them is ignored.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_INFEASIBLE: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// Set once stdout's reader is gone: later output is dropped without trying.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// The output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output to stdout: {0}")]
pub struct OutputError(io::Error);

fn outcome(r: io::Result<()>) -> Result<(), OutputError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(OutputError(e)),
    }
}

/// Writes to stdout; see the module's documentation for what happens when that fails.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    outcome(io::stdout().lock().write_fmt(args))
}

/// Flushes stdout: the last line of a command's output may still be buffered.
pub fn flush() -> Result<(), OutputError> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    outcome(io::stdout().lock().flush())
}

/// Writes a message to stderr, ignoring failure.
pub fn message(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `print!` that returns `Result<(), OutputError>` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

/// `println!` that returns `Result<(), OutputError>` instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that cannot panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::message(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
