//! A log writer that keeps every line, for tests that read what would have been logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Every byte written to it, shared by its clones (hand a clone to the subscriber).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Keeps `line` and a newline (an access-line writer).
    pub fn push_line(&self, line: &str) {
        let mut bytes = self.0.lock().unwrap();
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
