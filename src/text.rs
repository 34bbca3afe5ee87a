//! Short text built on the stack. The request path formats a few small values for every request
//! (DaxPay's wall clock, codes, error answers); a heap allocation for each would cost more than
//! the formatting itself.

use std::fmt;
use std::io;

/// Text (or bytes) of at most `N` bytes in a fixed buffer. Writing more fails and leaves the
/// buffer as it was before that write, so a `fmt` write keeps the text valid UTF-8.
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) const fn new() -> Self {
        StackText {
            buf: [0u8; N],
            len: 0,
        }
    }

    /// `args` formatted on the stack, or on the heap when longer than `N` bytes.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Result<Self, String> {
        let mut out = Self::new();
        match fmt::Write::write_fmt(&mut out, args) {
            Ok(()) => Ok(out),
            Err(_) => Err(fmt::format(args)),
        }
    }

    /// Appends `bytes` whole, or nothing.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text ("" if bytes that are not UTF-8 were written through `io::Write`).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

impl<const N: usize> io::Write for StackText<N> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.push(buf) {
            Ok(buf.len())
        } else {
            Err(io::ErrorKind::WriteZero.into())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Text that is on the stack when it fits in 32 bytes, else on the heap.
pub(crate) enum ShortText {
    Stack(StackText<32>),
    Heap(String),
}

impl ShortText {
    pub(crate) fn format(args: fmt::Arguments<'_>) -> ShortText {
        match StackText::format(args) {
            Ok(t) => ShortText::Stack(t),
            Err(s) => ShortText::Heap(s),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            ShortText::Stack(t) => t.as_str(),
            ShortText::Heap(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn writes_that_do_not_fit_leave_the_text_whole() {
        let mut t = StackText::<4>::new();
        assert!(t.write_str("ab").is_ok());
        assert!(t.write_str("字").is_err(), "3 bytes do not fit in 2");
        assert_eq!(t.as_str(), "ab");
        assert!(t.write_str("cd").is_ok());
        assert_eq!(t.as_str(), "abcd");
        assert!(io::Write::write(&mut t, b"e").is_err());
    }

    #[test]
    fn long_text_goes_to_the_heap() {
        assert_eq!(ShortText::format(format_args!("{}", 42)).as_str(), "42");
        let long = "x".repeat(40);
        let t = ShortText::format(format_args!("{long}"));
        assert!(matches!(t, ShortText::Heap(_)));
        assert_eq!(t.as_str(), long);
    }
}
