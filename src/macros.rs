//! Macros the crate's modules share.

/// Implements `AsyncWrite` for a stream wrapper made with `pin_project` by passing every
/// call through to its pinned field `$field`: for wrappers that watch only the reads.
macro_rules! forward_async_write {
    ($wrapper:ident, $field:ident) => {
        impl<S: tokio::io::AsyncWrite> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.project().$field.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.project().$field.poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$field.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.project().$field.poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.project().$field.poll_shutdown(cx)
            }
        }
    };
}

/// Defines a named future around a boxed, `Send` future of `$output`: a boxed `async` block
/// behind a type that says what it waits for.
macro_rules! wait_future {
    ($(#[$doc:meta])* $name:ident $(<$a:ident>)?, $output:ty) => {
        $(#[$doc])*
        pub struct $name$(<$a>)?(
            std::pin::Pin<Box<dyn std::future::Future<Output = $output> + Send>>,
        );

        impl$(<$a>)? $name$(<$a>)? {
            pub(crate) fn new(
                future: impl std::future::Future<Output = $output> + Send + 'static,
            ) -> Self {
                $name(Box::pin(future))
            }
        }

        impl$(<$a>)? std::future::Future for $name$(<$a>)? {
            type Output = $output;

            fn poll(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Self::Output> {
                self.0.as_mut().poll(cx)
            }
        }

        impl$(<$a>)? std::fmt::Debug for $name$(<$a>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}
