//! Children die with their parent: a cell process whose parent `qbench compare` was killed
//! (SIGKILL leaves no chance to clean up) would otherwise run on, orphaned, measuring for
//! nobody and disturbing whatever runs next. A thread polls the parent's pid; when the process
//! has been re-parented (to init or a subreaper), the child stops.

use std::time::Duration;

/// How often the parent is checked: a dead parent's child stops within this much time.
pub const POLL: Duration = Duration::from_millis(200);

/// Starts the watch (Unix); elsewhere it does nothing.
pub fn exit_when_orphaned() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        std::thread::spawn(move || loop {
            std::thread::sleep(POLL);
            if std::os::unix::process::parent_id() != parent {
                // stderr was a pipe to the dead parent: writing may fail (EPIPE), and
                // `eprintln!` would panic this thread instead of stopping the process.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "qbench: parent process {parent} is gone; this cell stops"
                );
                std::process::exit(3);
            }
        });
    }
}
