//! Finding one of the crate's errors in an error chain, however it was wrapped.
//!
//! The crate's typed errors reach a user (or the crate itself) in three shapes: directly,
//! as the source of another error, or inside an [`io::Error`] (a stream's read or write
//! fails with one that carries them). Every `find` of a public error type is this function,
//! so all of them accept the same inputs.

use std::error::Error;
use std::io;

/// The `T` in `error`, its sources, or an [`io::Error`] among them.
pub(crate) fn find<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        // An `io::Error`'s `source` skips the error it wraps; look inside it.
        let wrapped = error.downcast_ref::<io::Error>().and_then(|e| e.get_ref());
        if let Some(found) = wrapped.and_then(|inner| inner.downcast_ref::<T>()) {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Target(u8);

    impl fmt::Display for Target {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "target {}", self.0)
        }
    }

    impl Error for Target {}

    /// A handler's own error, with the one it passed on as its source.
    #[derive(Debug)]
    struct Wrapper(io::Error);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the handler failed")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn finds_the_error_itself_inside_an_io_error_and_behind_a_source() {
        let direct = Target(1);
        assert_eq!(find::<Target>(&direct), Some(&Target(1)));
        let in_io = io::Error::new(io::ErrorKind::TimedOut, Target(2));
        assert_eq!(find::<Target>(&in_io), Some(&Target(2)));
        let wrapped = Wrapper(io::Error::new(io::ErrorKind::TimedOut, Target(3)));
        assert_eq!(find::<Target>(&wrapped), Some(&Target(3)));
        let boxed: Box<dyn Error + Send + Sync> = Box::new(wrapped);
        assert_eq!(find::<Target>(&*boxed), Some(&Target(3)));
    }

    #[test]
    fn finds_nothing_in_an_unrelated_chain() {
        let other = Wrapper(io::Error::other("something else"));
        assert_eq!(find::<Target>(&other), None);
        assert_eq!(find::<Target>(&io::Error::from(io::ErrorKind::TimedOut)), None);
    }
}
